"""Due dates in Chinese working days: holidays, make-up workdays, later years, the fallback."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest

from retention.scoring.calendar import WorkingCalendar

D = dt.date.fromisoformat


def test_national_day_2026_and_the_october_10_make_up_workday() -> None:
    calendar = WorkingCalendar()
    assert not calendar.is_workday(D("2026-10-01")) and not calendar.is_workday(D("2026-10-07"))
    assert calendar.is_workday(D("2026-10-10"))  # a Saturday worked in exchange (调休)
    start = D("2026-09-30")
    assert calendar.add_working_days(start, 1) == D("2026-10-08")
    assert calendar.add_working_days(start, 3) == D("2026-10-10")
    assert calendar.add_working_days(start, 5) == D("2026-10-13")
    assert calendar.add_working_days(D("2026-10-09"), 1) == D("2026-10-10")


def test_a_2027_date_uses_the_holiday_file(tmp_path: Path) -> None:
    holidays = tmp_path / "holidays.yaml"
    holidays.write_text(
        "years:\n  2027:\n    holidays: [2027-01-01, 2027-01-04]\n    workdays: [2027-01-09]\n",
        encoding="utf-8",
    )
    calendar = WorkingCalendar(holidays)
    assert calendar.source(2027) == "holiday file" and calendar.source(2026) == "chinese_calendar"
    # Thursday 2026-12-31 + 1 working day: Friday 01-01 and Monday 01-04 are off.
    assert calendar.add_working_days(D("2026-12-31"), 1) == D("2027-01-05")
    assert calendar.is_workday(D("2027-01-09"))  # a Saturday worked


def test_a_year_nobody_knows_falls_back_to_weekdays_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    calendar = WorkingCalendar(tmp_path / "absent.yaml")
    with caplog.at_level(logging.WARNING):
        due = calendar.add_working_days(D("2027-01-01"), 3)  # Friday
        calendar.add_working_days(D("2027-03-01"), 3)
    assert due == D("2027-01-06")
    warnings = [r for r in caplog.records if "2027" in r.getMessage()]
    assert len(warnings) == 1  # once per year, naming it
    assert calendar.source(2027) == "Mon-Fri"


def test_the_shipped_holiday_file_covers_2027() -> None:
    calendar = WorkingCalendar()
    assert calendar.source(2027) == "holiday file"
    assert not calendar.is_workday(D("2027-10-01"))


def test_a_holiday_file_listing_the_wrong_year_is_refused(tmp_path: Path) -> None:
    holidays = tmp_path / "holidays.yaml"
    holidays.write_text("years:\n  2027:\n    holidays: [2028-01-01]\n", encoding="utf-8")
    with pytest.raises(ValueError, match="year 2027 lists 2028-01-01"):
        WorkingCalendar(holidays)
