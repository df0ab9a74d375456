"""The simulated applicants: linked to the engine's accounts, honest withdrawal truth."""

from __future__ import annotations

import pandas as pd
import pytest
from rich.console import Console
from sklearn.metrics import roc_auc_score

from retention.applications.clocks import load_service_clocks
from retention.applications.watch import known_steps, open_applications, watch_list
from retention.data.simulator import (
    SimulationConfig,
    SimulationResult,
    _engine_tables,
    _run_engine,
    simulate,
    summarise,
)
from retention.data.simulator.applicants import APPLICATION_HORIZON_MONTHS, STEPS
from retention.scoring.calendar import WorkingCalendar

SMALL = SimulationConfig(accounts=400, months=24, seed=31)
CLOCKS = load_service_clocks()
CALENDAR = WorkingCalendar()


@pytest.fixture(scope="module")
def small() -> SimulationResult:
    return simulate(SMALL)


@pytest.fixture(scope="module")
def mid_size() -> SimulationResult:
    """Enough applications (about 1,500) for rates to mean something."""
    return simulate(SimulationConfig(accounts=8000, months=36, seed=5))


def _labelled(result: SimulationResult) -> pd.DataFrame:
    """The oracle's rows whose horizon ends by the extract, with what happened."""
    oracle = result.truth["application_withdrawal"]
    apps = result.tables["applications"].set_index("application_id")
    end = oracle["snapshot_date"] + pd.DateOffset(months=APPLICATION_HORIZON_MONTHS)
    closed = oracle["application_id"].map(apps["closed_at"])
    withdrawn = oracle["application_id"].map(apps["status"]).eq("withdrawn")
    left = withdrawn & (closed >= oracle["snapshot_date"]) & (closed < end)
    frame = oracle.assign(withdrew=left.astype(int))
    return frame[end <= result.config.extract_date]


def test_same_seed_same_applicants_other_seed_other(small: SimulationResult) -> None:
    again = simulate(SMALL)
    for name in ("applications", "application_steps", "work_orders"):
        pd.testing.assert_frame_equal(small.tables[name], again.tables[name])
    for name in ("application_withdrawal", "applicants"):
        pd.testing.assert_frame_equal(small.truth[name], again.truth[name])
    other = simulate(SimulationConfig(accounts=400, months=24, seed=32))
    assert not other.tables["applications"]["accepted_at"].equals(
        small.tables["applications"]["accepted_at"]
    )


def test_the_engines_tables_are_unchanged_but_linked_orders_applied_at(
    small: SimulationResult,
) -> None:
    # Given the engine's own tables, drawn from the same seed without applicants
    before = _engine_tables(SMALL, *_run_engine(SMALL))
    after = small.tables
    # Then every table but work_orders is identical, and work_orders differ only in applied_at
    for name, frame in before.items():
        if name != "work_orders":
            pd.testing.assert_frame_equal(after[name], frame)
    orders = after["work_orders"]
    pd.testing.assert_frame_equal(
        orders.drop(columns="applied_at"), before["work_orders"].drop(columns="applied_at")
    )
    moved = orders["applied_at"] != before["work_orders"]["applied_at"]
    assert moved.any()
    assert orders.loc[moved, "order_type"].isin(["new_connection", "capacity_increase"]).all()
    assert (orders.loc[moved, "status"] == "completed").all()
    # ... to the accepted_at of the application that ends in the order's completion
    apps = after["applications"]
    connected = apps[apps["status"] == "connected"]
    accepted = set(zip(connected["customer_id"], connected["accepted_at"], strict=True))
    linked = orders.loc[moved, ["customer_id", "applied_at"]]
    assert all(pair in accepted for pair in zip(*linked.T.to_numpy(), strict=True))


