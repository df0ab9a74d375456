"""A tiny valid dataset, built in code, and helpers to break it on purpose."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from retention.data.report import Problem, ValidationReport
from retention.data.writing import write_dataset

Tables = dict[str, pd.DataFrame]

MONTHS = pd.to_datetime(["2024-01-01", "2024-02-01", "2024-03-01"])


def tiny_tables() -> Tables:
    """Four key accounts, three months, a couple of rows in every optional table.

    C001 asked for more capacity (A1, connected); A2 is a new applicant without an account.
    C004 is billed without time-of-use, so its kwh_peak/flat/valley are empty.
    """
    customers = pd.DataFrame(
        {
            "customer_id": ["C001", "C002", "C003", "C004"],
            "customer_name": [
                "华东钢铁有限公司",
                "明珠数据科技有限公司",
                "城南医院",
                "海港水务有限公司",
            ],
            "industry_code": ["C31", "I65", "Q84", "D46"],
            "region": ["杭州供电公司", "宁波供电公司", "杭州供电公司", "温州供电公司"],
            "voltage_kv": [110.0, 10.0, 10.0, 0.4],
            "contract_capacity_kva": [50000.0, 12500.0, 2500.0, 630.0],
            "tariff_category": ["large_industry", "large_industry", "general_commercial", "other"],
            "market_mode": ["direct_trading", "grid_agency", "grid_agency", "retailer"],
            "account_manager_id": ["M01", "M02", None, "M01"],
            "open_date": pd.to_datetime(["2010-05-04", "2018-11-20", "2001-01-15", "2015-07-01"]),
            "close_date": pd.to_datetime([None, None, None, "2024-03-20"]),
            "self_generation_kw": [0.0, 1500.0, 0.0, 50.0],
            "basic_charge_mode": ["demand", "capacity", None, None],
        }
    )
    ids = np.repeat(customers["customer_id"].to_numpy(), len(MONTHS))
    months = np.tile(MONTHS.to_numpy(), len(customers))
    total = np.array([9e6, 9.2e6, 8.8e6, 2.1e6, 2.0e6, 2.2e6, 3e5, 3.1e5, 2.9e5, 4e4, 4.1e4, 3.9e4])
    tou = ids != "C004"
    usage = pd.DataFrame(
        {
            "customer_id": ids,
            "month": months,
            "kwh_total": total,
            "kwh_peak": np.where(tou, total * 0.3, np.nan),
            "kwh_flat": np.where(tou, total * 0.4, np.nan),
            "kwh_valley": np.where(tou, total * 0.3, np.nan),
            "max_demand_kw": np.where(tou, total / 500, np.nan),
            "power_factor": [0.95, 0.96, 0.94, 0.92, 0.93, 0.9, 0.88, 0.91, 0.9, 0.85, 0.86, 0.87],
        }
    )
    due = pd.to_datetime(usage["month"]) + pd.offsets.MonthEnd(1) + pd.Timedelta(days=15)
    billing = pd.DataFrame(
        {
            "customer_id": ids,
            "month": months,
            "amount_due_cny": np.round(total * 0.65, 2),
            "amount_paid_cny": np.round(total * 0.65, 2),
            "due_date": due,
            "paid_date": due.where(ids != "C003"),  # C003 has not paid
        }
    )
    tickets = pd.DataFrame(
        {
            "ticket_id": ["T1", "T2", "T3"],
            "customer_id": ["C001", "C002", "C003"],
            "opened_at": pd.to_datetime(
                ["2024-01-05 09:12:00", "2024-02-10 14:30:45", "2024-03-02 08:00:00"]
            ),
            "closed_at": pd.to_datetime(["2024-01-06 10:00:00", None, "2024-03-02 17:45:00"]),
            "channel": ["hotline_95598", "online_app", "account_manager"],
            "category": ["complaint", "inquiry", "repair"],
            "satisfaction": pd.array([2, None, 5], dtype="Int64"),
            "sla_met": pd.array([False, None, True], dtype="boolean"),
        }
    )
    orders = pd.DataFrame(
        {
            "order_id": ["W1", "W2"],
            "customer_id": ["C002", "C004"],
            "order_type": ["capacity_reduction", "closure"],
            "applied_at": pd.to_datetime(["2024-02-01 10:00:00", "2024-03-01 09:00:00"]),
            "completed_at": pd.to_datetime(["2024-02-20 16:00:00", "2024-03-20 11:00:00"]),
            "capacity_change_kva": [-2500.0, 0.0],
            "status": ["completed", "completed"],
        }
    )
    outages = pd.DataFrame(
        {
            "customer_id": ["C001", "C003"],
            "start_at": pd.to_datetime(["2024-01-15 02:00:00", "2024-02-03 13:20:00"]),
            "end_at": pd.to_datetime(["2024-01-15 06:30:00", "2024-02-03 13:50:00"]),
            "planned": pd.array([True, False], dtype="boolean"),
        }
    )
    interventions = pd.DataFrame(
        {
            "intervention_id": ["I1", "I2"],
            "customer_id": ["C002", "C004"],
            "action_code": ["capacity_change_visit", "dedicated_manager"],
            "created_at": pd.to_datetime(["2024-02-02 09:00:00", "2024-03-02 09:00:00"]),
            "contacted_at": pd.to_datetime(["2024-02-02 15:00:00", None]),
            "outcome": ["retained", "pending"],
        }
    )
    applications = pd.DataFrame(
        {
            "application_id": ["A1", "A2"],
            "applicant_name": ["华东钢铁有限公司", "新城光伏科技有限公司"],
            "application_type": ["capacity_increase", "new_connection"],
            "customer_id": ["C001", None],  # a new applicant has no account yet
            "industry_code": ["C31", "D44"],
            "region": ["杭州供电公司", "宁波供电公司"],
            "voltage_kv": [110.0, 10.0],
            "requested_capacity_kva": [20000.0, 800.0],
            "supply_type": ["dual", "single"],
            "channel": ["account_manager", "online_app"],
            "accepted_at": pd.to_datetime(["2024-01-10 09:00:00", "2024-02-20 10:30:00"]),
            "status": ["connected", "open"],
            "closed_at": pd.to_datetime(["2024-03-15 16:00:00", None]),
            "owner_id": ["M01", None],
        }
    )
    steps = pd.DataFrame(
        {
            "application_id": ["A1", "A1", "A1", "A2"],
            "step_code": [
                "site_survey_contact",
                "supply_plan_reply",
                "energising",
                "site_survey_contact",
            ],
            "started_at": pd.to_datetime(
                [
                    "2024-01-10 09:00:00",
                    "2024-01-10 09:00:00",
                    "2024-03-10 09:00:00",
                    "2024-02-20 10:30:00",
                ]
            ),
            "finished_at": pd.to_datetime(
                ["2024-01-11 10:00:00", "2024-02-05 17:00:00", "2024-03-15 16:00:00", None]
            ),
            "document_requests": pd.array([0, 1, 0, 2], dtype="Int64"),
            "handled_by": ["S01", "S02", None, None],
        }
    )
    return {
        "customers": customers,
        "monthly_usage": usage,
        "monthly_billing": billing,
        "service_tickets": tickets,
        "work_orders": orders,
        "outages": outages,
        "interventions": interventions,
        "applications": applications,
        "application_steps": steps,
    }


@pytest.fixture
def tables() -> Tables:
    return tiny_tables()


@pytest.fixture(params=["parquet", "csv"])
def fmt(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def write(tmp_path: Path) -> Callable[..., Path]:
    """write(tables, fmt="csv", name="ds") -> a dataset folder under tmp_path."""

    def _write(tables: Tables, fmt: str = "csv", name: str = "ds") -> Path:
        folder = tmp_path / name
        write_dataset(tables, folder, fmt=fmt)
        return folder

    return _write


def as_text(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """`frame` with `column` as object text, so a test can put anything into it."""
    out = frame.copy()
    out[column] = out[column].astype(object).where(out[column].notna(), None)
    return out


def problems_named(report: ValidationReport, rule: str, column: str | None = None) -> list[Problem]:
    return [p for p in report.problems if rule in p.rule and (column is None or p.column == column)]


def the_problem(report: ValidationReport) -> Problem:
    """The single problem of a report (fails listing them all when there are more)."""
    assert len(report.problems) == 1, [p.to_dict() for p in report.problems]
    return report.problems[0]


def places(problem: Problem, key: str = "line") -> list[int]:
    return [example[key] for example in problem.examples]
