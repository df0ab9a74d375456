"""Price and bill (电价电费): average price and its change, bill size, power-factor penalties."""

from __future__ import annotations

import numpy as np

from retention.features.grid import relative_change, safe_ratio, window_total
from retention.features.sources import Columns, Sources


def features(src: Sources) -> Columns:
    bills, usage = src.billing, src.usage

    def price(lag: int) -> np.ndarray:
        due = bills.window("amount_due_cny", 3, lag)
        kwh = usage.window("kwh_total", 3, lag)
        both = ~np.isnan(due) & ~np.isnan(kwh)
        return safe_ratio(
            window_total(np.where(both, due, np.nan), 2),
            window_total(np.where(both, kwh, np.nan), 2),
        )

    bill_now = bills.mean("amount_due_cny", 3, min_count=2)
    bill_before = bills.mean("amount_due_cny", 3, lag=12, min_count=2)
    return {
        "avg_price_3m": price(0),
        "avg_price_3m_yoy": relative_change(price(0), price(12)),
        "bill_avg_3m": bill_now,
        "bill_3m_yoy": relative_change(bill_now, bill_before),
        "pf_penalty_months_12m": usage.total("pf_penalty", 12),
    }


def expected_revenue(src: Sources) -> np.ndarray:
    """Expected bills of the next 12 months (元): the last 12 months' average bill, times 12.

    Not a model feature: it turns a churn probability into money at risk.
    """
    return 12.0 * src.billing.mean("amount_due_cny", 12)
