"""Training end to end: metrics against baselines, MLflow artifacts, the registry and the gate."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.tracking import MlflowClient

from retention.training.config import TrainingConfig
from retention.training.pipeline import TrainingRows, TrainResult, fit_evaluate_log
from retention.training.registry import (
    MODEL_NAME,
    PromotionRefused,
    champion_version,
    load_version,
    promote,
)


def test_run_measures_the_model_against_baselines_and_the_oracle(trained: TrainResult) -> None:
    m = trained.metrics
    assert {
        "model",
        "model_uncalibrated",
        "logistic_regression",
        "rule_consumption_down_30pct",
        "oracle",
    } <= set(m)
    for key in (
        "roc_auc",
        "pr_auc",
        "log_loss",
        "brier",
        "ece",
        "lift_top10pct",
        "recall_top10pct",
        "recall_top_k",
        "money_captured_top_k",
    ):
        assert key in m["model"], key
    # Minimum quality on the small simulated portfolio.
    assert m["model"]["roc_auc"] > 0.78
    assert m["model"]["roc_auc"] > m["rule_consumption_down_30pct"]["roc_auc"]
    assert m["model"]["ece"] < 0.05
    assert 0 < m["model"]["roc_auc_gap_to_oracle"] < 0.2


def test_run_logs_what_a_data_scientist_needs(trained: TrainResult) -> None:
    client = MlflowClient()
    run = client.get_run(trained.run_id)
    assert run.data.params["churn.horizon_months"] == "6"
    assert "test_model_roc_auc" in run.data.metrics
    assert {i.dataset.name for i in run.inputs.dataset_inputs} >= {"train-rows", "test-rows"}
    artifacts = {a.path for a in client.list_artifacts(trained.run_id)}
    assert {"plots", "model_card.md", "evaluation"} <= artifacts
    plots = {Path(a.path).name for a in client.list_artifacts(trained.run_id, "plots")}
    assert {
        "roc.png",
        "precision_recall.png",
        "calibration.png",
        "gains.png",
        "importance_by_group.png",
    } <= plots
    assert "## Test metrics" in trained.card and "oracle" in trained.card


def test_champion_loads_in_a_fresh_process_and_gives_probabilities(
    trained: TrainResult, tracking_uri: str, tmp_path: Path
) -> None:
    promote(trained.version)
    assert champion_version() == trained.version
    rows = tmp_path / "rows.parquet"
    model = load_version(trained.version)
    from retention.training.registry import evaluation_rows

    frame = evaluation_rows(trained.version)[model.features].head(200)
    frame.to_parquet(rows)
    code = (
        "import sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({tracking_uri!r})\n"
        f"m = mlflow.pyfunc.load_model('models:/{MODEL_NAME}@champion')\n"
        f"p = m.predict(pd.read_parquet({str(rows)!r}))\n"
        "print(float(min(p)), float(max(p)), len(p))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=180
    )
    low, high, n = out.stdout.split()[-3:]
    assert 0.0 <= float(low) < float(high) <= 1.0 and int(n) == 200
    expected = model.predict_proba(frame)
    assert np.isclose(float(high), expected.max())


def test_gate_refuses_a_worse_challenger_and_force_overrides(
    trained: TrainResult,
    training_rows: TrainingRows,
    tracking_uri: str,
    fast_config: TrainingConfig,
) -> None:
    promote(trained.version)
    # A challenger trained on scrambled labels is much worse on the same test window.
    frame = training_rows.frame.copy()
    rng = np.random.default_rng(0)
    learn = frame["part"] != "test"
    frame.loc[learn, "churn"] = rng.permutation(frame.loc[learn, "churn"].to_numpy())
    worse = fit_evaluate_log(
        replace(training_rows, frame=frame), fast_config, 50, tracking_uri, "scrambled"
    )
    with pytest.raises(PromotionRefused, match=r"ROC AUC .* below the champion"):
        promote(worse.version)
    assert champion_version() == trained.version
    forced = promote(worse.version, force=True)
    assert forced.promoted and champion_version() == worse.version
    promote(trained.version, force=True)  # leave the good model as champion


def test_a_failed_run_is_not_left_half_made(
    training_rows: TrainingRows, tracking_uri: str, fast_config: TrainingConfig
) -> None:
    client = MlflowClient()
    experiment = mlflow.get_experiment_by_name("key-account-churn")
    before = len(client.search_runs([experiment.experiment_id]))
    one_class = training_rows.frame.copy()
    one_class["churn"] = 0
    with pytest.raises(ValueError, match="only one class"):
        fit_evaluate_log(
            replace(training_rows, frame=one_class), fast_config, 50, tracking_uri, "bad"
        )
    broken = training_rows.frame.copy()
    broken["part"] = broken["part"].replace("validation", "train")
    with pytest.raises(ValueError, match="validation part is empty"):
        fit_evaluate_log(replace(training_rows, frame=broken), fast_config, 50, tracking_uri, "bad")
    assert len(client.search_runs([experiment.experiment_id])) == before


def test_more_risk_never_lowers_the_probability(trained: TrainResult) -> None:
    """Directional: raising a feature whose catalogue direction is 'more is riskier'."""
    from retention.features.catalogue import load_catalogue

    model = load_version(trained.version)
    from retention.training.registry import evaluation_rows

    rows = evaluation_rows(trained.version).head(500)
    base = model.predict_proba(rows)
    for name in ("complaints_3m", "late_bills_6m", "capacity_reductions_12m", "arrears_cny"):
        assert load_catalogue().by_name[name].direction == 1
        more = rows.copy()
        more[name] = more[name].fillna(0) + max(1.0, float(rows[name].std() or 1))
        assert (model.predict_proba(more) >= base - 1e-12).all(), name
    less_kwh = rows.copy()
    less_kwh["kwh_3m_yoy"] = less_kwh["kwh_3m_yoy"] - 0.3
    assert (model.predict_proba(less_kwh) >= base - 1e-12).all()


def test_name_and_id_do_not_change_the_score(trained: TrainResult) -> None:
    """Invariance: the model reads no name or id."""
    model = load_version(trained.version)
    from retention.training.registry import evaluation_rows

    rows = evaluation_rows(trained.version).head(300)
    renamed = rows.assign(customer_id=[f"X{i}" for i in range(len(rows))], customer_name="某某公司")
    assert "customer_id" not in model.features and "customer_name" not in model.features
    np.testing.assert_array_equal(model.predict_proba(rows), model.predict_proba(renamed))
    shuffled = rows.sample(frac=1.0, random_state=1)
    pd.testing.assert_series_equal(
        pd.Series(model.predict_proba(shuffled), index=shuffled.index).sort_index(),
        pd.Series(model.predict_proba(rows), index=rows.index).sort_index(),
    )
