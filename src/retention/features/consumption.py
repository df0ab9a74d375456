"""Consumption (用电量): level, trends over 3/6/12 months and year on year, the latest month
against the months before it, time-of-use shape, demand against capacity, power factor."""

from __future__ import annotations

import numpy as np

from retention.features.grid import relative_change, safe_ratio
from retention.features.sources import Columns, Sources


def features(src: Sources) -> Columns:
    usage = src.usage
    mean = {
        (w, lag): usage.mean("kwh_total", w, lag, min_count=(w + 1) // 2)
        for w in (3, 6, 12)
        for lag in (0, 12)
    }
    prev3 = usage.mean("kwh_total", 3, lag=3, min_count=2)
    # The latest month against the 3 before it: a step down of the last month or two would
    # be diluted to a third or less in the 3-month windows.
    last = usage.window("kwh_total", 1)[:, 0]
    before_last = usage.mean("kwh_total", 3, lag=1, min_count=2)
    last_yoy = usage.window("kwh_yoy", 1)[:, 0]
    before_last_yoy = usage.mean("kwh_yoy", 3, lag=1, min_count=2)
    # Volatility of the year-on-year ratio over 12 months, from running sums of log and square.
    n = usage.observed("kwh_log_yoy", 12)
    mean_log = usage.mean("kwh_log_yoy", 12)
    volatility = np.where(
        n >= 6, np.sqrt(np.maximum(usage.mean("kwh_log_yoy_sq", 12) - mean_log**2, 0.0)), np.nan
    )

    peak_share = safe_ratio(
        usage.mean("kwh_peak", 3, min_count=2), usage.mean("kwh_total_tou", 3, min_count=2)
    )
    peak_share_before = safe_ratio(
        usage.mean("kwh_peak", 3, 12, min_count=2), usage.mean("kwh_total_tou", 3, 12, min_count=2)
    )
    capacity = src.capacity_at(src.grid.t_seconds)
    last6 = usage.window("kwh_total", 6)
    typical = mean[(12, 0)]

    return {
        "kwh_avg_3m": mean[(3, 0)],
        "kwh_3m_yoy": relative_change(mean[(3, 0)], mean[(3, 12)]),
        "kwh_6m_yoy": relative_change(mean[(6, 0)], mean[(6, 12)]),
        "kwh_12m_yoy": relative_change(mean[(12, 0)], mean[(12, 12)]),
        "kwh_last_month_yoy": usage.window("kwh_yoy", 1)[:, 0] - 1.0,
        "kwh_3m_vs_prev_3m": relative_change(mean[(3, 0)], prev3),
        "kwh_last_month_vs_prev_3m": relative_change(last, before_last),
        # The same step with the season taken out: each month against a year earlier first.
        "kwh_last_month_yoy_vs_prev_3m": relative_change(last_yoy, before_last_yoy),
        "kwh_low_months_6m": usage.total("kwh_low_yoy", 6),
        "kwh_volatility_12m": volatility,
        "peak_share_3m": peak_share,
        "valley_share_3m": safe_ratio(
            usage.mean("kwh_valley", 3, min_count=2), usage.mean("kwh_total_tou", 3, min_count=2)
        ),
        "peak_share_change_yoy": peak_share - peak_share_before,
        "demand_to_capacity_3m": safe_ratio(usage.mean("max_demand_kw", 3), capacity),
        "power_factor_3m": usage.mean("power_factor", 3),
        # Against the account's own usual factor (which differs a lot between accounts).
        "power_factor_last_month_change": usage.window("power_factor", 1)[:, 0]
        - usage.mean("power_factor", 6, lag=1, min_count=3),
        "near_zero_months_6m": np.where(
            np.isnan(typical), np.nan, (last6 < 0.1 * typical[:, None]).sum(axis=1)
        ),
    }
