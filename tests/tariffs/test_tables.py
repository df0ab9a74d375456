"""The tariff tables load into frozen models, and a bad table is refused naming the file, the
key and the rule, Chinese first with English beside."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from retention.settings import ConfigFileError, packaged_file
from retention.tariffs.tables import TariffTables, load_tariffs

from .conftest import write_tables


def _refusal(raw: dict[str, Any], tmp_path: Path) -> str:
    path = write_tables(raw, tmp_path, "bad-tariffs.yaml")
    with pytest.raises(ConfigFileError) as caught:
        load_tariffs(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: "), message  # the file first
    return message


def _chinese_first(message: str, english: str) -> None:
    rule = message[: message.index(english)]
    assert re.search(r"[\u4e00-\u9fff]", rule), message


def test_the_packaged_tables_are_an_example_province() -> None:
    tables = load_tariffs(packaged_file("serving/tariffs.yaml"))

    assert "示例" in tables.label.zh and "example" in tables.label.en.lower()
    company = tables.companies[tables.default_company]
    assert [e.valid_from for e in company.energy] == sorted(e.valid_from for e in company.energy)
    assert {p.standard for p in company.power_factor[0].standards} == {0.90, 0.85, 0.80}
    with pytest.raises(ValidationError):  # frozen
        company.energy[0].prices["other"][0].flat = 0.0  # type: ignore[misc]


def test_two_entries_from_the_same_month_are_refused(
    raw_tables: dict[str, Any], tmp_path: Path
) -> None:
    energy = raw_tables["companies"]["test"]["energy"]
    energy.append(dict(energy[0]))

    message = _refusal(raw_tables, tmp_path)

    assert "companies.test: energy: 同一生效月份有两张表" in message
    assert "two entries valid from the same month 2024-01" in message
    _chinese_first(message, "two entries")


def test_a_missing_category_is_named_with_its_entry(
    raw_tables: dict[str, Any], tmp_path: Path
) -> None:
    del raw_tables["companies"]["test"]["energy"][0]["prices"]["other"]

    message = _refusal(raw_tables, tmp_path)

    assert "companies.test.energy[2024-01]: 缺少电价类别 / missing tariff categories ['other']" in (
        message
    )


def test_a_missing_period_is_named_with_its_category_and_band(
    raw_tables: dict[str, Any], tmp_path: Path
) -> None:
    del raw_tables["companies"]["test"]["energy"][0]["prices"]["large_industry"][1]["valley"]

    message = _refusal(raw_tables, tmp_path)

    assert (
        "companies.test.energy[2024-01].prices.large_industry[from 35 kV].valley: "
        "缺少必填项 / required field missing"
    ) in message


@pytest.mark.parametrize(
    ("where", "key"),
    [
        (("energy", 0, "prices", "general_commercial", 0, "flat"),
         "energy[2024-01].prices.general_commercial[from 0 kV].flat"),
        (("basic_charge", 0, "demand_cny_per_kw_month"),
         "basic_charge[2024-01].demand_cny_per_kw_month"),
        (("power_factor", 0, "standards", 1, "surcharges", 0, "percent_per_0_01"),
         "power_factor[2000-01].standards[standard 0.85].surcharges[0].percent_per_0_01"),
    ],
)  # fmt: skip
def test_a_negative_price_is_refused_with_its_key(
    raw_tables: dict[str, Any], tmp_path: Path, where: tuple[Any, ...], key: str
) -> None:
    node = raw_tables["companies"]["test"]
    for step in where[:-1]:
        node = node[step]
    node[where[-1]] = -0.1

    message = _refusal(raw_tables, tmp_path)

    assert f"companies.test.{key}: 不能为负 / must not be negative" in message


def test_other_mistakes_are_named(raw_tables: dict[str, Any], tmp_path: Path) -> None:
    company = raw_tables["companies"]["test"]
    company["energy"][0]["valid_from"] = "2024-13"
    company["basic_charge"][0]["capacity_per_kva"] = 20.0  # a typo of the field's name
    company["power_factor"][0]["applies"][0]["standard"] = 0.95
    raw_tables["default_company"] = "test"

    message = _refusal(raw_tables, tmp_path)

    assert "energy[2024-01]" not in message  # an invalid month names the position
    assert "companies.test.energy[2024-13].valid_from: 月份须为 YYYY-MM" in message
    assert "basic_charge[2024-01].capacity_per_kva: 未知字段" in message
    assert "standard 0.95 has no table" in message


def test_bands_must_move_away_from_the_standard(raw_tables: dict[str, Any], tmp_path: Path) -> None:
    standard = raw_tables["companies"]["test"]["power_factor"][0]["standards"][0]
    standard["surcharges"] = [{"down_to": 0.65, "percent_per_0_01": 1.0},
                              {"down_to": 0.70, "percent_per_0_01": 0.5}]  # fmt: skip

    message = _refusal(raw_tables, tmp_path)

    assert "standards[standard 0.9]: surcharges: down_to 须低于标准值并逐档递减" in message


def test_a_default_company_that_is_no_block_is_refused(
    raw_tables: dict[str, Any], tmp_path: Path
) -> None:
    raw_tables["default_company"] = "zhejiang"

    message = _refusal(raw_tables, tmp_path)

    assert "'zhejiang' 不是 companies 中的一块 / is not a block of companies (test)" in message


def test_regions_choose_the_block(raw_tables: dict[str, Any], tmp_path: Path) -> None:
    other = {**raw_tables["companies"]["test"], "regions": ["宁波供电公司"]}
    raw_tables["companies"]["ningbo"] = other

    tables: TariffTables = load_tariffs(write_tables(raw_tables, tmp_path))

    assert tables.company_of("宁波供电公司") == "ningbo"
    assert tables.company_of("杭州供电公司") == "test"
