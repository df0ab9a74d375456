"""`retention monitor`: drift against the training reference and the retrain signal."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationConfig, simulate
from retention.features.labels import ChurnDefinition
from retention.features.snapshot import build_snapshots
from retention.monitoring.job import run_monitoring
from retention.scoring.job import run_scoring
from retention.store.batches import batch_scores
from retention.store.monitoring import latest_report

PRICE_FEATURES = {"avg_price_3m", "avg_price_3m_yoy"}


def _labels(dataset: Dataset, snapshot: str) -> pd.Series:
    """Churn (0/1, NaN when unknown) of every account active at the snapshot, by the
    contract's default definition: recomputed here, apart from the monitor."""
    frame = build_snapshots(
        dataset, [snapshot], definition=ChurnDefinition(horizon_months=6), with_labels=True
    )
    return frame.droplevel("snapshot_date")["churn"]


@pytest.mark.parametrize("month", ["stable-2026-10", "stable-2026-11"])
def test_two_consecutive_stable_months_raise_no_alarm(monitored, month: str) -> None:  # type: ignore[no-untyped-def]
    summary = monitored.runs[month].summary.model_dump(mode="json")  # as stored and served
    assert summary["reference"]["source"] == "训练样本 / training reference sample"
    assert summary["drift"]["features_compared"] > 50
    assert not summary["retrain_recommended"], summary["reasons"]
    assert summary["drift"]["drifted_share"] < monitored.settings.drift_share
    assert not summary["drift"]["score_drifted"]
    assert not PRICE_FEATURES & set(summary["drift"]["drifted"])


def test_a_tariff_reform_is_flagged_and_retraining_recommended(monitored) -> None:  # type: ignore[no-untyped-def]
    summary = monitored.runs["shifted"].summary.model_dump(mode="json")
    # the reformed prices are the drifted features, most drifted first
    assert set(summary["drift"]["drifted"]) >= PRICE_FEATURES
    assert summary["drift"]["features"][0]["feature"] in PRICE_FEATURES
    assert summary["retrain_recommended"]
    (reason,) = [r for r in summary["reasons"] if r["code"] == "feature_drift"]
    assert "avg_price_3m" in reason["text_en"] and "分布偏离训练参照" in reason["text_zh"]
    # the same accounts a month before the reform's first bills are stable
    stable = monitored.runs["stable-2026-11"].summary.model_dump(mode="json")["drift"]["features"]
    psi = {f["feature"]: f["psi"] for f in stable}
    assert all(psi[f] < 0.2 for f in PRICE_FEATURES)


def test_reports_are_written_logged_to_the_models_run_and_stored(monitored) -> None:  # type: ignore[no-untyped-def]
    run = monitored.runs["shifted"]
    drift = run.reports["drift"]
    assert drift.parent == monitored.settings.reports_dir
    html = drift.read_text(encoding="utf-8")
    assert "avg_price_3m" in html and '<script src="http' not in html
    # the page says what it compares: the batch, and the reference as a sample
    assert f"批次 / batch {run.batch.id}" in html
    assert f"a sample of {run.summary.reference.rows:,} rows" in html
    assert not list(drift.parent.glob(".*.tmp"))  # written whole, nothing left half-written
    stem = drift.name.removesuffix("-drift.html")  # batch-<id>-<snapshot>-<run time>
    assert stem.startswith(run.batch.label)
    logged = MlflowClient().list_artifacts(run.summary.mlflow_run_id, f"monitoring/{stem}")
    assert {p.path.rsplit("/", 1)[-1] for p in logged} == {drift.name, "summary.json"}
    stored = latest_report(monitored.engine)
    assert stored is not None and stored.id == run.report_id
    assert stored.retrain_recommended and stored.summary == run.summary  # read back whole


def test_a_batch_whose_horizon_has_not_passed_has_no_realised_churn(monitored) -> None:  # type: ignore[no-untyped-def]
    summary = monitored.runs["stable-2026-11"].summary.model_dump(mode="json")
    assert summary["realised"] is None
    assert summary["matures_on"] == "2027-05-01"
    assert "realised" not in monitored.runs["stable-2026-11"].reports