def test_every_account_opened_in_the_data_is_a_connected_application(
    small: SimulationResult,
) -> None:
    customers = small.tables["customers"].set_index("customer_id")
    apps = small.tables["applications"]
    steps = small.tables["application_steps"]
    start = pd.Timestamp(SMALL.start)
    opened = set(customers.index[customers["open_date"] >= start])
    new = apps[(apps["application_type"] == "new_connection") & (apps["status"] == "connected")]
    assert set(new["customer_id"]) == opened
    assert new["customer_id"].is_unique
    energised = steps[steps["step_code"] == "energising"].set_index("application_id")
    finished = new["application_id"].map(energised["finished_at"])
    assert (finished.dt.normalize() == new["customer_id"].map(customers["open_date"])).all()
    assert (finished == new["closed_at"]).all()
    # Increases: of an existing customer, ending at a completed increase order's completion
    increases = apps[apps["application_type"] == "capacity_increase"]
    assert increases["customer_id"].isin(customers.index).all()
    orders = small.tables["work_orders"]
    done = orders[(orders["order_type"] == "capacity_increase") & (orders["status"] == "completed")]
    ends = set(zip(done["customer_id"], done["completed_at"], strict=True))
    connected = increases[increases["status"] == "connected"]
    assert len(connected) > 0
    assert all(
        pair in ends for pair in zip(connected["customer_id"], connected["closed_at"], strict=True)
    )
    # Withdrawn new connections are other applicants: no customer
    withdrawn = apps[
        (apps["application_type"] == "new_connection") & (apps["status"] != "connected")
    ]
    assert withdrawn["customer_id"].isna().all()


def test_applications_and_steps_keep_their_times_in_order(small: SimulationResult) -> None:
    apps = small.tables["applications"]
    steps = small.tables["application_steps"].merge(
        apps[["application_id", "accepted_at", "status", "closed_at"]], on="application_id"
    )
    assert apps["application_id"].is_unique
    assert apps["accepted_at"].is_monotonic_increasing
    assert ((apps["status"] == "open") == apps["closed_at"].isna()).all()
    assert (apps["closed_at"].dropna() >= apps.loc[apps["closed_at"].notna(), "accepted_at"]).all()
    assert set(apps["status"]) == {"open", "connected", "withdrawn"}
    assert (steps["started_at"] >= steps["accepted_at"]).all()
    finished = steps["finished_at"].notna()
    assert (steps.loc[finished, "finished_at"] >= steps.loc[finished, "started_at"]).all()
    assert steps["step_code"].isin(STEPS).all()
    assert not steps.duplicated(["application_id", "step_code"]).any()
    # Withdrawn: nothing finishes after the withdrawal, and never the energising
    gone = steps[steps["status"] == "withdrawn"]
    assert (
        gone["finished_at"].dropna() <= gone.loc[gone["finished_at"].notna(), "closed_at"]
    ).all()
    assert gone.loc[gone["step_code"] == "energising", "finished_at"].isna().all()
    # Dispatch only for dual supply or >= 35 kV, design review only from 10 kV
    with_steps = steps.merge(
        apps[["application_id", "voltage_kv", "supply_type"]], on="application_id"
    )
    dispatch = with_steps[with_steps["step_code"] == "dispatch_agreement"]
    assert ((dispatch["voltage_kv"] >= 35) | (dispatch["supply_type"] == "dual")).all()
    assert (with_steps.loc[with_steps["step_code"] == "design_review", "voltage_kv"] >= 10).all()


def test_the_truth_covers_every_open_month_of_every_application(small: SimulationResult) -> None:
    oracle = small.truth["application_withdrawal"]
    apps = small.tables["applications"].set_index("application_id")
    traits = small.truth["applicants"]
    assert set(traits["application_id"]) == set(apps.index)
    assert traits[["impatience", "channel_fit"]].gt(0).all().all()
    assert oracle["probability"].between(0, 1).all()
    assert (oracle["snapshot_date"].dt.day == 1).all()
    accepted = oracle["application_id"].map(apps["accepted_at"])
    closed = oracle["application_id"].map(apps["closed_at"])
    assert (accepted < oracle["snapshot_date"]).all()
    assert (closed.isna() | (closed >= oracle["snapshot_date"])).all()
    # The open ones at the extract have a row there
    extract = SMALL.extract_date
    at_extract = oracle[oracle["snapshot_date"] == extract]["application_id"]
    assert set(at_extract) == set(apps.index[apps["status"] == "open"])


