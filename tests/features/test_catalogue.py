"""The feature catalogue loads, covers the groups SPEC.md names, and renders reasons."""

from __future__ import annotations

from pathlib import Path

import pytest

from retention.features.catalogue import CatalogueError, format_value, load_catalogue


def test_catalogue_covers_every_group_with_both_languages() -> None:
    catalogue = load_catalogue()
    assert set(catalogue.groups) == {
        "consumption",
        "price_bill",
        "payment",
        "service",
        "work_orders",
        "reliability",
        "contract_market",
        "profile",
    }
    for group in catalogue.groups:
        assert catalogue.names(group), group
    for feature in catalogue.features:
        assert feature.zh and feature.en and feature.reason_zh and feature.reason_en


def test_reasons_phrase_the_accounts_own_value() -> None:
    feature = load_catalogue().by_name["kwh_3m_yoy"]
    assert feature.reason(-0.42, "zh") == "近 3 个月用电量同比下降 42%"
    assert feature.reason(-0.42, "en") == "consumption down 42% year on year over the last 3 months"
    complaints = load_catalogue().by_name["complaints_3m"]
    assert complaints.reason(3.0, "zh") == "近 3 个月投诉 3 次"


@pytest.mark.parametrize(
    ("value", "unit", "zh", "en"),
    [
        (0.1, "change", "上升 10%", "up 10%"),
        (0.001, "change", "基本持平", "flat"),
        (123456.0, "cny", "12.3 万元", "CNY 123,456"),
        ("retailer", "category", "售电公司代理", "retail company"),
        (float("nan"), "share", "无数据", "no data"),
        (0.0, "flag", "否", "no"),
    ],
)
def test_values_are_written_in_the_users_units(value: object, unit: str, zh: str, en: str) -> None:
    assert format_value(value, unit, "zh") == zh
    assert format_value(value, unit, "en") == en


def test_a_broken_catalogue_fails_loudly_naming_the_field(tmp_path: Path) -> None:
    path = tmp_path / "catalogue.yaml"
    path.write_text(
        "groups: {consumption: {zh: 用电量, en: consumption}}\n"
        "order_time_limits_days: {}\n"
        "features:\n"
        "  - {name: kwh, group: consumption, unit: kwh, direction: 2, zh: a, en: b,\n"
        "     reason_zh: x, reason_en: y}\n",
        encoding="utf-8",
    )
    with pytest.raises(CatalogueError, match=r"catalogue.yaml.*features\.0\.direction"):
        load_catalogue(path)
    path.write_text("groups: [\n", encoding="utf-8")
    with pytest.raises(CatalogueError, match="not valid YAML"):
        load_catalogue(path)
    with pytest.raises(CatalogueError, match="not found"):
        load_catalogue(tmp_path / "missing.yaml")


def test_gaps_against_the_industry_read_as_below_or_above() -> None:
    feature = load_catalogue().by_name["kwh_3m_yoy_vs_industry"]
    assert feature.peer_of == "kwh_3m_yoy"
    assert feature.reason(-0.37, "zh") == "近 3 个月用电量同比变化比同行业低 37 个百分点"
    assert (
        feature.reason(-0.37, "en")
        == "consumption over the last 3 months 37 points below its industry"
    )
