"""The optional tables applications and application_steps (业扩报装): every bad input is named
with its file, column and rule, and nothing is loaded."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from retention.data.checks import validate_tables
from retention.data.contract import (
    MAX_DOCUMENT_REQUESTS,
    PERSONAL_COLUMNS,
    STEP_CODES,
    VALUE_LABELS_ZH,
    VOLTAGES_KV,
    Rule,
)
from retention.data.loading import load_dataset, validate_dataset
from retention.data.report import Problem, ValidationReport

from .conftest import Tables, places, the_problem


def _invalid(report: ValidationReport) -> Problem:
    """The one problem of a dataset that did not load."""
    assert report.dataset is None
    return the_problem(report)


# --- valid -----------------------------------------------------------------------------------


def test_valid_applications_and_steps_load_typed(
    tables: Tables, write: Callable[..., Path], fmt: str
) -> None:
    dataset = load_dataset(write(tables, fmt))

    applications, steps = dataset.applications, dataset.application_steps
    assert applications is not None and steps is not None
    assert list(applications["application_id"]) == ["A1", "A2"]
    assert pd.isna(applications["customer_id"].iloc[1])  # a new applicant: no account yet
    assert str(applications["accepted_at"].dtype) == "datetime64[us]"
    assert str(applications["requested_capacity_kva"].dtype) == "float64"
    assert str(steps["document_requests"].dtype) == "Int64"
    assert list(steps["document_requests"]) == [0, 1, 0, 2]
    assert pd.isna(steps["finished_at"].iloc[3])  # still running
    assert dataset.table("application_steps") is steps


def test_old_datasets_without_the_tables_still_load(
    tables: Tables, write: Callable[..., Path]
) -> None:
    del tables["applications"], tables["application_steps"]

    dataset = load_dataset(write(tables, "csv"))

    assert dataset.applications is None
    assert dataset.application_steps is None
    assert "applications" not in dataset.tables()


def test_a_gbk_csv_of_applications_loads(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "csv")
    path = folder / "applications.csv"
    path.write_bytes(path.read_text(encoding="utf-8").encode("gbk"))

    report = validate_dataset(folder)

    assert report.ok, report.to_text()
    assert {f.table: f.encoding for f in report.files}["applications"] in ("gbk", "gb18030")
    assert report.dataset is not None and report.dataset.applications is not None
    assert list(report.dataset.applications["region"]) == ["杭州供电公司", "宁波供电公司"]


def test_the_step_codes_are_in_process_order_with_chinese_labels() -> None:
    assert STEP_CODES[0] == "site_survey_contact"
    assert STEP_CODES[-1] == "energising"
    assert VALUE_LABELS_ZH["supply_plan_reply"] == "供电方案答复"
    assert VALUE_LABELS_ZH["open"] == "未完成"  # work orders' label stays
    assert "applicant_name" in PERSONAL_COLUMNS


def test_only_keeps_the_accounts_applications_and_their_steps(
    tables: Tables, write: Callable[..., Path]
) -> None:
    dataset = load_dataset(write(tables, "parquet"))

    mine = dataset.only(["C001"])
    others = dataset.only(["C002"])

    assert mine.applications is not None and mine.application_steps is not None
    assert list(mine.applications["application_id"]) == ["A1"]
    assert set(mine.application_steps["application_id"]) == {"A1"}
    assert len(mine.application_steps) == 3
    assert others.application_steps is not None and others.application_steps.empty


# --- bad input, one at a time ----------------------------------------------------------------


def test_a_step_finishing_before_it_starts(tables: Tables, write: Callable[..., Path]) -> None:
    tables["application_steps"].loc[1, "finished_at"] = pd.Timestamp("2024-01-09 09:00:00")

    problem = _invalid(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule) == (
        "application_steps.csv",
        "finished_at",
        Rule.not_before("started_at", "finished_at", strict=False),
    )
    assert problem.count == 1
    assert places(problem) == [3]


def test_an_unknown_step_code(tables: Tables, write: Callable[..., Path], fmt: str) -> None:
    tables["application_steps"].loc[2, "step_code"] = "meter_reading"

    problem = _invalid(validate_dataset(write(tables, fmt)))

    assert (problem.file, problem.column, problem.rule) == (
        f"application_steps.{fmt}",
        "step_code",
        Rule.one_of(STEP_CODES),
    )
    assert problem.examples[0]["value"] == "meter_reading"


def test_an_application_of_an_unknown_unit(tables: Tables, write: Callable[..., Path]) -> None:
    tables["applications"].loc[1, "region"] = "火星供电公司"

    problem = _invalid(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule) == (
        "applications.csv",
        "region",
        Rule.UNKNOWN_UNIT,
    )
    assert problem.examples == [{"line": 3, "value": "火星供电公司"}]


def test_an_unknown_voltage(tables: Tables, write: Callable[..., Path]) -> None:
    tables["applications"].loc[0, "voltage_kv"] = 15.0

    problem = _invalid(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule) == (
        "applications.csv",
        "voltage_kv",
        Rule.one_of(VOLTAGES_KV),
    )
    assert problem.examples == [{"line": 2, "value": 15.0}]


def test_a_step_of_an_unknown_application(
    tables: Tables, write: Callable[..., Path], fmt: str
) -> None:
    tables["application_steps"].loc[3, "application_id"] = "A9"

    problem = _invalid(validate_dataset(write(tables, fmt)))

    assert (problem.file, problem.column, problem.rule) == (
        f"application_steps.{fmt}",
        "application_id",
        Rule.UNKNOWN_APPLICATION,
    )
    assert problem.count == 1
    assert problem.examples[0]["value"] == "A9"


def test_steps_without_their_applications(tables: Tables, write: Callable[..., Path]) -> None:
    del tables["applications"]

    problem = _invalid(validate_dataset(write(tables, "csv")))

    assert (problem.column, problem.rule, problem.count) == (
        "application_id",
        Rule.UNKNOWN_APPLICATION,
        4,
    )


def test_a_step_started_before_its_application_was_accepted(
    tables: Tables, write: Callable[..., Path]
) -> None:
    tables["application_steps"].loc[3, "started_at"] = pd.Timestamp("2024-02-19 16:00:00")

    problem = _invalid(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule) == (
        "application_steps.csv",
        "started_at",
        Rule.STEP_BEFORE_ACCEPTANCE,
    )
    assert problem.examples == [
        {
            "line": 5,
            "application_id": "A2",
            "step_code": "site_survey_contact",
            "started_at": "2024-02-19 16:00:00",
            "accepted_at": "2024-02-20 10:30:00",
        }
    ]


def test_a_capacity_increase_without_customer(tables: Tables, write: Callable[..., Path]) -> None:
    tables["applications"].loc[0, "customer_id"] = None

    problem = _invalid(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule) == (
        "applications.csv",
        "customer_id",
        Rule.INCREASE_WITHOUT_CUSTOMER,
    )
    assert places(problem) == [2]


def test_an_application_of_an_unknown_customer(tables: Tables, write: Callable[..., Path]) -> None:
    tables["applications"].loc[0, "customer_id"] = "C999"

    problem = _invalid(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule) == (
        "applications.csv",
        "customer_id",
        Rule.UNKNOWN_CUSTOMER,
    )


def test_closed_at_must_match_the_status(tables: Tables, write: Callable[..., Path]) -> None:
    applications = tables["applications"]
    applications.loc[0, "closed_at"] = pd.NaT  # connected, but when?
    applications.loc[1, "closed_at"] = pd.Timestamp("2024-03-01 09:00:00")  # open, yet closed

    problem = _invalid(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule) == (
        "applications.csv",
        "closed_at",
        Rule.CLOSED_AT_STATUS,
    )
    assert problem.count == 2
    assert problem.examples[1] == {
        "line": 3,
        "application_id": "A2",
        "status": "open",
        "closed_at": "2024-03-01 09:00:00",
    }


def test_a_withdrawn_application_with_its_closing_time_is_valid(
    tables: Tables, write: Callable[..., Path]
) -> None:
    applications = tables["applications"]
    applications.loc[1, "status"] = "withdrawn"
    applications.loc[1, "closed_at"] = pd.Timestamp("2024-03-01 09:00:00")

    report = validate_dataset(write(tables, "csv"))

    assert report.ok, report.to_text()


@pytest.mark.parametrize("count", [-1, MAX_DOCUMENT_REQUESTS + 1])
def test_document_requests_are_bounded(
    tables: Tables, write: Callable[..., Path], count: int
) -> None:
    tables["application_steps"].loc[0, "document_requests"] = count

    problem = _invalid(validate_dataset(write(tables, "csv")))

    assert (problem.column, problem.rule) == ("document_requests", Rule.DOCUMENT_REQUESTS)
    assert problem.examples == [{"line": 2, "value": count}]


def test_applicant_names_are_masked_in_examples() -> None:
    applications = pd.DataFrame({"application_id": ["A1"], "applicant_name": [3.5]})

    report = validate_tables({"applications": applications})

    problem = next(p for p in report.problems if p.column == "applicant_name")
    assert problem.rule == Rule.NOT_TEXT
    assert problem.examples == [{"row": 0, "value": "***"}]


def test_applicant_names_stay_out_of_a_report(tables: Tables, write: Callable[..., Path]) -> None:
    tables["applications"]["region"] = "火星供电公司"
    tables["applications"]["application_type"] = "transfer"

    report = validate_dataset(write(tables, "csv"))

    shown = json.dumps(report.to_dict(), ensure_ascii=False) + report.to_text()
    assert not report.ok
    for name in tables["applications"]["applicant_name"]:
        assert name not in shown
