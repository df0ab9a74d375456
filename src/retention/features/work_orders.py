"""Work orders and capacity (业扩报装 / 变更用电): reductions, suspensions, open applications,
increases, transfers and orders slower than the service time limits, all as known at T.

An order counts as completed at T only if its completion is before T; an order applied before
T and completed later was open at T. Cancelled orders carry no cancellation time in the
contract, so they are left out.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from retention.features.grid import (
    NAT,
    SECONDS_PER_DAY,
    EventIndex,
    EventView,
    safe_ratio,
    to_seconds,
)
from retention.features.sources import Columns, Sources

TABLE = "work_orders"
EXIT_TYPES = ("capacity_reduction", "suspension", "closure")


def features(src: Sources) -> Columns:
    orders = src.dataset.work_orders
    if orders is None:
        return {}
    grid = src.grid
    t = grid.t_seconds
    year_ago = grid.seconds_before(months=12)
    live = orders["status"] != "cancelled"

    def done(kind: str) -> EventView:
        index = src.events(TABLE, "completed_at", ("order_type", kind))
        assert index is not None
        return index

    reductions = done("capacity_reduction")
    reduced = reductions.total(
        -np.minimum(np.asarray(orders["capacity_change_kva"], float), 0), start=year_ago
    )
    suspensions, resumptions = done("suspension"), done("resumption")

    # Open exit applications at T: applied before T, not completed before T, not cancelled.
    applied_at = to_seconds(orders["applied_at"])
    completed_at = to_seconds(orders["completed_at"])
    exit_kind = np.asarray(orders["order_type"].isin(EXIT_TYPES) & live, dtype=bool)
    codes = np.where(exit_kind, src.tables.table_codes(TABLE), -1)
    applied = EventIndex.build(codes, applied_at).on(grid)
    completed = EventIndex.build(codes, completed_at).on(grid)
    open_exits = applied.count() - completed.count()

    # Delay beyond the time limit: completed orders by their completion time, open ones at T.
    limits = src.catalogue.order_time_limits_days
    limit_s = orders["order_type"].map(limits).astype(float).to_numpy() * SECONDS_PER_DAY
    took = np.where(completed_at == NAT, np.nan, (completed_at - applied_at).astype(float))
    late_s = np.maximum(took - limit_s, 0.0)
    timed = np.asarray(live, dtype=bool) & ~np.isnan(limit_s)
    all_codes = np.where(timed, src.tables.table_codes(TABLE), -1)
    finished = EventIndex.build(all_codes, completed_at).on(grid)
    delay_done = finished.maximum(late_s / SECONDS_PER_DAY, start=year_ago)
    breached_done = finished.total((late_s > 0).astype(float), start=year_ago)
    # Open orders: the oldest open one per row decides how late it already is at T.
    open_started = EventIndex.build(all_codes, applied_at).on(grid)
    open_limit = _oldest_open_overdue(src, orders, applied_at, completed_at, limit_s, timed)
    delay = np.fmax(delay_done, open_limit[0])
    breached = breached_done + open_limit[1]
    has_orders = open_started.count() > 0

    capacity_t = src.capacity_at(t)
    return {
        "capacity_reductions_12m": reductions.count(start=year_ago),
        "capacity_reduced_share_12m": safe_ratio(reduced, capacity_t + reduced),
        "suspensions_12m": suspensions.count(start=year_ago),
        "suspended_now": (suspensions.count() > resumptions.count()).astype(float),
        "open_change_applications": open_exits,
        "capacity_increases_24m": done("capacity_increase").count(
            start=grid.seconds_before(months=24)
        ),
        "transfers_12m": done("transfer").count(start=year_ago),
        "order_delay_days_12m": np.where(has_orders, np.nan_to_num(delay), np.nan),
        "orders_breached_12m": breached,
    }


def _oldest_open_overdue(
    src: Sources,
    orders: pd.DataFrame,
    applied_at: np.ndarray,
    completed_at: np.ndarray,
    limit_s: np.ndarray,
    timed: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Per row: days the most overdue order open at T is beyond its limit, and how many are.

    Open orders at T are few, so rows and orders are matched directly (a merge on account).
    """
    grid = src.grid
    rows = pd.DataFrame({"row": np.arange(grid.size), "account": grid.account, "t": grid.t_seconds})
    candidates = pd.DataFrame(
        {
            "account": src.tables.table_codes(TABLE),
            "applied": applied_at,
            "completed": completed_at,
            "limit": limit_s,
        }
    )[timed]
    pairs = rows.merge(candidates, on="account")
    open_at_t = (pairs["applied"] < pairs["t"]) & (
        (pairs["completed"] == NAT) | (pairs["completed"] >= pairs["t"])
    )
    pairs = pairs[open_at_t]
    over = (pairs["t"] - pairs["applied"] - pairs["limit"]) / SECONDS_PER_DAY
    pairs = pairs.assign(over=over)
    overdue = pairs[pairs["over"] > 0]
    delay = np.full(grid.size, np.nan)
    count = np.zeros(grid.size)
    if len(overdue):
        worst = overdue.groupby("row")["over"].max()
        delay[worst.index.to_numpy()] = worst.to_numpy()
        n = overdue.groupby("row").size()
        count[n.index.to_numpy()] = n.to_numpy()
    return delay, count
