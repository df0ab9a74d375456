"""Due dates in Chinese working days: holidays, make-up workdays, later years, the fallback."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import numpy as np
import pytest

from retention.scoring.calendar import WorkingCalendar, due_dates, working_days_between

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


def _random_days(seed: int, n: int) -> np.ndarray:
    # 2024-2028: chinese_calendar's years, the shipped file's 2027 and the Mon-Fri 2028.
    offsets = np.random.default_rng(seed).integers(0, 5 * 365, n)
    return np.datetime64("2024-01-01") + offsets.astype("timedelta64[D]")


def _as_date(day: np.datetime64) -> dt.date:
    return D(str(day.astype("datetime64[D]")))


def test_due_dates_on_arrays_equal_add_working_days_on_many_random_dates() -> None:
    # Given 3,000 random start dates over five years and limits of 0 to 45 working days,
    calendar = WorkingCalendar()
    starts = _random_days(1, 3000)
    days = np.random.default_rng(2).integers(0, 46, 3000)
    # when their due dates are computed at once,
    due = due_dates(calendar, starts, days)
    # then each is the one the day-by-day count gives.
    expected = [
        calendar.add_working_days(_as_date(s), int(n)) for s, n in zip(starts, days, strict=True)
    ]
    assert [_as_date(d) for d in due] == expected


def test_working_days_between_arrays_count_the_days_after_one_date_through_another() -> None:
    calendar = WorkingCalendar()
    after = _random_days(3, 2000)
    through = after + np.random.default_rng(4).integers(-40, 80, 2000).astype("timedelta64[D]")
    counted = working_days_between(calendar, after, through)
    for a, t, n in zip(after, through, counted, strict=True):
        first, last = sorted((_as_date(a), _as_date(t)))
        days = sum(
            calendar.is_workday(first + dt.timedelta(days=i))
            for i in range(1, (last - first).days + 1)
        )
        assert n == (days if t >= a else -days)


def test_array_arithmetic_around_national_day_2025_and_its_make_up_days() -> None:
    calendar = WorkingCalendar()
    starts = np.array(["2025-09-26", "2025-09-30", "2025-10-10"], dtype="datetime64[D]")
    due = due_dates(calendar, starts, np.array([1, 1, 2]))
    # Sunday 09-28 and Saturday 10-11 are worked (调休); 10-01..10-08 are off.
    assert due.tolist() == [D("2025-09-28"), D("2025-10-09"), D("2025-10-13")]
    assert working_days_between(calendar, starts[:1], due[1:2]).tolist() == [4]


def test_a_start_whose_reach_a_long_holiday_outruns_is_still_counted(tmp_path: Path) -> None:
    # A user's file that closes a whole month: the first guess of the range falls short.
    holidays = tmp_path / "holidays.yaml"
    july = ", ".join(f"2030-07-{d:02d}" for d in range(1, 32))
    holidays.write_text(f"years:\n  2030:\n    holidays: [{july}]\n", encoding="utf-8")
    calendar = WorkingCalendar(holidays)
    due = due_dates(calendar, np.array(["2030-06-28"], dtype="datetime64[D]"), np.array([1]))
    assert due.tolist() == [calendar.add_working_days(D("2030-06-28"), 1)] == [D("2030-08-01")]


def test_empty_arrays_and_bad_input() -> None:
    calendar = WorkingCalendar()
    empty = np.array([], dtype="datetime64[D]")
    assert due_dates(calendar, empty, np.array([], dtype=np.int64)).size == 0
    assert working_days_between(calendar, empty, empty).size == 0
    with pytest.raises(ValueError, match="days >= 0"):
        due_dates(calendar, np.array(["2026-01-05"], dtype="datetime64[D]"), np.array([-1]))
