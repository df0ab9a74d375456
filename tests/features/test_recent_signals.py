"""The latest month's signals: exact values on one hand-made account, nothing from T on.

The account's usage, bills and tickets are written by hand (its other tables are the
simulator's), so each feature's value can be worked out on paper.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from retention.data.dataset import Dataset
from retention.features.catalogue import Catalogue
from retention.features.snapshot import build_features

T = pd.Timestamp("2026-03-01")
LAST = T - pd.DateOffset(months=1)  # February 2026: the last month before T
RECENT = [
    "kwh_last_month_vs_prev_3m",
    "kwh_last_month_yoy_vs_prev_3m",
    "power_factor_last_month_change",
    "days_late_last_bill",
    "complaints_1m",
    "opinions_1m",
    "inquiries_1m",
]


def _usage(frame: pd.DataFrame, future: float) -> pd.DataFrame:
    """100,000 kWh and power factor 0.95 a month; February 2026 60,000 kWh at 0.89; February
    2025 (its month a year earlier) 50,000 kWh; from T on `future`."""
    out = frame.copy()
    month = out["month"]
    out["kwh_total"] = 100_000.0
    out["power_factor"] = 0.95
    out.loc[month == LAST, ["kwh_total", "power_factor"]] = [60_000.0, 0.89]
    out.loc[month == LAST - pd.DateOffset(months=12), "kwh_total"] = 50_000.0
    out.loc[month >= T, ["kwh_total", "power_factor"]] = [future, 0.5]
    return out


def _bills(frame: pd.DataFrame, paid_january_bill: pd.Timestamp) -> pd.DataFrame:
    """Every bill due on the 20th of the month after, paid on the 10th; January 2026's bill
    (due 20 February, the latest due before T) paid on `paid_january_bill`."""
    out = frame.copy()
    out["due_date"] = out["month"] + pd.DateOffset(months=1) + pd.Timedelta(days=19)
    out["paid_date"] = out["month"] + pd.DateOffset(months=1) + pd.Timedelta(days=9)
    out.loc[out["month"] == pd.Timestamp("2026-01-01"), "paid_date"] = paid_january_bill
    out["amount_paid_cny"] = out["amount_due_cny"]
    return out


def _tickets(template: pd.DataFrame, customer_id: str) -> pd.DataFrame:
    """Two complaints, an opinion and an inquiry in February; a complaint in January; a
    complaint and two inquiries from T on."""
    opened = [
        ("2026-02-03 09:00", "complaint"),
        ("2026-02-27 16:00", "complaint"),
        ("2026-02-10 10:00", "opinion"),
        ("2026-02-28 23:59", "inquiry"),
        ("2026-01-31 23:00", "complaint"),
        ("2026-03-01 00:00", "complaint"),
        ("2026-03-05 09:00", "inquiry"),
        ("2026-03-20 09:00", "inquiry"),
    ]
    rows = template.iloc[[0] * len(opened)].copy()
    rows["ticket_id"] = [f"HAND{i:04d}" for i in range(len(opened))]
    rows["customer_id"] = customer_id
    rows["opened_at"] = pd.to_datetime([o for o, _ in opened]).astype(rows["opened_at"].dtype)
    rows["closed_at"] = rows["opened_at"] + pd.Timedelta(hours=2)
    rows["category"] = [c for _, c in opened]
    return rows.reset_index(drop=True)


def _hand_made(dataset: Dataset, future: float, paid_january_bill: str) -> Dataset:
    customers = dataset.customers
    steady = customers[
        (customers["open_date"] < pd.Timestamp("2023-01-01")) & customers["close_date"].isna()
    ]
    account = str(steady["customer_id"].iloc[0])
    one = dataset.only([account])
    assert one.service_tickets is not None
    return dataclasses.replace(
        one,
        monthly_usage=_usage(one.monthly_usage, future),
        monthly_billing=_bills(one.monthly_billing, pd.Timestamp(paid_january_bill)),
        service_tickets=_tickets(dataset.service_tickets, account),  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def hand_made(dataset: Dataset) -> Dataset:
    return _hand_made(dataset, future=1.0, paid_january_bill="2026-03-02")


def test_the_latest_month_is_read_against_the_months_before_it(
    hand_made: Dataset, catalogue: Catalogue
) -> None:
    # Given one account whose February fell to 60% of the 3 months before, and whose
    # February a year earlier was half of the usual
    row = build_features(hand_made, T, catalogue).iloc[0]
    # then the plain change is -40%, and with the season taken out (February 2026 at 1.2
    # times February 2025, the 3 months before at 1.0 times a year earlier) +20%
    assert row["kwh_last_month_vs_prev_3m"] == pytest.approx(-0.4)
    assert row["kwh_last_month_yoy_vs_prev_3m"] == pytest.approx(0.2)
    # and the power factor fell 0.06 below its own 6-month average
    assert row["power_factor_last_month_change"] == pytest.approx(-0.06)


def test_the_latest_bill_due_counts_its_days_late_as_known_at_t(
    dataset: Dataset, hand_made: Dataset, catalogue: Catalogue
) -> None:
    # Given January's bill, due on 20 February, still unpaid at T (paid on 2 March)
    unpaid = build_features(hand_made, T, catalogue).iloc[0]
    # then it is 9 days late at T (20 February to 1 March), whatever was paid later
    assert unpaid["days_late_last_bill"] == pytest.approx(9.0)
    # and paid on 25 February it is 5 days late; paid early, 0
    paid_late = _hand_made(dataset, future=1.0, paid_january_bill="2026-02-25")
    assert build_features(paid_late, T, catalogue).iloc[0]["days_late_last_bill"] == 5.0
    on_time = _hand_made(dataset, future=1.0, paid_january_bill="2026-02-12")
    assert build_features(on_time, T, catalogue).iloc[0]["days_late_last_bill"] == 0.0
    # and on 19 February the latest bill due is December's, paid on 10 January: 0 days;
    # on 22 February it is January's, 2 days late
    on_19th = build_features(hand_made, pd.Timestamp("2026-02-19"), catalogue).iloc[0]
    assert on_19th["days_late_last_bill"] == 0.0
    on_22nd = build_features(hand_made, pd.Timestamp("2026-02-22"), catalogue).iloc[0]
    assert on_22nd["days_late_last_bill"] == pytest.approx(2.0)


def test_last_months_tickets_count_by_type(hand_made: Dataset, catalogue: Catalogue) -> None:
    row = build_features(hand_made, T, catalogue).iloc[0]
    # February's tickets only: January's complaint and the tickets from T on are not counted
    assert (row["complaints_1m"], row["opinions_1m"], row["inquiries_1m"]) == (2.0, 1.0, 1.0)
    assert row["complaints_3m"] == 3.0  # the 3-month count sees January's


def test_nothing_from_t_on_moves_the_latest_months_features(
    dataset: Dataset, hand_made: Dataset, catalogue: Catalogue
) -> None:
    # Given the same account with March's consumption a hundred times larger
    changed = _hand_made(dataset, future=1e7, paid_january_bill="2026-03-02")
    # then none of the recent features at T differ
    before = build_features(hand_made, T, catalogue)[RECENT]
    after = build_features(changed, T, catalogue)[RECENT]
    pd.testing.assert_frame_equal(before, after)
    assert np.isfinite(before.to_numpy(dtype=float)).all()
