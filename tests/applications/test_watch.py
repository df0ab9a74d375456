"""The watch list: due dates across Chinese holidays and make-up days, the states at a date
(only what happened before it is known), the summary, and a naive recomputation."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from retention.applications.clocks import ServiceClocks, load_service_clocks
from retention.applications.watch import STATES, application_summary, no_steps, watch_list
from retention.scoring.calendar import WorkingCalendar

D = dt.date.fromisoformat
Table = Callable[[list[dict[str, Any]]], pd.DataFrame]


@pytest.fixture(scope="module")
def clocks() -> ServiceClocks:
    return load_service_clocks()


@pytest.fixture(scope="module")
def calendar() -> WorkingCalendar:
    return WorkingCalendar()


def _steps_of(watch: pd.DataFrame, application_id: str) -> pd.DataFrame:
    return watch[watch["application_id"] == application_id].set_index("step_code")


def test_national_day_2025_holds_the_one_day_contact_until_october_9(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given an application accepted on Tuesday 2025-09-30, its site survey contact not made,
    applications = applications_table([{"application_id": "A1", "accepted_at": "2025-09-30 15:00"}])
    steps = steps_table([])
    # when the watch list is read during the holiday and after it,
    during = _steps_of(watch_list(applications, steps, clocks, calendar, D("2025-10-08")), "A1")
    after = _steps_of(watch_list(applications, steps, clocks, calendar, D("2025-10-13")), "A1")
    # then the contact is due on Thursday 10-09 (10-01..10-08 are off), one working day left
    # on 10-08; on Monday 10-13 it is three working days overdue (10-10, Saturday 10-11 worked
    # in exchange, 10-13).
    contact = during.loc["site_survey_contact"]
    assert contact["due_date"] == pd.Timestamp("2025-10-09")
    assert contact["state"] == "running" and contact["working_days_left"] == 1
    assert contact["owner_role"] == "account_manager"
    late = after.loc["site_survey_contact"]
    assert late["state"] == "overdue" and late["overdue_working_days"] == 3
    # The supply plan counts from acceptance too, without a step row of its own.
    assert during.loc["supply_plan_reply", "state"] == "running"
    assert set(during.index) == {"site_survey_contact", "supply_plan_reply"}


def test_the_make_up_sunday_of_september_28_2025_is_a_working_day(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given an application accepted on Friday 2025-09-26, contacted on Monday 09-29,
    applications = applications_table([{"application_id": "A1", "accepted_at": "2025-09-26 10:00"}])
    steps = steps_table(
        [
            {
                "application_id": "A1",
                "step_code": "site_survey_contact",
                "started_at": "2025-09-26 10:00",
                "finished_at": "2025-09-29 09:00",
            }
        ]
    )
    # when read on 09-29 (the contact not known yet) and on 10-09,
    on_29 = _steps_of(watch_list(applications, steps, clocks, calendar, D("2025-09-29")), "A1")
    later = _steps_of(watch_list(applications, steps, clocks, calendar, D("2025-10-09")), "A1")
    # then it was due on Sunday 09-28 (调休): overdue by one working day, finished late by one.
    assert on_29.loc["site_survey_contact", "due_date"] == pd.Timestamp("2025-09-28")
    assert on_29.loc["site_survey_contact", "state"] == "overdue"
    assert on_29.loc["site_survey_contact", "overdue_working_days"] == 1
    assert pd.isna(on_29.loc["site_survey_contact", "finished_date"])
    assert later.loc["site_survey_contact", "state"] == "late"
    assert later.loc["site_survey_contact", "late_working_days"] == 1
    assert later.loc["site_survey_contact", "finished_date"] == pd.Timestamp("2025-09-29")


def test_spring_festival_2025_a_dispatch_agreement_finished_on_its_due_day_is_on_time(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given a dispatch agreement asked for on Friday 2025-01-24 (3 working days: Sunday 01-26
    # worked, 01-27, then 02-05 after the holiday) and signed on 02-05,
    applications = applications_table([{"application_id": "A1", "accepted_at": "2024-12-02 09:00"}])
    steps = steps_table(
        [
            {
                "application_id": "A1",
                "step_code": "dispatch_agreement",
                "started_at": "2025-01-24 11:00",
                "finished_at": "2025-02-05 17:30",
            }
        ]
    )
    on_due_day = _steps_of(watch_list(applications, steps, clocks, calendar, D("2025-02-05")), "A1")
    after = _steps_of(watch_list(applications, steps, clocks, calendar, D("2025-02-06")), "A1")
    agreement = on_due_day.loc["dispatch_agreement"]
    assert agreement["due_date"] == pd.Timestamp("2025-02-05")
    assert agreement["state"] == "running" and agreement["working_days_left"] == 1
    assert after.loc["dispatch_agreement", "state"] == "on_time"
    assert pd.isna(after.loc["dispatch_agreement", "late_working_days"])


def test_spring_festival_2026_energising_counts_from_the_completion_inspection(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given a completion inspection passed on Friday 2026-02-13 and no energising yet,
    applications = applications_table([{"application_id": "A1", "accepted_at": "2025-11-03 09:00"}])
    steps = steps_table(
        [
            {
                "application_id": "A1",
                "step_code": "completion_inspection",
                "started_at": "2026-02-10 09:00",
                "finished_at": "2026-02-13 16:00",
            }
        ]
    )
    by_date = {
        day: _steps_of(watch_list(applications, steps, clocks, calendar, D(day)), "A1")
        for day in ("2026-02-13", "2026-02-14", "2026-03-02")
    }
    # then on 02-13 the inspection's end is not known and energising has no clock; from
    # 02-14 it is due in 5 working days: Saturday 02-14 worked, 02-24..02-27 (02-15..02-23
    # off); on Monday 03-02 it is 2 working days overdue (Saturday 02-28 worked, 03-02).
    assert "energising" not in by_date["2026-02-13"].index
    energising = by_date["2026-02-14"].loc["energising"]
    assert energising["clock_start"] == pd.Timestamp("2026-02-13")
    assert energising["due_date"] == pd.Timestamp("2026-02-27")
    assert energising["owner_role"] == "metering" and energising["working_days_left"] == 5
    assert by_date["2026-03-02"].loc["energising", "overdue_working_days"] == 2


def test_2027_uses_the_holiday_file_and_an_unknown_year_counts_monday_to_friday(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, tmp_path: Path
) -> None:
    # Given an application accepted on Thursday 2027-09-30,
    applications = applications_table([{"application_id": "A1", "accepted_at": "2027-09-30 10:00"}])
    steps = steps_table([])
    as_of = D("2027-09-30") + dt.timedelta(days=1)
    shipped = watch_list(applications, steps, clocks, WorkingCalendar(), as_of)
    weekdays = watch_list(applications, steps, clocks, WorkingCalendar(tmp_path / "none"), as_of)
    # then the shipped holiday file's 10-01 moves the contact to Monday 10-04; without a
    # file, Friday 10-01 is a working day.
    assert _steps_of(shipped, "A1").loc["site_survey_contact", "due_date"] == pd.Timestamp(
        "2027-10-04"
    )
    assert _steps_of(weekdays, "A1").loc["site_survey_contact", "due_date"] == pd.Timestamp(
        "2027-10-01"
    )


def test_only_applications_open_at_the_date_and_steps_started_before_it_are_watched(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    as_of = D("2026-03-10")
    applications = applications_table(
        [
            {"application_id": "TODAY", "accepted_at": "2026-03-10 08:00"},
            {"application_id": "CLOSED", "accepted_at": "2026-01-05 08:00",
             "status": "withdrawn", "closed_at": "2026-03-09 17:00"},
            {"application_id": "CLOSES_ON_DAY", "accepted_at": "2026-01-05 08:00",
             "status": "connected", "closed_at": "2026-03-10 09:00"},
            {"application_id": "OPEN", "accepted_at": "2026-01-05 08:00"},
        ]
    )  # fmt: skip
    steps = steps_table(
        [
            {"application_id": "OPEN", "step_code": "dispatch_agreement",
             "started_at": "2026-03-10 08:30", "document_requests": 4},
            {"application_id": "OPEN", "step_code": "site_survey_contact",
             "started_at": "2026-01-05 08:00", "finished_at": "2026-01-05 15:00",
             "document_requests": 1},
        ]
    )  # fmt: skip
    watch = watch_list(applications, steps, clocks, calendar, as_of)
    assert set(watch["application_id"]) == {"CLOSES_ON_DAY", "OPEN"}
    # A step asked for on the day itself is not known yet: no dispatch clock.
    assert "dispatch_agreement" not in set(watch["step_code"])
    assert _steps_of(watch, "OPEN").loc["site_survey_contact", "state"] == "on_time"
    summary = application_summary(applications, steps, watch, calendar, as_of)
    assert summary.set_index("application_id").loc["OPEN", "document_requests"] == 1


def test_the_summary_puts_the_most_overdue_first_and_names_the_next_due_step(
    applications_table: Table, steps_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    # Given on 2026-03-10 one application accepted that morning's day before (contact due
    # 03-10), one whose contact is 5 working days overdue and one 1 day overdue,
    applications = applications_table(
        [
            {"application_id": "FRESH", "accepted_at": "2026-03-09 10:00", "region": "unit-02"},
            {"application_id": "LATE5", "accepted_at": "2026-03-02 10:00", "channel": "online_app"},
            {"application_id": "LATE1", "accepted_at": "2026-03-06 10:00"},
        ]
    )
    steps = steps_table([])
    as_of = D("2026-03-10")
    watch = watch_list(applications, steps, clocks, calendar, as_of)
    summary = application_summary(applications, steps, watch, calendar, as_of)
    # then the 5-day one leads, then the 1-day one, then the fresh one, whose next due step
    # is its contact, due today.
    assert summary["application_id"].tolist() == ["LATE5", "LATE1", "FRESH"]
    rows = summary.set_index("application_id")
    assert rows.loc["LATE5", "worst_overdue_working_days"] == 5
    assert rows.loc["LATE5", "steps_overdue"] == 1 and rows.loc["LATE5", "channel"] == "online_app"
    assert rows.loc["FRESH", "next_due_step"] == "site_survey_contact"
    assert rows.loc["FRESH", "next_due_date"] == pd.Timestamp("2026-03-10")
    assert rows.loc["FRESH", "unit"] == "unit-02"
    assert rows.loc["LATE5", "working_days_open"] == 6  # 03-03..03-10
    assert rows.loc["LATE5", "next_due_step"] == "supply_plan_reply"


# An independent recomputation: the same answers from a plain day-by-day loop.


def _holds(limit: Any, application: pd.Series) -> bool:
    return (
        (limit.supply_type is None or limit.supply_type == application["supply_type"])
        and (limit.min_voltage_kv is None or application["voltage_kv"] >= limit.min_voltage_kv)
        and (
            limit.application_type is None
            or limit.application_type == application["application_type"]
        )
    )


def _due(calendar: WorkingCalendar, start: dt.date, days: int) -> dt.date:
    day = start
    while days:
        day += dt.timedelta(days=1)
        days -= calendar.is_workday(day)
    return day


def _working_days(calendar: WorkingCalendar, after: dt.date, through: dt.date) -> int:
    return sum(
        calendar.is_workday(after + dt.timedelta(days=i))
        for i in range(1, (through - after).days + 1)
    )


def _naive(
    applications: pd.DataFrame,
    steps: pd.DataFrame,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    as_of: dt.date,
) -> dict[tuple[str, str], tuple[str, int | None]]:
    """(application, step) -> (state, overdue or late working days) by a loop over days."""
    moment = pd.Timestamp(as_of)
    out: dict[tuple[str, str], tuple[str, int | None]] = {}
    for _, application in applications.iterrows():
        closed = application["closed_at"]
        if not application["accepted_at"] < moment or (pd.notna(closed) and closed < moment):
            continue
        mine = {
            row["step_code"]: row
            for _, row in steps[steps["application_id"] == application["application_id"]].iterrows()
            if row["started_at"] < moment
        }
        for code, clock in clocks.steps.items():
            limit = next(
                (lim.working_days for lim in clock.limits if _holds(lim, application)), None
            )
            if limit is None:
                continue
            if clock.counts_from == "accepted":
                start = application["accepted_at"].date()
            elif clock.counts_from == "started":
                if code not in mine:
                    continue
                start = mine[code]["started_at"].date()
            else:
                before = mine.get(clock.counts_from.split(":")[1])
                if before is None or not before["finished_at"] < moment:
                    continue
                start = before["finished_at"].date()
            due = _due(calendar, start, limit)
            own = mine.get(code)
            finished = own["finished_at"] if own is not None else pd.NaT
            key = (application["application_id"], code)
            if pd.notna(finished) and finished < moment:
                late = _working_days(calendar, due, finished.date())
                out[key] = ("on_time", None) if finished.date() <= due else ("late", max(late, 1))
            elif as_of <= due:
                out[key] = ("running", None)
            else:
                out[key] = ("overdue", max(_working_days(calendar, due, as_of), 1))
    return out


def _random_tables(
    seed: int, applications_table: Table, steps_table: Table
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """80 applications accepted from 2025-09 to 2026-02 (National Day 2025, Spring Festival
    2026), some closed, each with its first few steps in process order."""
    rng = np.random.default_rng(seed)
    apps, rows = [], []
    for i in range(80):
        accepted = pd.Timestamp("2025-09-01 08:00") + pd.Timedelta(hours=int(rng.integers(0, 4300)))
        closed = (
            accepted + pd.Timedelta(days=int(rng.integers(20, 200))) if rng.random() < 0.3 else None
        )
        apps.append(
            {
                "application_id": f"YK{i:04d}",
                "accepted_at": accepted,
                "closed_at": closed,
                "status": "open" if closed is None else "withdrawn",
                "voltage_kv": float(rng.choice([0.4, 10.0, 35.0])),
                "supply_type": str(rng.choice(["single", "dual"])),
                "application_type": str(rng.choice(["new_connection", "capacity_increase"])),
            }
        )
        clock = accepted
        for code in list(load_service_clocks().steps)[: int(rng.integers(0, 8))]:
            started = accepted if code in ("site_survey_contact", "supply_plan_reply") else clock
            finished = started + pd.Timedelta(hours=int(rng.integers(1, 600)))
            done = rng.random() < 0.8
            rows.append(
                {
                    "application_id": f"YK{i:04d}",
                    "step_code": code,
                    "started_at": started,
                    "finished_at": finished if done else None,
                    "document_requests": int(rng.integers(0, 3)),
                }
            )
            if not done:
                break
            clock = finished
    return applications_table(apps), steps_table(rows)


@pytest.mark.parametrize("as_of", ["2025-10-09", "2026-02-24", "2026-03-02", "2026-05-06"])
def test_the_watch_list_equals_a_naive_day_by_day_recomputation(
    applications_table: Table,
    steps_table: Table,
    clocks: ServiceClocks,
    calendar: WorkingCalendar,
    as_of: str,
) -> None:
    # Given random applications and steps around National Day 2025 and Spring Festival 2026,
    applications, steps = _random_tables(
        int(as_of.replace("-", "")), applications_table, steps_table
    )
    # when the watch list is computed and the same is recomputed day by day,
    watch = watch_list(applications, steps, clocks, calendar, D(as_of))
    expected = _naive(applications, steps, clocks, calendar, D(as_of))
    # then the same steps are clocked, in the same states, overdue and late by as many days.
    days = watch["overdue_working_days"].fillna(watch["late_working_days"])
    got = {
        (a, s): (state, None if pd.isna(n) else int(n))
        for a, s, state, n in zip(
            watch["application_id"], watch["step_code"], watch["state"], days, strict=True
        )
    }
    assert got == expected
    overdue = {key for key, (state, _) in expected.items() if state == "overdue"}
    assert overdue, "the random tables should have overdue steps to compare"
    assert set(watch["state"]) <= set(STATES)


def test_before_any_acceptance_the_watch_list_and_summary_are_empty_but_typed(
    applications_table: Table, clocks: ServiceClocks, calendar: WorkingCalendar
) -> None:
    applications = applications_table([{"application_id": "A1", "accepted_at": "2026-03-09 10:00"}])
    watch = watch_list(applications, no_steps(), clocks, calendar, D("2026-03-09"))
    summary = application_summary(applications, no_steps(), watch, calendar, D("2026-03-09"))
    assert watch.empty and summary.empty
    assert watch["due_date"].dtype == "datetime64[us]" and watch["state"].dtype == "str"
    assert list(summary.columns)[:2] == ["application_id", "unit"]
