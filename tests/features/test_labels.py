"""Labels agree with the simulator's truth; accounts already leaving are set apart."""

from __future__ import annotations

import pandas as pd

from retention.data.simulator import SimulationResult
from retention.features.labels import ChurnDefinition
from retention.features.snapshot import build_snapshots, training_snapshots
from retention.features.sources import Tables


def _with_truth(tables: Tables, simulation: SimulationResult) -> pd.DataFrame:
    snapshots = training_snapshots(tables, ChurnDefinition())
    frame = build_snapshots(tables, snapshots, with_labels=True).reset_index()
    events = simulation.truth["churn_events"].set_index("customer_id")
    when = frame["customer_id"].map(events["event_date"])
    end = frame["snapshot_date"] + pd.DateOffset(months=6)
    frame["truth"] = ((when >= frame["snapshot_date"]) & (when < end)).astype(int)
    frame["truth_type"] = frame["customer_id"].map(events["churn_type"]).where(frame["truth"] == 1)
    frame["truth_date"] = when.where(frame["truth"] == 1)
    # Compare on the rows the truth also counts as active (oracle rows).
    oracle = simulation.truth["churn_probability"][["customer_id", "snapshot_date"]]
    return frame.merge(oracle, on=["customer_id", "snapshot_date"])


def test_labels_agree_with_the_simulators_churn_events(
    tables: Tables, simulation: SimulationResult
) -> None:
    frame = _with_truth(tables, simulation)
    known = frame[frame["churn"].notna()]
    assert len(known) > 0.99 * len(frame)
    agree = (known["churn"].astype(int) == known["truth"]).mean()
    assert agree > 0.995
    positives = known[known["truth"] == 1]
    assert len(positives) > 200
    assert (positives["churn"] == 1).mean() > 0.97  # truth churn is found
    both = known[(known["churn"] == 1) & (known["truth"] == 1)]
    assert (both["churn_type"] == both["truth_type"]).mean() > 0.98
    same_day = both["churn_date"].dt.normalize() == both["truth_date"]
    volume = both["churn_type"] == "volume_loss"
    assert same_day[~volume].mean() > 0.98
    # A volume loss is confirmed by three low months inside the window: when the load had
    # already left a month or two before T, the label's confirmation comes that much later;
    # a deep decline before the load left (or a festival dip) can confirm it a little earlier.
    lag = (both["churn_date"] - both["truth_date"])[volume]
    assert (lag == pd.Timedelta(0)).mean() > 0.6
    assert (lag.abs() <= pd.Timedelta(days=62)).mean() > 0.93


def test_accounts_in_exit_process_are_flagged_and_kept_out_of_training(
    tables: Tables, simulation: SimulationResult
) -> None:
    snapshots = training_snapshots(tables, ChurnDefinition())
    frame = build_snapshots(tables, snapshots, with_labels=True)
    leaving = frame[frame["in_exit_process"]]
    assert len(leaving) > 5
    # They are leaving: nearly all of them churn within the horizon.
    assert leaving["churn"].dropna().mean() > 0.9
    # The oracle agrees: the hidden state of an exit in process is E.
    oracle = simulation.truth["churn_probability"].set_index(["snapshot_date", "customer_id"])
    states = oracle.reindex(leaving.index)["hidden_state"].dropna()
    assert (states == "E").mean() > 0.9
    from retention.features.snapshot import build_training_set

    training = build_training_set(tables)
    assert not training["in_exit_process"].any()
    assert training["churn"].notna().all()


def test_no_label_where_the_window_runs_past_the_data(tables: Tables) -> None:
    end = tables.data_end
    late = end - pd.DateOffset(months=3)
    frame = build_snapshots(tables, [late], with_labels=True)
    assert frame["churn"].isna().all()
