"""The local time of the data: Beijing's zone, and today there."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

LOCAL_TIMEZONE = "Asia/Shanghai"  # zone-aware timestamps brought by users are converted to it


def local_today() -> dt.date:
    """Today in Beijing: due dates and "overdue" turn at local midnight, whatever the host's
    clock zone."""
    return dt.datetime.now(ZoneInfo(LOCAL_TIMEZONE)).date()
