"""The KPIs of the applications: on-time share of the archived orders (a late step spoils an
order), the period's bounds, missing owners, working days to energising, open and overdue now,
withdrawn capacity and revenue, and a naive recomputation of the on-time share."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retention.applications.clocks import ServiceClocks, load_service_clocks
from retention.applications.kpis import kpis
from retention.data.contract import STEP_CODES
from retention.records.applications import KPI_COLUMNS
from retention.scoring.calendar import WorkingCalendar

D = dt.date.fromisoformat
Table = Callable[[list[dict[str, Any]]], pd.DataFrame]


@pytest.fixture(scope="module")
def clocks() -> ServiceClocks:
    return load_service_clocks()


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def _row(figures: pd.DataFrame, dimension: str, key: str) -> pd.Series:
    found = figures[(figures["dimension"] == dimension) & (figures["key"] == key)]
    assert len(found) == 1, f"{dimension}/{key}: {len(found)} rows"
    return found.iloc[0]


def _contact(application_id: str, started: str, finished: str) -> dict[str, Any]:
    return {
        "application_id": application_id,
        "step_code": "site_survey_contact",
        "started_at": started,
        "finished_at": finished,
    }


def _plan(application_id: str, started: str, finished: str) -> dict[str, Any]:
    return _contact(application_id, started, finished) | {"step_code": "supply_plan_reply"}


def test_a_late_contact_makes_an_archived_order_not_on_time(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given two orders accepted on Monday 2026-03-02 and connected in March: ON contacted
    # the next day (due 03-03), LATE two days later; both plans replied within 15 days,
    connected = {"status": "connected", "closed_at": "2026-03-20 16:00"}
    applications = applications_table(
        [
            {"application_id": "ON", "accepted_at": "2026-03-02 09:00", **connected},
            {"application_id": "LATE", "accepted_at": "2026-03-02 09:00", **connected},
        ]
    )
    steps = steps_table(
        [
            _contact("ON", "2026-03-02 09:00", "2026-03-03 17:00"),
            _plan("ON", "2026-03-02 09:00", "2026-03-10 12:00"),
            _contact("LATE", "2026-03-02 09:00", "2026-03-04 10:00"),
            _plan("LATE", "2026-03-02 09:00", "2026-03-10 12:00"),
        ]
    )
    # when the KPIs of the first quarter are computed,
    figures = kpis(
        applications, steps, clocks, calendar, D("2026-01-01"), D("2026-04-01"), D("2026-04-01")
    )
    # then one of the two archived orders met every limit; the contact step's share is a
    # half, the plan's all.
    assert list(figures.columns) == KPI_COLUMNS
    overall = _row(figures, "overall", "all")
    assert (overall["archived"], overall["archived_on_time"]) == (2, 1)
    assert overall["on_time_share"] == 0.5
    contact = _row(figures, "step", "site_survey_contact")
    assert (contact["archived"], contact["archived_on_time"]) == (2, 1)
    assert _row(figures, "step", "supply_plan_reply")["on_time_share"] == 1.0
    # A step without a clock for these orders is shown, with nothing archived.
    energising = _row(figures, "step", "energising")
    assert energising["archived"] == 0 and pd.isna(energising["on_time_share"])


def test_a_step_left_unfinished_counts_as_finished_when_the_order_closed(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given an order accepted on 2026-03-02 whose supply plan has no step row (due 03-23):
    # one connected on 03-20, one on 03-24,
    applications = applications_table(
        [
            {"application_id": f"A{day}", "accepted_at": "2026-03-02 09:00",
             "status": "connected", "closed_at": f"2026-03-{day} 10:00"}
            for day in (20, 24)
        ]
    )  # fmt: skip
    steps = steps_table(
        [_contact(f"A{day}", "2026-03-02 09:00", "2026-03-02 15:00") for day in (20, 24)]
    )
    figures = kpis(
        applications, steps, clocks, calendar, D("2026-03-01"), D("2026-04-01"), D("2026-04-01")
    )
    # then the plan of the first counts as replied in time, of the second as late.
    assert _row(figures, "step", "supply_plan_reply")["archived_on_time"] == 1
    assert _row(figures, "overall", "all")["archived_on_time"] == 1


def test_an_order_closed_at_the_period_start_counts_and_one_at_its_end_does_not(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given orders connected and withdrawn exactly at midnight of 2026-01-01 and 2026-04-01,
    applications = applications_table(
        [
            {"application_id": "IN", "accepted_at": "2025-12-01 09:00", "status": "connected",
             "closed_at": "2026-01-01 00:00"},
            {"application_id": "OUT", "accepted_at": "2026-03-02 09:00", "status": "connected",
             "closed_at": "2026-04-01 00:00"},
            {"application_id": "W-IN", "accepted_at": "2025-12-01 09:00", "status": "withdrawn",
             "closed_at": "2026-01-01 00:00", "requested_capacity_kva": 500.0},
            {"application_id": "W-OUT", "accepted_at": "2026-03-02 09:00", "status": "withdrawn",
             "closed_at": "2026-04-01 00:00", "requested_capacity_kva": 630.0},
        ]
    )  # fmt: skip
    figures = kpis(
        applications,
        steps_table([]),
        clocks,
        calendar,
        D("2026-01-01"),
        D("2026-04-01"),
        D("2026-04-01"),
    )
    # then the first quarter holds the ones closed at its start, not those closed at its end
    # (they are open on 04-01: closed_at is not before it).
    overall = _row(figures, "overall", "all")
    assert overall["archived"] == 1 and overall["withdrawn"] == 1
    assert overall["withdrawn_capacity_kva"] == 500.0
    assert overall["open_now"] == 2


def test_an_order_without_owner_is_counted_under_a_dash_with_its_revenue_at_stake(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given a manufacturer (section C, load factor 0.40) of 800 kVA withdrawn without owner
    # and a data centre (I, 0.55) of 1,000 kVA withdrawn by AM0002, both at 35 kV online,
    withdrawn = {"status": "withdrawn", "closed_at": "2026-02-10 10:00", "voltage_kv": 35.0,
                 "channel": "online_app", "accepted_at": "2026-01-05 09:00"}  # fmt: skip
    applications = applications_table(
        [
            {"application_id": "W1", "owner_id": None, **withdrawn},
            {"application_id": "W2", "owner_id": "AM0002", "industry_code": "I65",
             "requested_capacity_kva": 1000.0, **withdrawn},
        ]
    )  # fmt: skip
    steps = steps_table([_contact("W1", "2026-01-05 09:00", "2026-01-06 09:00")])
    figures = kpis(
        applications, steps, clocks, calendar, D("2026-01-01"), D("2026-03-01"), D("2026-03-01")
    )
    # then the owner "-" has the manufacturer's year of revenue: 800 x 0.40 x 8760 x 0.65,
    nobody = _row(figures, "owner", "-")
    assert nobody["withdrawn"] == 1 and nobody["withdrawn_capacity_kva"] == 800.0
    assert nobody["withdrawn_revenue_cny"] == pytest.approx(800 * 0.40 * 8760 * 0.65)
    assert _row(figures, "owner", "AM0002")["withdrawn_revenue_cny"] == pytest.approx(
        1000 * 0.55 * 8760 * 0.65
    )
    assert _row(figures, "voltage", "35")["withdrawn"] == 2
    assert _row(figures, "channel", "online_app")["withdrawn_capacity_kva"] == 1800.0
    # and nothing archived there: no share. W1 left at its contact, W2 had no step.
    assert pd.isna(nobody["on_time_share"])
    assert _row(figures, "step", "site_survey_contact")["withdrawn"] == 1


def test_working_days_to_energising_and_the_open_ones_overdue_now(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given three orders accepted on Monday 2026-03-02 and energised 5, 10 and 15 working
    # days later (March 2026 has no holiday), and on 04-01 one open order whose contact is
    # overdue and one just accepted,
    energised = [("E5", "2026-03-09"), ("E10", "2026-03-16"), ("E15", "2026-03-23")]
    applications = applications_table(
        [
            {"application_id": name, "accepted_at": "2026-03-02 09:00", "status": "connected",
             "closed_at": f"{day} 17:00", "region": "unit-02"}
            for name, day in energised
        ]
        + [
            {"application_id": "STUCK", "accepted_at": "2026-03-25 09:00"},
            {"application_id": "FRESH", "accepted_at": "2026-03-31 09:00", "owner_id": "AM0009"},
        ]
    )  # fmt: skip
    steps = steps_table(
        [
            {"application_id": name, "step_code": "energising", "started_at": "2026-03-05 09:00",
             "finished_at": f"{day} 15:00"}
            for name, day in energised
        ]
    )  # fmt: skip
    figures = kpis(
        applications, steps, clocks, calendar, D("2026-03-01"), D("2026-04-01"), D("2026-04-01")
    )
    # then the median is 10 working days and the 90th percentile 14 (linear between 10, 15),
    unit = _row(figures, "unit", "unit-02")
    assert unit["median_working_days_to_energise"] == 10.0
    assert unit["p90_working_days_to_energise"] == pytest.approx(14.0)
    assert unit["open_now"] == 0
    # and two are open on 04-01, the one accepted on 03-25 overdue (contact due 03-26).
    overall = _row(figures, "overall", "all")
    assert (overall["open_now"], overall["open_overdue_now"]) == (2, 1)
    fresh = _row(figures, "owner", "AM0009")
    assert (fresh["open_now"], fresh["open_overdue_now"]) == (1, 0)
    contact = _row(figures, "step", "site_survey_contact")
    assert (contact["open_now"], contact["open_overdue_now"]) == (2, 1)


def _random_tables(seed: int, n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """n applications over 2025-2026 (Spring Festival, National Day) with a prefix of the
    steps each, some steps left unfinished, connected, withdrawn or open."""
    rng = random.Random(seed)
    applications, steps = [], []
    for i in range(n):
        accepted = dt.datetime(2025, 1, 1, 9) + dt.timedelta(days=rng.randrange(420))
        status = rng.choice(["connected", "connected", "withdrawn", "open"])
        moment = accepted
        taken = len(STEP_CODES) if rng.random() < 0.6 else rng.randrange(len(STEP_CODES))
        for code in STEP_CODES[:taken]:
            started = moment + dt.timedelta(days=rng.randrange(3), hours=rng.randrange(8))
            finished = started + dt.timedelta(days=rng.randrange(14), hours=rng.randrange(8))
            left_open = rng.random() < 0.1
            steps.append(
                {"application_id": f"A{i}", "step_code": code, "started_at": started,
                 "finished_at": None if left_open else finished}
            )  # fmt: skip
            moment = max(moment, finished)
        applications.append(
            {
                "application_id": f"A{i}",
                "accepted_at": accepted,
                "status": status,
                "closed_at": None if status == "open" else moment + dt.timedelta(days=1),
                "region": rng.choice(["unit-01", "unit-02", "unit-03"]),
                "voltage_kv": rng.choice([0.4, 10.0, 35.0]),
                "supply_type": rng.choice(["single", "dual"]),
                "application_type": rng.choice(["new_connection", "capacity_increase"]),
                "customer_id": "C1",
            }
        )
    return applications, steps


def _naive_on_time(
    application: dict[str, Any],
    steps: dict[str, dict[str, Any]],
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
) -> bool:
    """Whether every clocked step met its limit, a day at a time."""
    closed = application["closed_at"].date()
    for code, clock in clocks.steps.items():
        limit = next(
            (
                candidate.working_days
                for candidate in clock.limits
                if candidate.supply_type in (None, application["supply_type"])
                and candidate.application_type in (None, application["application_type"])
                and (
                    candidate.min_voltage_kv is None
                    or application["voltage_kv"] >= candidate.min_voltage_kv
                )
            ),
            None,
        )
        if limit is None:
            continue
        if clock.counts_from == "accepted":
            start = application["accepted_at"]
        elif clock.counts_from == "started":
            start = steps[code]["started_at"] if code in steps else None
        else:
            before = steps.get(clock.counts_from.removeprefix("finished:"))
            start = before["finished_at"] if before else None
        if start is None or pd.isna(start):
            continue
        due = calendar.add_working_days(start.date(), limit)
        finished = steps.get(code, {}).get("finished_at")
        finished = closed if finished is None or pd.isna(finished) else finished.date()
        if finished > due:
            return False
    return True


def _naive_days(accepted: dt.date, finished: dt.date, calendar: WorkingCalendar) -> int:
    days = (finished - accepted).days
    return sum(calendar.is_workday(accepted + dt.timedelta(days=k)) for k in range(1, days + 1))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_on_time_share_matches_a_naive_recomputation(
    seed: int,
    applications_table: Table,
    steps_table: Table,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
) -> None:
    # Given random applications and steps across 2025's and 2026's holidays,
    rows, step_rows = _random_tables(seed, 150)
    start, end = D("2025-03-01"), D("2026-01-01")
    # when the KPIs of the period are computed,
    figures = kpis(
        applications_table(rows), steps_table(step_rows), clocks, calendar, start, end, end
    )
    # then per unit and overall, the archived count, the on-time share and the median days to
    # energising are what a loop over the days finds.
    by_id: dict[str, dict[str, dict[str, Any]]] = {}
    for step in step_rows:
        by_id.setdefault(step["application_id"], {})[step["step_code"]] = step
    archived = [
        row for row in rows
        if row["status"] == "connected" and start <= row["closed_at"].date() < end
    ]  # fmt: skip
    for unit in ("all", "unit-01", "unit-02", "unit-03"):
        mine = [row for row in archived if unit in ("all", row["region"])]
        on_time = [
            _naive_on_time(row, by_id.get(row["application_id"], {}), clocks, calendar)
            for row in mine
        ]
        days = [
            _naive_days(row["accepted_at"].date(), energising["finished_at"].date(), calendar)
            for row in mine
            if (energising := by_id.get(row["application_id"], {}).get("energising"))
            and energising["finished_at"] is not None
        ]
        found = _row(figures, "overall", "all") if unit == "all" else _row(figures, "unit", unit)
        assert found["archived"] == len(mine)
        assert found["archived_on_time"] == sum(on_time)
        assert found["on_time_share"] == pytest.approx(sum(on_time) / len(mine))
        assert days, "every unit has energised orders"
        assert found["median_working_days_to_energise"] == pytest.approx(np.median(days))
        assert found["p90_working_days_to_energise"] == pytest.approx(np.percentile(days, 90))
    assert 0 < _row(figures, "overall", "all")["on_time_share"] < 1  # both kinds occur
