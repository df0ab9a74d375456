"""Payment (缴费): late and partial payments, days late, arrears, all as known at T.

A bill paid on or after T was unpaid at T, whatever the archive says today.
"""

from __future__ import annotations

import numpy as np

from retention.features.grid import SECONDS_PER_DAY, safe_ratio
from retention.features.sources import Columns, Sources


def features(src: Sources) -> Columns:
    bills = src.billing
    t = src.grid.t_seconds[:, None].astype(float)
    # One pass over the last 12 bills; the 6-month figures are its last 6 columns.
    due = bills.window("amount_due_cny", 12)
    paid = bills.window("amount_paid_cny", 12)
    due_at = bills.window("due_seconds", 12)
    paid_at = bills.window("paid_seconds", 12)
    billed = ~np.isnan(due)
    fallen_due = billed & (due_at < t)
    paid_by_t = paid_at < t  # NaN (unpaid) compares False
    late_days = (np.where(paid_by_t, paid_at, t) - due_at) / SECONDS_PER_DAY
    late = fallen_due & (late_days >= 1)
    owed = np.where(fallen_due, np.where(paid_by_t, np.maximum(due - paid, 0.0), due), 0.0)
    partial = paid_by_t & (paid < 0.99 * due)

    any6, any12 = billed[:, 6:].any(axis=1), billed.any(axis=1)
    due6 = fallen_due[:, 6:]
    n_due6 = due6.sum(axis=1)
    days6 = np.where(due6, np.maximum(late_days[:, 6:], 0.0), 0.0).sum(axis=1)
    arrears = np.where(any12, owed.sum(axis=1), np.nan)
    # The latest bill that fell due before T (a bill falls due the month after it is billed):
    # one late bill counts for little in six months, but it is news when it is the last one.
    latest = fallen_due.shape[1] - 1 - np.argmax(fallen_due[:, ::-1], axis=1)
    latest_days = np.maximum(late_days[np.arange(latest.size), latest], 0.0)
    return {
        "late_bills_6m": np.where(any6, late[:, 6:].sum(axis=1), np.nan),
        "days_late_avg_6m": np.where(n_due6 > 0, days6 / np.maximum(n_due6, 1), np.nan),
        "arrears_cny": arrears,
        "arrears_to_bill": safe_ratio(arrears, bills.mean("amount_due_cny", 12)),
        "partial_payments_12m": np.where(any12, partial.sum(axis=1), np.nan),
        "days_late_last_bill": np.where(fallen_due.any(axis=1), latest_days, np.nan),
    }
