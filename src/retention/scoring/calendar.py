"""Chinese working days: statutory holidays and make-up working days (调休) included.

Years the bundled `chinese_calendar` knows (2004-2026 in 1.11) come from it; later years from a
user-editable holiday file (serving/holidays.yaml, shipped in the package; RETENTION_HOLIDAYS
points at a user's own copy); a year in neither falls back to Monday to Friday, with one
warning naming the year. Never a crash: a due date is always given.
"""

from __future__ import annotations

import datetime as dt
import logging
from functools import lru_cache
from pathlib import Path

import chinese_calendar
import numpy as np
from pydantic import BaseModel, ConfigDict

from retention.settings import Settings, load_yaml_model

log = logging.getLogger(__name__)


class YearArrangement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    holidays: tuple[dt.date, ...] = ()
    workdays: tuple[dt.date, ...] = ()
    provisional: bool = False


class HolidayFile(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    years: dict[int, YearArrangement] = {}


class WorkingCalendar:
    """Is a day a working day, and which is the n-th working day after a date."""

    def __init__(self, holiday_file: Path | None = None) -> None:
        """`holiday_file` default: the RETENTION_HOLIDAYS setting, else the packaged file."""
        holiday_file = holiday_file or Settings().holidays_file
        self.arrangements: dict[int, YearArrangement] = {}
        if holiday_file.exists():
            self.arrangements = dict(
                load_yaml_model(holiday_file, HolidayFile, "holiday file").years
            )
            for year, arrangement in self.arrangements.items():
                wrong = [
                    d for d in (*arrangement.holidays, *arrangement.workdays) if d.year != year
                ]
                if wrong:
                    raise ValueError(
                        f"{holiday_file}: year {year} lists {wrong[0]}, a day of another year"
                    )
        self.fallback_years: set[int] = set()
        self._due: dict[tuple[dt.date, int], dt.date] = {}

    def source(self, year: int) -> str:
        """Where a year's days come from: 'chinese_calendar', 'holiday file' or 'Mon-Fri'."""
        if year in self.arrangements:
            return "holiday file"
        return "chinese_calendar" if _library_knows(year) else "Mon-Fri"

    def is_workday(self, day: dt.date) -> bool:
        # The holiday file wins over the library: a user who copies in a notice is right.
        arrangement = self.arrangements.get(day.year)
        if arrangement is not None:
            if day in arrangement.workdays:
                return True
            return day.weekday() < 5 and day not in arrangement.holidays
        if _library_knows(day.year):
            return bool(chinese_calendar.is_workday(day))
        if day.year not in self.fallback_years:
            self.fallback_years.add(day.year)
            log.warning(
                "no holiday arrangement for %d: counting Monday to Friday as working days "
                "(add the year to a copy of serving/holidays.yaml named by RETENTION_HOLIDAYS) / "
                "%d 年节假日安排缺失，按周一至周五计算工作日"
                "（请在 RETENTION_HOLIDAYS 所指的节假日文件中补充）",
                day.year,
                day.year,
            )
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, days: int) -> dt.date:
        """The `days`-th working day after `start` (start itself does not count)."""
        if days < 0:
            raise ValueError("days must be >= 0")
        key = (start, days)
        if key not in self._due:  # a batch asks the same few questions thousands of times
            day, counted = start, 0
            while counted < days:
                day += dt.timedelta(days=1)
                counted += self.is_workday(day)
            self._due[key] = day
        return self._due[key]

    def cumulative_workdays(self, first: dt.date, last: dt.date) -> np.ndarray:
        """For each day from `first` to `last` (both included), the number of working days in
        [first, that day] (int64): the running count the array arithmetic looks up."""
        if last < first:
            raise ValueError(f"last {last} is before first {first}")
        n = (last - first).days + 1
        flags = np.fromiter(
            (self.is_workday(first + dt.timedelta(days=i)) for i in range(n)), np.int64, n
        )
        return np.cumsum(flags)


def due_dates(calendar: WorkingCalendar, starts: np.ndarray, days: np.ndarray) -> np.ndarray:
    """The `days[i]`-th working day after `starts[i]` (datetime64[D]) for every i: the same
    as `calendar.add_working_days`, for many dates at once."""
    starts = np.asarray(starts, dtype="datetime64[D]")
    days = np.asarray(days, dtype=np.int64)
    if starts.shape != days.shape or starts.ndim != 1:
        raise ValueError("starts and days must be 1-d arrays of the same length")
    if np.isnat(starts).any() or (days < 0).any():
        raise ValueError("starts must be dates and days >= 0")
    if starts.size == 0:
        return starts.copy()
    first = starts.min()
    # Weekends and the longest holiday (Spring Festival) lengthen N working days to about
    # 1.4 N calendar days plus a fortnight; a longer gap (a user's holiday file) extends it.
    reach = int(days.max()) * 7 // 5 + 15
    last = starts.max() + np.timedelta64(reach, "D")
    while True:
        counts = calendar.cumulative_workdays(_date(first), _date(last))
        wanted = counts[(starts - first).astype(np.int64)] + days
        if counts[-1] >= wanted.max():
            break
        last += np.timedelta64(reach, "D")
    # The first day whose running count reaches the start's count plus N is the N-th working
    # day after the start (always after it when N > 0: the start's own count is below it).
    due = first + np.searchsorted(counts, wanted, side="left").astype("timedelta64[D]")
    return np.where(days == 0, starts, due)


def working_days_between(
    calendar: WorkingCalendar, after: np.ndarray, through: np.ndarray
) -> np.ndarray:
    """How many working days lie in (after[i], through[i]] for every i (int64; minus the
    count in (through[i], after[i]] when through[i] is the earlier date)."""
    after = np.asarray(after, dtype="datetime64[D]")
    through = np.asarray(through, dtype="datetime64[D]")
    if after.shape != through.shape or after.ndim != 1:
        raise ValueError("after and through must be 1-d arrays of the same length")
    if np.isnat(after).any() or np.isnat(through).any():
        raise ValueError("after and through must be dates")
    if after.size == 0:
        return np.zeros(0, dtype=np.int64)
    first = min(after.min(), through.min())
    counts = calendar.cumulative_workdays(_date(first), _date(max(after.max(), through.max())))
    at = (through - first).astype(np.int64)
    return counts[at] - counts[(after - first).astype(np.int64)]


def _date(day: np.datetime64) -> dt.date:
    return dt.date.fromisoformat(str(day.astype("datetime64[D]")))


@lru_cache(maxsize=64)
def _library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True
