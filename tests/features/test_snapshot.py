"""Feature frames: the catalogue's columns, one snapshot equal to the stacked rows, no leakage."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from retention.data.dataset import Dataset
from retention.features.catalogue import Catalogue
from retention.features.labels import ChurnDefinition
from retention.features.snapshot import build_features, build_snapshots, build_training_set
from retention.features.sources import Tables

STAMPS = {
    "monthly_usage": "month",
    "monthly_billing": "month",
    "service_tickets": "opened_at",
    "work_orders": "applied_at",
    "outages": "start_at",
}


def as_known_at(dataset: Dataset, t: pd.Timestamp) -> Dataset:
    """The dataset as the company's systems showed it at T.

    Rows stamped on or after T are gone; what happened to older rows on or after T (a ticket
    closed, an order completed, a bill paid, an account closed) has not happened yet; the
    archive's capacity is the capacity at T.
    """
    tables = {name: frame for name, frame in dataset.tables().items()}
    every_order = tables["work_orders"]
    changed_since = (every_order["completed_at"] >= t) & every_order["order_type"].isin(
        ["capacity_increase", "capacity_reduction"]
    )
    change = every_order[changed_since].groupby("customer_id")["capacity_change_kva"].sum()
    for name, column in STAMPS.items():
        tables[name] = tables[name][tables[name][column] < t].copy()
    bills = tables["monthly_billing"]
    unpaid = bills["paid_date"] >= t
    bills.loc[unpaid, "paid_date"] = pd.NaT
    bills.loc[unpaid, "amount_paid_cny"] = 0.0
    tickets = tables["service_tickets"]
    still_open = tickets["closed_at"] >= t
    tickets.loc[still_open, ["closed_at"]] = pd.NaT
    tickets.loc[still_open, ["satisfaction", "sla_met"]] = pd.NA
    orders = tables["work_orders"]
    later = orders["completed_at"] >= t
    customers = tables["customers"].copy()
    customers["contract_capacity_kva"] -= customers["customer_id"].map(change).fillna(0.0)
    orders.loc[later, "completed_at"] = pd.NaT
    orders.loc[later, "status"] = "open"
    customers.loc[customers["close_date"] >= t, "close_date"] = pd.NaT
    tables["customers"] = customers
    return Dataset(**tables)


def scramble_from(dataset: Dataset, t: pd.Timestamp, seed: int) -> Dataset:
    """Rows stamped on or after T shuffled and their numbers replaced by noise."""
    rng = np.random.default_rng(seed)
    tables = {name: frame for name, frame in dataset.tables().items()}
    for name, column in STAMPS.items():
        frame = tables[name].copy()
        late = (frame[column] >= t).to_numpy()
        for col in frame.columns:
            if col in (
                "customer_id",
                column,
                "capacity_change_kva",
                "status",
                "order_type",
                "completed_at",
            ):
                continue  # keep the accounting of capacity and the stamp itself
            values = frame.loc[late, col].to_numpy()
            if pd.api.types.is_float_dtype(frame[col]):
                values = rng.uniform(0, 2, late.sum()) * np.nanmax(np.abs(values), initial=1)
            else:
                values = rng.permutation(values)
            frame.loc[late, col] = values
        tables[name] = frame
    return Dataset(**tables)


def test_frame_has_every_catalogue_feature(dataset: Dataset, catalogue: Catalogue) -> None:
    frame = build_features(dataset, "2026-06-01", catalogue)
    assert list(frame.columns) == [*catalogue.names(), "in_exit_process", "expected_revenue_cny"]
    assert (frame["expected_revenue_cny"].dropna() > 0).all()
    assert frame.index.name == "customer_id" and frame.index.is_unique
    numeric = [f.name for f in catalogue.features if not f.categorical]
    assert frame[numeric].notna().mean().min() > 0.2  # every feature is computed for most rows
    assert frame["kwh_3m_yoy"].dropna().between(-1, 20).all()


def test_only_active_accounts_are_in_a_snapshot(dataset: Dataset) -> None:
    t = pd.Timestamp("2025-06-01")
    frame = build_features(dataset, t)
    customers = dataset.customers.set_index("customer_id")
    assert (customers.loc[frame.index, "open_date"] < t).all()
    closed = customers.loc[frame.index, "close_date"]
    assert ((closed >= t) | closed.isna()).all()
    not_open_yet = customers.index[customers["open_date"] >= t]
    assert not set(not_open_yet) & set(frame.index)


def test_one_snapshot_equals_its_rows_in_the_stacked_set(tables: Tables) -> None:
    stacked = build_training_set(tables)
    t = stacked.index.get_level_values("snapshot_date").unique()[5]
    alone = build_features(tables, t)
    alone = alone[~alone["in_exit_process"]]
    rows = stacked.xs(t, level="snapshot_date")[alone.columns]
    rows = rows.loc[rows.index.intersection(alone.index)]
    assert len(rows) > 0.9 * len(alone)  # the rest have labels not yet known
    pd.testing.assert_frame_equal(alone.loc[rows.index], rows)


def test_absent_optional_tables_leave_their_features_missing(
    dataset: Dataset, catalogue: Catalogue
) -> None:
    bare = dataclasses.replace(dataset, service_tickets=None, work_orders=None, outages=None)
    frame = build_features(bare, "2026-06-01", catalogue)
    for group in ("service", "reliability"):
        assert frame[catalogue.names(group)].isna().all().all()
    assert frame["kwh_3m_yoy"].notna().mean() > 0.9


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    month=st.integers(min_value=13, max_value=35),
    day=st.sampled_from([1, 1, 9, 23]),
    seed=st.integers(0, 1000),
)
def test_features_at_t_do_not_see_rows_from_t_on(
    dataset: Dataset, catalogue: Catalogue, month: int, day: int, seed: int
) -> None:
    start = dataset.monthly_usage["month"].min()
    t = start + pd.DateOffset(months=month) + pd.Timedelta(days=day - 1)
    full = build_features(dataset, t, catalogue)
    truncated = build_features(as_known_at(dataset, t), t, catalogue)
    scrambled = build_features(scramble_from(dataset, t, seed), t, catalogue)
    point_in_time = [*catalogue.names(point_in_time_only=True), "in_exit_process"]
    pd.testing.assert_frame_equal(full[point_in_time], truncated[point_in_time])
    pd.testing.assert_frame_equal(full[point_in_time], scrambled[point_in_time])


@settings(
    max_examples=6,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(month=st.integers(min_value=14, max_value=28), seed=st.integers(0, 1000))
def test_labels_at_t_do_not_depend_on_rows_before_t(
    dataset: Dataset, month: int, seed: int
) -> None:
    """Scrambling rows before T leaves labels alone; consumption is compared with a year
    earlier by definition, so its rows are scrambled only before T - 12 months."""
    start = dataset.monthly_usage["month"].min()
    t = start + pd.DateOffset(months=month)
    rng = np.random.default_rng(seed)
    tables = {name: frame.copy() for name, frame in dataset.tables().items()}
    usage = tables["monthly_usage"]
    early = usage["month"] < t - pd.DateOffset(months=12)
    usage.loc[early, "kwh_total"] = rng.uniform(0, 1e7, early.sum())
    tickets = tables["service_tickets"]
    before = tickets["opened_at"] < t
    tickets.loc[before, "category"] = rng.permutation(tickets.loc[before, "category"].to_numpy())
    outages = tables["outages"]
    outages = outages[outages["start_at"] >= t]  # every earlier outage deleted
    tables["outages"] = outages
    bills = tables["monthly_billing"]
    bills.loc[bills["month"] < t, "amount_paid_cny"] = 0.0
    changed = Dataset(**tables)

    def labels(ds: Dataset) -> pd.DataFrame:
        return build_snapshots(ds, [t], with_labels=True)[["churn", "churn_type", "churn_date"]]

    original, after = labels(dataset), labels(changed)
    common = original.index.intersection(after.index)
    pd.testing.assert_frame_equal(original.loc[common], after.loc[common])


def test_churn_definition_is_configurable(tables: Tables) -> None:
    everything = build_training_set(tables)
    no_volume = build_training_set(tables, definition=ChurnDefinition(volume_loss=False))
    assert "volume_loss" in set(everything["churn_type"].dropna())
    assert "volume_loss" not in set(no_volume["churn_type"].dropna())
    assert no_volume["churn"].sum() < everything["churn"].sum()
    longer = build_training_set(tables, definition=ChurnDefinition(horizon_months=12))
    assert longer["churn"].mean() > everything["churn"].mean()


def test_definition_rejects_absurd_thresholds() -> None:
    with pytest.raises(ValueError):
        ChurnDefinition(capacity_loss_share=1.5)
    with pytest.raises(ValueError):
        ChurnDefinition(horizon_months=0)


def test_changes_against_industry_peers_are_centred_on_each_industry(
    dataset: Dataset, catalogue: Catalogue
) -> None:
    frame = build_features(dataset, "2026-06-01", catalogue)
    big = frame.groupby("industry_code", observed=True)["kwh_3m_yoy"].transform("count") >= 5
    centred = frame[big].groupby("industry_code", observed=True)["kwh_3m_yoy_vs_industry"]
    assert (centred.median().abs() < 1e-9).all()
    own = (frame["kwh_3m_yoy"] - frame["kwh_3m_yoy_vs_industry"]).round(9)
    # Everyone in an industry is compared with the same number: the industry's median change.
    assert (own[big].groupby(frame.loc[big, "industry_code"], observed=True).nunique() <= 1).all()