def test_a_matured_batch_compares_realised_churn_with_predicted(monitored) -> None:  # type: ignore[no-untyped-def]
    run = monitored.runs["matured"]
    realised = run.summary.model_dump(mode="json")["realised"]
    assert realised is not None and run.reports["realised"].is_file()
    # recomputed here from the stored batch and the contract's churn definition
    scores = batch_scores(monitored.engine, run.batch.id, ["customer_id", "band", "probability"])
    labels = _labels(monitored.dataset, "2026-04-01")
    frame = scores.set_index("customer_id").join(labels.dropna(), how="inner")
    listed = frame[frame["band"] != "exit"]
    assert realised["accounts"] == len(listed)
    assert realised["churned"] == int(listed["churn"].sum())
    high = frame[frame["band"] == "high"]
    (row,) = [b for b in realised["by_band"] if b["band"] == "high"]
    assert row["accounts"] == len(high) and row["churned"] == int(high["churn"].sum())
    assert row["predicted_rate"] == pytest.approx(high["probability"].mean())
    assert realised["roc_auc"] > 0.6
    # the model ranks the high band far above the low band, as at training
    rates = {b["band"]: b["realised_rate"] for b in realised["by_band"]}
    assert rates["high"] > 3 * rates["low"]


def test_monitoring_an_unknown_batch_or_a_foreign_dataset_says_so(monitored) -> None:  # type: ignore[no-untyped-def]
    from retention.monitoring.job import MonitorError
    from retention.store.batches import BatchNotFound

    with pytest.raises(BatchNotFound, match="batch 999"):
        run_monitoring(monitored.settings, monitored.dataset, monitored.engine, batch_id=999)
    # another portfolio (other accounts) is not the one the latest batch was scored from
    other = simulate(SimulationConfig(accounts=60, months=24, start="2024-11", seed=99))
    with pytest.raises(MonitorError, match="is this the dataset the batch was scored from"):
        run_monitoring(monitored.settings, Dataset(**other.tables), monitored.engine)


def test_a_matured_batch_where_nobody_churned_is_reported_without_an_auc(monitored) -> None:  # type: ignore[no-untyped-def]
    labels = _labels(monitored.dataset, "2026-04-01")
    stayed = monitored.dataset.only(labels[labels == 0].index[:300])
    batch = run_scoring(
        monitored.settings, stayed, monitored.engine, snapshot=pd.Timestamp("2026-04-01")
    ).batch
    run = run_monitoring(monitored.settings, stayed, monitored.engine, batch_id=batch.id)
    realised = run.summary.model_dump(mode="json")["realised"]
    assert realised["churned"] == 0 and realised["realised_rate"] == 0
    assert realised["roc_auc"] is None and realised["pr_auc"] is None
    assert set(run.reports) == {"drift"}  # no classification report without both outcomes
    assert not any(
        r["code"] == "realised_auc" for r in run.summary.model_dump(mode="json")["reasons"]
    )


def test_a_missing_table_counts_as_drift_and_is_named(monitored) -> None:  # type: ignore[no-untyped-def]
    # the service tickets did not arrive: the batch was scored with those features empty
    tables = monitored.dataset.tables()
    tables.pop("service_tickets")
    partial = Dataset(**tables)
    batch = run_scoring(
        monitored.settings, partial, monitored.engine, snapshot=pd.Timestamp("2026-10-01")
    ).batch
    run = run_monitoring(monitored.settings, partial, monitored.engine, batch_id=batch.id)
    summary = run.summary.model_dump(mode="json")
    missing = summary["drift"]["missing"]
    assert {"complaints_3m", "complaints_12m", "satisfaction_avg_12m"} <= set(missing)
    assert set(missing) <= set(summary["drift"]["drifted"])
    assert summary["retrain_recommended"]
    assert summary["reasons"][0]["code"] == "missing_features"
    assert "请先核对数据" in summary["reasons"][0]["text_zh"]
    rows = {f["feature"]: f for f in summary["drift"]["features"]}
    assert all(rows[f]["missing"] and rows[f]["missing_share"] > 0.5 for f in missing)
    json.dumps(summary, allow_nan=False)  # no NaN in what the store keeps