def test_the_summary_counts_applications_by_status(small: SimulationResult) -> None:
    summary = summarise(small)
    counts = small.tables["applications"]["status"].value_counts()
    assert summary.applications_by_status == {
        s: int(counts.get(s, 0)) for s in summary.applications_by_status
    }
    console = Console(record=True, width=120)
    summary.print(console)
    assert "已撤销 withdrawn" in console.export_text()


def _clock_state(result: SimulationResult, snapshot: pd.Timestamp) -> pd.DataFrame:
    """Per application open at the snapshot, by the shipped clocks' watch list: a clock
    breached (finished late or overdue), documents asked for again; and whether it withdrew
    within the horizon."""
    apps, steps = result.tables["applications"], result.tables["application_steps"]
    watched = watch_list(apps, steps, CLOCKS, CALENDAR, snapshot.date())
    breached = watched.groupby("application_id")["state"].agg(
        lambda s: s.isin(["late", "overdue"]).any()
    )
    begun = known_steps(steps, snapshot.date())
    asked_again = begun.groupby("application_id")["document_requests"].max() > 1
    opened = open_applications(apps, snapshot.date()).set_index("application_id")
    end = snapshot + pd.DateOffset(months=APPLICATION_HORIZON_MONTHS)
    withdrew = (opened["status"] == "withdrawn") & (opened["closed_at"] < end)
    return pd.DataFrame(
        {
            "breached": breached.reindex(opened.index, fill_value=False).astype(bool),
            "asked_again": asked_again.reindex(opened.index, fill_value=False).astype(bool),
            "withdrew": withdrew,
        }
    )


@pytest.mark.slow
def test_withdrawal_rises_with_breached_clocks_and_repeated_requests(
    mid_size: SimulationResult,
) -> None:
    # Given the applications open at each monthly snapshot whose horizon the data cover
    last = mid_size.config.extract_date - pd.DateOffset(months=APPLICATION_HORIZON_MONTHS)
    snapshots = pd.date_range(mid_size.config.start, last, freq="MS")[1:]
    # When they are split by what the data show then (the shipped clocks' watch list)
    state = pd.concat([_clock_state(mid_size, d) for d in snapshots])
    # Then those with a breached clock or repeated requests withdraw more often
    rate = state.groupby("breached")["withdrew"].mean()
    assert rate[True] > 1.5 * rate[False]
    rate = state.groupby("asked_again")["withdrew"].mean()
    assert rate[True] > 1.3 * rate[False]


@pytest.mark.slow
def test_the_oracle_is_calibrated_and_sharp(mid_size: SimulationResult) -> None:
    labelled = _labelled(mid_size)
    assert len(labelled) > 3000
    realised, predicted = labelled["withdrew"].mean(), labelled["probability"].mean()
    assert abs(realised - predicted) < 0.15 * realised
    assert roc_auc_score(labelled["withdrew"], labelled["probability"]) > 0.75
    # Hidden traits matter: the impatient and the poorly served withdraw more
    traits = mid_size.truth["applicants"]
    closed = traits[traits["outcome_at"] < mid_size.config.extract_date]
    withdrew = closed["outcome"] == "withdrawn"
    assert withdrew[closed["impatience"] > closed["impatience"].median()].mean() > withdrew.mean()
    assert withdrew[closed["channel_fit"] < 0.6].mean() > withdrew.mean()


@pytest.mark.slow
def test_arrivals_peak_in_spring_and_dip_at_the_spring_festival(
    mid_size: SimulationResult,
) -> None:
    accepted = mid_size.tables["applications"]["accepted_at"]
    accepted = accepted[accepted >= pd.Timestamp(mid_size.config.start)]
    per_month = accepted.dt.month.value_counts()
    assert per_month[[3, 4, 5]].mean() > 1.1 * per_month[[6, 7, 8, 9, 10, 11]].mean()
    assert per_month[2] < per_month[[6, 7, 8, 9, 10, 11]].mean()
