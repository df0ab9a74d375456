"""Reliability (供电可靠性): outages that reached the account, planned and unplanned.

Outages count by their start; hours count for outages that ended before T (an outage still
going on at T has no known length yet).
"""

from __future__ import annotations

import numpy as np

from retention.features.grid import safe_ratio, to_seconds
from retention.features.sources import Columns, Sources

TABLE = "outages"


def features(src: Sources) -> Columns:
    outages = src.dataset.outages
    if outages is None:
        return {}
    grid = src.grid
    year_ago = grid.seconds_before(months=12)
    started = src.events(TABLE, "start_at")
    unplanned = src.events(TABLE, "start_at", ("planned", False))
    ended = src.events(TABLE, "end_at")
    assert started is not None and unplanned is not None and ended is not None
    hours = (to_seconds(outages["end_at"]) - to_seconds(outages["start_at"])) / 3600.0
    count_12m = started.count(start=year_ago)
    return {
        "outages_12m": count_12m,
        "unplanned_outages_6m": unplanned.count(start=grid.seconds_before(months=6)),
        "outage_hours_12m": ended.total(hours, start=year_ago),
        "unplanned_share_12m": safe_ratio(unplanned.count(start=year_ago), count_12m),
        "longest_outage_hours_12m": np.nan_to_num(ended.maximum(hours, start=year_ago)),
    }
