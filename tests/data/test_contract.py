"""Data tests: the contract catches bad data and names file, column, rule, count and lines."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pandera.pandas as pa
import pytest

from retention.data import contract
from retention.data.checks import validate_tables
from retention.data.contract import (
    ACTION_CODES,
    OPTIONAL_TABLES,
    REQUIRED_TABLES,
    TABLE_NAMES,
    Rule,
    columns_of,
    schema_of,
)
from retention.data.loading import load_dataset, validate_dataset

from .conftest import Tables, as_text, places, problems_named, the_problem

# --- the contract itself ---------------------------------------------------------------------


def test_tables_and_their_columns() -> None:
    assert TABLE_NAMES == (
        "customers",
        "monthly_usage",
        "monthly_billing",
        "service_tickets",
        "work_orders",
        "outages",
        "interventions",
        "applications",
        "application_steps",
    )
    assert {"customers", "monthly_usage", "monthly_billing"} == REQUIRED_TABLES
    assert set(TABLE_NAMES) == REQUIRED_TABLES | OPTIONAL_TABLES
    assert columns_of("monthly_billing") == [
        "customer_id",
        "month",
        "amount_due_cny",
        "amount_paid_cny",
        "due_date",
        "paid_date",
    ]
    with pytest.raises(KeyError, match="customers"):
        columns_of("customer")


def test_enums_follow_the_contract_and_the_playbook() -> None:
    assert len(ACTION_CODES) == 9
    assert "market_retention_offer" in ACTION_CODES
    assert contract.VOLTAGES_KV == (0.4, 10.0, 20.0, 35.0, 66.0, 110.0, 220.0)
    assert len(contract.ORDER_TYPES) == 8
    assert contract.CHANNELS[0] == "hotline_95598"
    for values in (contract.TARIFF_CATEGORIES, contract.MARKET_MODES, contract.OUTCOMES):
        assert all(v in contract.VALUE_LABELS_ZH for v in values)


def test_the_schema_describes_the_loaded_frames(tables: Tables, write: Callable[..., Path]) -> None:
    dataset = load_dataset(write(tables, "parquet"))

    for name, frame in dataset.tables().items():
        schema_of(name).validate(frame, lazy=True)

    bad = dataset.monthly_usage.assign(kwh_total=-1.0)
    with pytest.raises(pa.errors.SchemaErrors, match="must be >= 0"):
        schema_of("monthly_usage").validate(bad, lazy=True)


# --- faults, one at a time -------------------------------------------------------------------


def test_a_valid_dataset_passes(tables: Tables, write: Callable[..., Path], fmt: str) -> None:
    report = validate_dataset(write(tables, fmt))

    assert report.ok, report.to_text()
    assert report.problems == []
    assert report.warnings == []
    assert report.dataset is not None
    assert [f.rows for f in report.files] == [4, 12, 12, 3, 2, 2, 2, 2, 4]


def test_missing_required_table(tables: Tables, write: Callable[..., Path], fmt: str) -> None:
    del tables["monthly_billing"]

    report = validate_dataset(write(tables, fmt))

    problem = the_problem(report)
    assert problem.rule == Rule.MISSING_TABLE
    assert "monthly_billing" in problem.file
    assert report.dataset is None


def test_missing_folder(tmp_path: Path) -> None:
    problem = the_problem(validate_dataset(tmp_path / "nowhere"))

    assert problem.rule == Rule.FOLDER_NOT_FOUND


def test_missing_column(tables: Tables, write: Callable[..., Path], fmt: str) -> None:
    tables["monthly_usage"] = tables["monthly_usage"].drop(columns=["kwh_total"])

    problem = the_problem(validate_dataset(write(tables, fmt)))

    assert (problem.file, problem.column, problem.rule) == (
        f"monthly_usage.{fmt}",
        "kwh_total",
        Rule.MISSING_COLUMN,
    )


def test_an_optional_column_may_be_left_out_or_empty_but_not_wrong(
    tables: Tables, write: Callable[..., Path], fmt: str
) -> None:
    # Given customers without basic_charge_mode, then with it partly empty, then with a value
    # that is not a mode,
    without = {**tables, "customers": tables["customers"].drop(columns="basic_charge_mode")}
    left_out = load_dataset(write(without, fmt))
    tables["customers"]["basic_charge_mode"] = ["demand", None, "capacity", None]
    partly_empty = load_dataset(write(tables, fmt))
    tables["customers"]["basic_charge_mode"] = ["demand", "by_demand", None, None]
    wrong = validate_dataset(write(tables, fmt))

    # then the first two are valid (a left-out column loads empty), and the wrong value is
    # named with the modes.
    assert left_out.customers["basic_charge_mode"].isna().all()
    assert list(partly_empty.customers["basic_charge_mode"].fillna("-")) == [
        "demand", "-", "capacity", "-"
    ]  # fmt: skip
    problem = the_problem(wrong)
    assert (problem.column, problem.rule, problem.count) == (
        "basic_charge_mode",
        Rule.one_of(contract.BASIC_CHARGE_MODES),
        1,
    )


def test_text_in_a_number_column(tables: Tables, write: Callable[..., Path]) -> None:
    usage = as_text(tables["monthly_usage"], "kwh_total")
    usage.loc[2, "kwh_total"] = "abc"
    usage.loc[5, "kwh_total"] = "12.5万"
    usage.loc[7, "kwh_total"] = "1,234.5"  # thousands separators are fine
    tables["monthly_usage"] = usage.assign(kwh_peak=np.nan, kwh_flat=np.nan, kwh_valley=np.nan)

    report = validate_dataset(write(tables, "csv"))

    problem = the_problem(report)
    assert (problem.file, problem.column, problem.rule) == (
        "monthly_usage.csv",
        "kwh_total",
        Rule.NOT_A_NUMBER,
    )
    assert problem.count == 2
    assert problem.examples == [{"line": 4, "value": "abc"}, {"line": 7, "value": "12.5万"}]


def test_text_in_a_number_column_of_a_parquet_file(
    tables: Tables, write: Callable[..., Path]
) -> None:
    customers = as_text(tables["customers"], "contract_capacity_kva")
    customers.loc[3, "contract_capacity_kva"] = "n/a kVA"
    tables["customers"] = customers

    problem = the_problem(validate_dataset(write(tables, "parquet")))

    assert (problem.file, problem.column, problem.rule) == (
        "customers.parquet",
        "contract_capacity_kva",
        Rule.NOT_A_NUMBER,
    )
    assert problem.examples == [{"row": 3, "value": "n/a kVA"}]


def test_negative_energy(tables: Tables, write: Callable[..., Path], fmt: str) -> None:
    usage = tables["monthly_usage"]
    usage.loc[[9, 11], "kwh_total"] = [-40.0, -1.0]  # C004: no peak/flat/valley to compare
    usage.loc[0, "max_demand_kw"] = -3.0

    report = validate_dataset(write(tables, fmt))

    assert not report.ok
    total, demand = (
        problems_named(report, Rule.NON_NEGATIVE, c)[0] for c in ("kwh_total", "max_demand_kw")
    )
    assert len(report.problems) == 2
    key = "line" if fmt == "csv" else "row"
    offset = 2 if fmt == "csv" else 0
    assert (total.count, places(total, key)) == (2, [9 + offset, 11 + offset])
    assert [e["value"] for e in total.examples] == [-40.0, -1.0]
    assert (demand.count, places(demand, key)) == (1, [offset])


def test_duplicate_keys(tables: Tables, write: Callable[..., Path]) -> None:
    usage = tables["monthly_usage"]
    tables["monthly_usage"] = pd.concat([usage, usage.iloc[[4]]], ignore_index=True)
    customers = tables["customers"]
    tables["customers"] = pd.concat([customers, customers.iloc[[0]]], ignore_index=True)

    report = validate_dataset(write(tables, "csv"))

    assert len(report.problems) == 2, report.to_text()
    accounts, months = report.problems
    assert (accounts.file, accounts.column) == ("customers.csv", "customer_id")
    assert accounts.rule == Rule.duplicate_key(("customer_id",))
    assert (accounts.count, places(accounts)) == (2, [2, 6])
    assert (months.file, months.column) == ("monthly_usage.csv", "customer_id, month")
    assert (months.count, places(months)) == (2, [6, 14])
    assert months.examples[0] == {"line": 6, "customer_id": "C002", "month": "2024-02"}


def test_rows_with_an_empty_key_part_are_reported_as_empty_not_as_duplicates(
    tables: Tables, write: Callable[..., Path]
) -> None:
    tables["monthly_usage"].loc[[0, 1], "month"] = pd.NaT

    problem = the_problem(validate_dataset(write(tables, "csv")))

    assert (problem.column, problem.rule, places(problem)) == ("month", Rule.NOT_NULL, [2, 3])


def test_a_month_that_is_not_a_month(tables: Tables, write: Callable[..., Path]) -> None:
    billing = as_text(tables["monthly_billing"], "month")
    billing.loc[0, "month"] = "2024-13"
    billing.loc[4, "month"] = "March"
    billing.loc[8, "month"] = "2024-03-15"
    billing.loc[10, "month"] = "2024-02-01"  # the first day is a month
    tables["monthly_billing"] = billing

    problem = the_problem(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule) == (
        "monthly_billing.csv",
        "month",
        Rule.NOT_A_MONTH,
    )
    assert problem.count == 3
    assert places(problem) == [2, 6, 10]
    assert [e["value"] for e in problem.examples] == ["2024-13", "March", "2024-03-15"]


def test_a_date_that_is_not_a_date(tables: Tables, write: Callable[..., Path]) -> None:
    customers = as_text(tables["customers"], "open_date")
    customers.loc[1, "open_date"] = "20/11/2018"
    tables["customers"] = customers

    problem = the_problem(validate_dataset(write(tables, "csv")))

    assert (problem.column, problem.rule, places(problem)) == ("open_date", Rule.NOT_A_DATE, [3])


def test_a_date_out_of_any_plausible_range(tables: Tables, write: Callable[..., Path]) -> None:
    # A typo such as year 0070 parses as a date; the contract still refuses it.
    billing = as_text(tables["monthly_billing"], "due_date")
    billing.loc[2, "due_date"] = "0070-01-15"
    tables["monthly_billing"] = billing

    problem = the_problem(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule, places(problem)) == (
        "monthly_billing.csv",
        "due_date",
        Rule.PLAUSIBLE_TIME,
        [4],
    )


def test_unknown_customer_ids(tables: Tables, write: Callable[..., Path], fmt: str) -> None:
    tables["service_tickets"].loc[1, "customer_id"] = "C999"
    tables["outages"].loc[0, "customer_id"] = "c001"
    tables["monthly_billing"].loc[[3, 4], "customer_id"] = "X"

    report = validate_dataset(write(tables, fmt))

    assert {p.rule for p in report.problems} == {Rule.UNKNOWN_CUSTOMER}
    found = {
        p.file.split(".")[0]: (p.count, [e["value"] for e in p.examples]) for p in report.problems
    }
    assert found == {
        "monthly_billing": (2, ["X", "X"]),
        "service_tickets": (1, ["C999"]),
        "outages": (1, ["c001"]),
    }


def test_end_before_start(tables: Tables, write: Callable[..., Path]) -> None:
    tables["service_tickets"].loc[2, "closed_at"] = pd.Timestamp("2024-03-01 08:00:00")
    tables["outages"].loc[1, "end_at"] = tables["outages"].loc[1, "start_at"]  # must be after
    tables["work_orders"].loc[0, "completed_at"] = pd.Timestamp("2024-01-31 10:00:00")
    tables["customers"].loc[3, "close_date"] = pd.Timestamp("2015-06-30")
    tables["interventions"].loc[0, "contacted_at"] = pd.Timestamp("2024-02-01 15:00:00")

    report = validate_dataset(write(tables, "csv"))

    found = {(p.file, p.column, p.count, tuple(places(p))) for p in report.problems}
    assert found == {
        ("customers.csv", "close_date", 1, (5,)),
        ("interventions.csv", "contacted_at", 1, (2,)),
        ("service_tickets.csv", "closed_at", 1, (4,)),
        ("work_orders.csv", "completed_at", 1, (2,)),
        ("outages.csv", "end_at", 1, (3,)),
    }
    tickets = problems_named(report, "closed_at must be >= opened_at")[0]
    assert tickets.examples == [
        {"line": 4, "opened_at": "2024-03-02 08:00:00", "closed_at": "2024-03-01 08:00:00"}
    ]
    assert problems_named(report, "end_at must be > start_at")


def test_an_empty_file(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "csv")
    (folder / "customers.csv").write_bytes(b"")
    header = (folder / "monthly_usage.csv").read_text(encoding="utf-8").splitlines()[0]
    (folder / "monthly_usage.csv").write_text(header + "\n", encoding="utf-8")
    header = (folder / "outages.csv").read_text(encoding="utf-8").splitlines()[0]
    (folder / "outages.csv").write_text(header + "\n", encoding="utf-8")  # optional: fine
    (folder / "work_orders.csv").write_bytes(b"")  # optional, no header: taken as absent

    report = validate_dataset(folder)

    assert [(p.file, p.rule) for p in report.problems] == [
        ("customers.csv", Rule.EMPTY_FILE),
        ("monthly_usage.csv", Rule.EMPTY_FILE),
    ]
    assert [(w.file, w.rule) for w in report.warnings] == [
        ("work_orders.csv", Rule.EMPTY_OPTIONAL_FILE)
    ]


def test_an_empty_parquet_file(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "parquet")
    (folder / "monthly_billing.parquet").write_bytes(b"")
    (folder / "work_orders.parquet").write_bytes(b"PAR1 not really")

    report = validate_dataset(folder)

    assert [(p.file, p.rule) for p in report.problems] == [
        ("monthly_billing.parquet", Rule.EMPTY_FILE),
        ("work_orders.parquet", Rule.UNREADABLE_FILE),
    ]


def test_a_row_with_more_cells_than_the_header(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "csv")
    path = folder / "outages.csv"
    extra = "C001,2024-03-01 00:00:00,2024-03-01 01:00:00,true,surplus\n"
    path.write_text(path.read_text(encoding="utf-8") + extra, encoding="utf-8")

    problem = the_problem(validate_dataset(folder))

    assert (problem.file, problem.column, problem.rule) == (
        "outages.csv",
        None,
        Rule.UNREADABLE_FILE,
    )
    assert places(problem) == [4]


def test_kwh_parts_must_add_up(tables: Tables, write: Callable[..., Path]) -> None:
    usage = tables["monthly_usage"]
    usage.loc[1, "kwh_peak"] *= 1.005  # within 1%: fine
    usage.loc[3, "kwh_valley"] = 0.0  # 30% missing
    usage.loc[6, "kwh_flat"] = np.nan  # a part missing: nothing to compare

    problem = the_problem(validate_dataset(write(tables, "csv")))

    assert problem.rule == Rule.KWH_PARTS_MISMATCH
    assert (problem.count, places(problem)) == (1, [5])
    assert problem.examples[0] == {
        "line": 5,
        "kwh_total": 2_100_000.0,
        "kwh_peak": 630_000.0,
        "kwh_flat": 840_000.0,
        "kwh_valley": 0.0,
    }


@pytest.mark.parametrize(
    ("table", "column", "row", "value", "rule"),
    [
        ("customers", "tariff_category", 2, "大工业", Rule.one_of(contract.TARIFF_CATEGORIES)),
        ("customers", "voltage_kv", 0, 11.0, Rule.one_of(contract.VOLTAGES_KV)),
        ("customers", "contract_capacity_kva", 1, 0.0, Rule.POSITIVE),
        ("monthly_usage", "power_factor", 3, 1.2, Rule.POWER_FACTOR),
        ("service_tickets", "channel", 0, "wechat", Rule.one_of(contract.CHANNELS)),
        ("service_tickets", "satisfaction", 2, 7, Rule.SATISFACTION),
        ("work_orders", "status", 1, "done", Rule.one_of(contract.ORDER_STATUSES)),
        ("interventions", "action_code", 0, "call_boss", Rule.one_of(ACTION_CODES)),
        ("interventions", "assignment_probability", 1, 0.0, Rule.PROBABILITY),
        ("interventions", "assignment_probability", 0, 1.5, Rule.PROBABILITY),
        ("monthly_billing", "amount_paid_cny", 5, -0.01, Rule.NON_NEGATIVE),
    ],
)
def test_value_rules_and_enums(
    tables: Tables,
    write: Callable[..., Path],
    table: str,
    column: str,
    row: int,
    value: object,
    rule: str,
) -> None:
    tables[table].loc[row, column] = value

    problem = the_problem(validate_dataset(write(tables, "csv")))

    assert (problem.file, problem.column, problem.rule) == (f"{table}.csv", column, rule)
    assert problem.count == 1
    assert problem.examples == [{"line": row + 2, "value": value}]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_an_integer_beyond_int64_is_shown_as_written(
    tables: Tables, write: Callable[..., Path], fmt: str
) -> None:
    # Given a satisfaction of 1e30 (too large for any integer type)
    if fmt == "csv":
        tickets = as_text(tables["service_tickets"], "satisfaction")
        tickets.loc[1, "satisfaction"] = "1e30"
    else:
        tickets = tables["service_tickets"].astype({"satisfaction": "float64"})
        tickets.loc[1, "satisfaction"] = 1e30
    tables["service_tickets"] = tickets

    problem = the_problem(validate_dataset(write(tables, fmt)))

    # then it is not an integer, shown as the file holds it, not as int64's -9223372036854775808
    assert (problem.column, problem.rule, problem.count) == ("satisfaction", Rule.NOT_AN_INTEGER, 1)
    value = problem.examples[0]["value"]
    assert value == ("1e30" if fmt == "csv" else 1e30)


def test_an_empty_required_cell(tables: Tables, write: Callable[..., Path]) -> None:
    tables["monthly_billing"].loc[[2, 3], "due_date"] = pd.NaT
    tables["customers"].loc[0, "customer_name"] = ""

    report = validate_dataset(write(tables, "csv"))

    found = {(p.file, p.column, p.rule, tuple(places(p))) for p in report.problems}
    assert found == {
        ("customers.csv", "customer_name", Rule.NOT_NULL, (2,)),
        ("monthly_billing.csv", "due_date", Rule.NOT_NULL, (4, 5)),
    }


def test_extra_columns_are_a_warning_only(tables: Tables, write: Callable[..., Path]) -> None:
    tables["customers"]["phone"] = "13800000000"
    tables["customers"]["备注"] = "重点"
    folder = write(tables, "csv")
    (folder / "customer.csv").write_text("customer_id\nC001\n", encoding="utf-8")  # a typo

    report = validate_dataset(folder)

    assert report.ok
    assert [(w.file, w.column, w.rule) for w in report.warnings] == [
        ("customer.csv", None, Rule.UNKNOWN_FILE),
        ("customers.csv", "phone, 备注", Rule.EXTRA_COLUMNS),
    ]


def test_one_table_in_two_files(tables: Tables, write: Callable[..., Path]) -> None:
    folder = write(tables, "csv")
    (folder / "outages.parquet").write_bytes(b"")

    problem = the_problem(validate_dataset(folder))

    assert problem.file == "outages.csv + outages.parquet"
    assert "outages.csv and outages.parquet" in problem.rule


def test_several_faults_are_all_reported_at_once(
    tables: Tables, write: Callable[..., Path]
) -> None:
    del tables["work_orders"]
    tables["customers"] = tables["customers"].drop(columns=["region"])
    usage = as_text(tables["monthly_usage"], "month")
    usage.loc[1, "month"] = "2024-1x"
    usage.loc[2, "kwh_total"] = -5.0
    tables["monthly_usage"] = usage
    tables["monthly_billing"].loc[0, "customer_id"] = "C404"
    tables["service_tickets"].loc[0, "category"] = "complain"
    tables["interventions"]["extra"] = 1
    folder = write(tables, "csv")
    (folder / "outages.csv").write_bytes("customer_id,start_at\n华东".encode("utf-16-le"))

    report = validate_dataset(folder)

    found = [(p.file, p.column, p.rule.split(" / ")[0]) for p in report.problems]
    assert found == [
        ("customers.csv", "region", "missing required column"),
        ("monthly_usage.csv", "month", "not a month YYYY-MM"),
        ("monthly_usage.csv", "kwh_total", "must be >= 0"),
        (
            "monthly_usage.csv",
            "kwh_peak, kwh_flat, kwh_valley",
            Rule.KWH_PARTS_MISMATCH.split(" / ")[0],
        ),
        ("monthly_billing.csv", "customer_id", "unknown customer_id, not in customers"),
        (
            "service_tickets.csv",
            "category",
            "must be one of: complaint, opinion, inquiry, repair, praise",
        ),
        ("outages.csv", None, "unreadable encoding"),
    ]
    assert [w.file for w in report.warnings] == ["interventions.csv"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_assignment_probability_is_an_optional_column(
    tables: Tables, write: Callable[..., Path], fmt: str
) -> None:
    # Given interventions without the column, then with a certain and an unknown propensity
    without = validate_dataset(write(tables, fmt))
    tables["interventions"]["assignment_probability"] = [1.0, np.nan]

    # When validated, then neither is a problem
    report = validate_dataset(write(tables, fmt))
    assert (without.problems, report.problems) == ([], [])
    assert not [w for w in report.warnings if w.file.startswith("interventions")]
    # and a file without it loads with it empty, as every reader expects the column
    assert without.dataset is not None and without.dataset.interventions is not None
    assert without.dataset.interventions["assignment_probability"].isna().all()
    assert report.dataset is not None and report.dataset.interventions is not None
    assert report.dataset.interventions["assignment_probability"].iloc[0] == 1.0


def test_customer_names_are_masked_in_examples() -> None:
    customers = pd.DataFrame(
        {"customer_id": ["C1", "C2"], "customer_name": [3.5, None]}  # names as numbers: wrong
    )

    report = validate_tables({"customers": customers})

    problem = problems_named(report, Rule.NOT_TEXT, "customer_name")[0]
    assert problem.examples == [{"row": 0, "value": "***"}]


def test_in_memory_tables_get_the_same_checks(tables: Tables) -> None:
    tables["monthly_usage"]["month"] = tables["monthly_usage"]["month"].dt.strftime("%Y-%m")
    tables["outages"].loc[1, "customer_id"] = "C999"
    tables["extra_table"] = pd.DataFrame({"a": [1]})

    report = validate_tables(tables, source="api")

    problem = the_problem(report)
    assert (problem.file, problem.rule, problem.examples) == (
        "outages",
        Rule.UNKNOWN_CUSTOMER,
        [{"row": 1, "value": "C999"}],
    )
    assert [w.file for w in report.warnings] == ["extra_table"]
    del tables["extra_table"]
    tables["outages"].loc[1, "customer_id"] = "C003"
    ok = validate_tables(tables)
    assert ok.ok
    assert ok.dataset is not None
    assert str(ok.dataset.monthly_usage["month"].dtype) == "datetime64[us]"


def test_a_year_zero_is_reported_not_a_crash() -> None:
    # Found by schemathesis: a month 0000-01 made the report's examples crash.
    from retention.data.checks import validate_tables

    usage = pd.DataFrame(
        {"customer_id": ["C1"], "month": [pd.Timestamp("2026-01-01")], "kwh_total": [1.0]}
    )
    usage["month"] = usage["month"].astype("datetime64[s]")
    usage.loc[0, "month"] = np.datetime64("0000-01-01", "s")
    report = validate_tables({"monthly_usage": usage})
    problem = next(p for p in report.problems if p.column == "month")
    assert problem.rule == Rule.PLAUSIBLE_TIME
    assert problem.examples[0] == {"row": 0, "value": "0000-01"}


# --- plausibility: what a key account can draw and be billed ---------------------------------


def _float_columns() -> list[tuple[str, str]]:
    return [
        (table.name, column.name)
        for table in contract.TABLES.values()
        for column in table.columns
        if column.kind == "float"
    ]


@pytest.mark.parametrize(("table", "column"), _float_columns())
def test_every_float_column_has_a_finite_upper_bound(table: str, column: str) -> None:
    def upper(check: pa.Check) -> float:
        stats = check.statistics
        return float(stats.get("max_value", max(stats.get("allowed_values", [np.inf]))))

    checks = contract.table_spec(table).column(column).pandera_checks()
    assert any(np.isfinite(upper(check)) for check in checks)


@pytest.mark.parametrize(("table", "column"), _float_columns())
@pytest.mark.parametrize("value", [1e308, -1e308])
def test_no_float_column_takes_1e308(
    tables: Tables, write: Callable[..., Path], table: str, column: str, value: float
) -> None:
    tables[table].loc[0, column] = value

    report = validate_dataset(write(tables, "csv"))

    problems = [p for p in report.problems if p.column == column and p.file == f"{table}.csv"]
    assert problems, [p.to_dict() for p in report.problems]
    assert sum(p.count for p in problems) == 1  # one rule names the cell, not two
    assert problems[0].examples[0]["line"] == 2


def test_kwh_beyond_the_capacity_names_the_account_month_and_limit(
    tables: Tables, write: Callable[..., Path]
) -> None:
    # Given C003 (2,500 kVA) metered at 1e9 kWh in January (a unit error: Wh, not kWh)
    tables["monthly_usage"].loc[6, ["kwh_total", "kwh_peak", "kwh_flat", "kwh_valley"]] = [
        1e9,
        3e8,
        4e8,
        3e8,
    ]

    report = validate_dataset(write(tables, "csv"))

    # then each kWh column over 2,500 kVA x 744 h x 3 is named with its line, like any rule
    found = {p.column: p for p in report.problems}
    assert set(found) == {"kwh_total", "kwh_peak", "kwh_flat", "kwh_valley"}
    problem = found["kwh_total"]
    assert (problem.file, problem.rule, problem.count) == (
        "monthly_usage.csv",
        Rule.KWH_OVER_CAPACITY,
        1,
    )
    assert problem.examples == [
        {
            "line": 8,
            "customer_id": "C003",
            "month": "2024-01",
            "kwh_total": 1e9,
            "capacity_kva": 2500.0,
            "limit": 2500.0 * 744 * contract.CAPACITY_MARGIN,
        }
    ]


def test_a_completed_reduction_raises_the_capacity_the_kwh_is_held_to(
    tables: Tables, write: Callable[..., Path]
) -> None:
    # C002 holds 12,500 kVA today, after reducing by 2,500 kVA in February 2024; January used
    # what 15,000 kVA allow (696 hours in February 2024).
    february = 15_000 * 696 * contract.CAPACITY_MARGIN
    usage = tables["monthly_usage"]
    usage.loc[4, ["kwh_total", "kwh_peak", "kwh_flat", "kwh_valley"]] = [february, 0, february, 0]
    usage.loc[4, "max_demand_kw"] = 15_000 * contract.CAPACITY_MARGIN

    assert validate_dataset(write(tables, "csv")).ok

    tables["work_orders"].loc[0, "status"] = "cancelled"  # no reduction: 12,500 kVA all along
    tables["work_orders"].loc[0, "completed_at"] = pd.NaT
    report = validate_dataset(write(tables, "csv", name="cancelled"))
    assert {(p.column, p.rule) for p in report.problems} == {
        ("kwh_total", Rule.KWH_OVER_CAPACITY),
        ("kwh_flat", Rule.KWH_OVER_CAPACITY),
        ("max_demand_kw", Rule.DEMAND_OVER_CAPACITY),
    }


def test_bills_are_held_to_the_months_kwh_and_the_capacity(
    tables: Tables, write: Callable[..., Path]
) -> None:
    billing = tables["monthly_billing"]
    # C003, January: 300,000 kWh on 2,500 kVA allow 5 x 300,000 + 200 x 2,500 = 2,000,000 元
    billing.loc[6, "amount_due_cny"] = 2_000_001.0
    aligned = the_problem(validate_dataset(write(tables, "csv", name="aligned")))
    assert (aligned.column, aligned.rule, places(aligned)) == (
        "amount_due_cny",
        Rule.BILL_OVER_LIMIT,
        [8],
    )
    assert aligned.examples[0]["kwh_total"] == 300_000.0
    # C001, March has no reading: the most 50,000 kVA can draw in 744 h is the kWh
    tables["monthly_usage"] = tables["monthly_usage"].drop(index=2).reset_index(drop=True)
    billing.loc[2, "amount_due_cny"] = 4e9
    # C004 pays 1e9 in one month: more than 12 of the largest bills 630 kVA allow
    billing.loc[10, "amount_paid_cny"] = 1e9
    # C003 settles its arrears of the whole quarter in March: plausible
    billing.loc[8, "amount_paid_cny"] = billing.loc[6:8, "amount_due_cny"].sum()

    report = validate_dataset(write(tables, "csv"))

    found = {(p.column, p.rule, tuple(places(p))) for p in report.problems}
    assert found == {
        ("amount_due_cny", Rule.BILL_OVER_LIMIT, (4, 8)),
        ("amount_paid_cny", Rule.PAYMENT_OVER_LIMIT, (12,)),
    }
    due = next(p for p in report.problems if p.column == "amount_due_cny")
    assert due.examples[0]["limit"] == 5 * 50_000 * 744 * 3 + 200 * 50_000
    assert due.examples[1]["limit"] == 5 * 300_000 + 200 * 2_500


def test_plausibility_bounds_are_named_constants() -> None:
    assert contract.MAX_MONTHLY_KWH == contract.MAX_CAPACITY_KVA * 744 * contract.CAPACITY_MARGIN
    assert contract.MAX_BILL_CNY == (
        contract.ENERGY_PRICE_CAP_CNY_PER_KWH * contract.MAX_MONTHLY_KWH
        + contract.BASIC_CHARGE_CAP_CNY_PER_KVA * contract.MAX_CAPACITY_KVA
    )
    assert contract.MAX_PAYMENT_CNY == contract.PAYMENT_MONTHS_CAP * contract.MAX_BILL_CNY
    assert {(r.table, r.column) for r in contract.CAPACITY_RULES} == {
        ("monthly_usage", "kwh_total"),
        ("monthly_usage", "kwh_peak"),
        ("monthly_usage", "kwh_flat"),
        ("monthly_usage", "kwh_valley"),
        ("monthly_usage", "max_demand_kw"),
        ("monthly_billing", "amount_due_cny"),
        ("monthly_billing", "amount_paid_cny"),
    }


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_held_out_controls_are_part_of_the_contract(
    tables: Tables, write: Callable[..., Path], fmt: str
) -> None:
    # Given a follow-up (assignment empty: followed up) and a held-out control, never
    # contacted, whose outcome is measured as a follow-up's is
    iv = tables["interventions"]
    iv["assignment"] = [None, "held_out"]
    iv["randomised"] = pd.array([None, True], dtype="boolean")
    iv["assignment_probability"] = [0.4, 0.5]

    # When validated, then it passes and loads with the column and its default left empty
    report = validate_dataset(write(tables, fmt))
    assert report.problems == [], [p.to_dict() for p in report.problems]
    assert report.dataset is not None and report.dataset.interventions is not None
    assert list(report.dataset.interventions["assignment"].fillna("followed_up")) == [
        "followed_up",
        "held_out",
    ]


def test_bad_held_out_rows_are_named(tables: Tables, write: Callable[..., Path]) -> None:
    # Given a control contacted, a control unreachable, and an unknown assignment
    iv = pd.concat([tables["interventions"]] * 2, ignore_index=True)
    iv["intervention_id"] = ["I1", "I2", "I3", "I4"]
    iv["assignment"] = ["held_out", "held_out", "followed_up", "skipped"]
    iv["assignment_probability"] = 0.5  # the controls' propensity: not what is tested here
    iv.loc[1, "contacted_at"] = pd.NaT
    iv.loc[1, "outcome"] = "unreachable"
    tables["interventions"] = iv

    # When validated
    report = validate_dataset(write(tables, "csv"))

    # Then each is named with file, column, rule and line
    found = {(p.file, p.column, p.rule, tuple(places(p))) for p in report.problems}
    assert found == {
        ("interventions.csv", "contacted_at", Rule.HELD_OUT_CONTACTED, (2,)),
        ("interventions.csv", "outcome", Rule.HELD_OUT_UNREACHABLE, (3,)),
        ("interventions.csv", "assignment", Rule.one_of(contract.ASSIGNMENTS), (5,)),
    }
