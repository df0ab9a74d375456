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


@lru_cache(maxsize=64)
def _library_knows(year: int) -> bool:
    try:
        chinese_calendar.is_workday(dt.date(year, 6, 1))
    except NotImplementedError:
        return False
    return True
