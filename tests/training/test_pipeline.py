"""Training end to end: metrics against baselines, MLflow artifacts, the registry and the gate."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import mlflow
import numpy as np
import pandas as pd
import pytest
from mlflow.entities import ViewType
from mlflow.tracking import MlflowClient

from retention.model.registry import MODEL_NAME, champion_version, load_version
from retention.training.config import TrainingConfig
from retention.training.pipeline import (
    HOST_TAG,
    PID_TAG,
    TrainingRows,
    TrainResult,
    end_abandoned_runs,
    fit_evaluate_log,
)
from retention.training.promotion import PromotionRefused, promote


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
    from retention.model.registry import evaluation_rows

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


def _runs_named(name: str) -> list:  # type: ignore[type-arg]
    experiment = mlflow.get_experiment_by_name("key-account-churn")
    return MlflowClient().search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.run_name = '{name}'",
        run_view_type=ViewType.ALL,
    )


def test_a_run_that_fails_half_way_is_ended_failed_not_deleted(
    training_rows: TrainingRows,
    tracking_uri: str,
    fast_config: TrainingConfig,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a training that breaks after its MLflow run has started (the registry is down)
    def registry_down(*args: object, **kwargs: object) -> None:
        raise ConnectionError("model registry unreachable")

    monkeypatch.setattr("retention.model.registry.mlflow.register_model", registry_down)
    with pytest.raises(ConnectionError, match="unreachable"):
        fit_evaluate_log(training_rows, fast_config, 50, tracking_uri, "breaks-half-way")
    # then its run is kept, ended FAILED: what it logged stays there to look at
    (run,) = _runs_named("breaks-half-way")
    assert (run.info.status, run.info.lifecycle_stage) == ("FAILED", "active")
    assert run.data.tags[HOST_TAG] == socket.gethostname()
    assert run.data.tags[PID_TAG] == str(os.getpid())
    assert mlflow.active_run() is None


def test_a_run_with_features_that_are_not_finite_never_starts(
    training_rows: TrainingRows, tracking_uri: str, fast_config: TrainingConfig
) -> None:
    frame = training_rows.frame.copy()
    frame.loc[frame.index[:2], "arrears_cny"] = np.inf
    with pytest.raises(ValueError, match=r"arrears_cny.*not a finite number.*in 2 rows"):
        fit_evaluate_log(replace(training_rows, frame=frame), fast_config, 50, tracking_uri, "inf")
    assert _runs_named("inf") == []


STOPPED_TRAINING = """
import os, pickle, sys, time
import retention.training.pipeline as pipeline
from retention.training.config import TrainingConfig

rows = pickle.load(open(sys.argv[2], "rb"))
config = TrainingConfig.model_validate_json(sys.argv[3])

def slow_fit(*args, **kwargs):
    print("training", flush=True)
    time.sleep(120)  # the test stops us here

pipeline.fit_booster = slow_fit
pipeline.fit_evaluate_log(rows, config, 50, sys.argv[1], sys.argv[4])
"""


def _training_to_stop(
    rows: TrainingRows, config: TrainingConfig, tracking_uri: str, name: str, folder: Path
) -> subprocess.Popen[str]:
    """A training in another process, waiting inside its MLflow run to be stopped."""
    import pickle

    pickled = folder / "rows.pkl"
    pickled.write_bytes(pickle.dumps(rows))
    job = subprocess.Popen(
        [
            sys.executable,
            "-c",
            STOPPED_TRAINING,
            tracking_uri,
            str(pickled),
            config.model_dump_json(),
            name,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert job.stdout is not None
    assert job.stdout.readline().strip() == "training"
    (run,) = _runs_named(name)
    assert run.info.status == "RUNNING"
    return job


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGINT])
def test_a_training_stopped_by_a_signal_ends_its_run_failed(
    training_rows: TrainingRows,
    tracking_uri: str,
    fast_config: TrainingConfig,
    tmp_path: Path,
    stop: signal.Signals,
) -> None:
    name = f"stopped-by-{stop.name}"
    job = _training_to_stop(training_rows, fast_config, tracking_uri, name, tmp_path)
    job.send_signal(stop)
    assert job.wait(timeout=60) != 0
    (run,) = _runs_named(name)
    assert run.info.status == "FAILED"


def test_a_run_left_running_by_a_killed_training_is_failed_by_the_next(
    training_rows: TrainingRows,
    tracking_uri: str,
    fast_config: TrainingConfig,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given a training killed with SIGKILL: nothing in it could end its run
    job = _training_to_stop(training_rows, fast_config, tracking_uri, "killed", tmp_path)
    job.send_signal(signal.SIGKILL)
    job.wait(timeout=30)
    assert _runs_named("killed")[0].info.status == "RUNNING"

    # when the next training starts (here one that fails at once, to be quick)
    def stop_at_once(*args: object, **kwargs: object) -> None:
        raise RuntimeError("stop")

    monkeypatch.setattr("retention.training.pipeline._run", stop_at_once)
    with pytest.raises(RuntimeError, match="stop"):
        fit_evaluate_log(training_rows, fast_config, 50, tracking_uri, "next")
    # then the killed run is FAILED
    assert _runs_named("killed")[0].info.status == "FAILED"


def test_only_runs_whose_process_is_gone_on_this_host_are_failed(tracking_uri: str) -> None:
    client = MlflowClient()
    experiment = mlflow.get_experiment_by_name("key-account-churn").experiment_id
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    here = socket.gethostname()
    runs = {
        name: client.create_run(experiment, run_name=name, tags=tags).info.run_id
        for name, tags in {
            "gone-here": {HOST_TAG: here, PID_TAG: gone},
            "alive-here": {HOST_TAG: here, PID_TAG: str(os.getpid())},
            "gone-elsewhere": {HOST_TAG: "another-host", PID_TAG: gone},
            "untagged": {},
        }.items()
    }
    ended = end_abandoned_runs(experiment)
    status = {name: client.get_run(run_id).info.status for name, run_id in runs.items()}
    assert status == {
        "gone-here": "FAILED",
        "alive-here": "RUNNING",
        "gone-elsewhere": "RUNNING",
        "untagged": "RUNNING",
    }
    assert runs["gone-here"] in ended
    for name in ("alive-here", "gone-elsewhere", "untagged"):
        client.set_terminated(runs[name], "KILLED")  # leave nothing running for other tests


def test_more_risk_never_lowers_the_probability(trained: TrainResult) -> None:
    """Directional: raising a feature whose catalogue direction is 'more is riskier'."""
    from retention.features.catalogue import load_catalogue

    model = load_version(trained.version)
    from retention.model.registry import evaluation_rows

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
    from retention.model.registry import evaluation_rows

    rows = evaluation_rows(trained.version).head(300)
    renamed = rows.assign(customer_id=[f"X{i}" for i in range(len(rows))], customer_name="某某公司")
    assert "customer_id" not in model.features and "customer_name" not in model.features
    np.testing.assert_array_equal(model.predict_proba(rows), model.predict_proba(renamed))
    shuffled = rows.sample(frac=1.0, random_state=1)
    pd.testing.assert_series_equal(
        pd.Series(model.predict_proba(shuffled), index=shuffled.index).sort_index(),
        pd.Series(model.predict_proba(rows), index=rows.index).sort_index(),
    )


def test_every_run_measures_a_plain_default_lightgbm(trained: TrainResult) -> None:
    # Given the run's test metrics, MLflow metrics, card and the registered model's info
    default = trained.metrics["lightgbm_default"]
    assert {"roc_auc", "pr_auc", "ece"} <= set(default)
    assert 0.5 < default["roc_auc"] <= 1.0
    metrics = MlflowClient().get_run(trained.run_id).data.metrics
    assert metrics["test_lightgbm_default_roc_auc"] == pytest.approx(default["roc_auc"])
    assert "| lightgbm_default |" in trained.card
    info = load_version(trained.version).info
    assert info.baselines["lightgbm_default"]["roc_auc"] == pytest.approx(default["roc_auc"])


def test_the_card_and_console_warn_when_a_default_lightgbm_ranks_better(
    trained: TrainResult, training_rows: TrainingRows, fast_config: TrainingConfig
) -> None:
    from rich.console import Console

    from retention.training.pipeline import model_card

    assert trained.fitted is not None
    parts = {p: training_rows.frame[training_rows.frame["part"] == p] for p in ("train", "test")}
    worse = {k: dict(v) for k, v in trained.metrics.items()}
    worse["model"]["roc_auc"] = worse["lightgbm_default"]["roc_auc"] - 0.01
    by_group = pd.Series({"usage": 1.0})
    card = model_card(training_rows, parts, worse, by_group, trained.fitted, fast_config)
    head = card.split("## Data")[0]
    assert "## ⚠ 警告 / Warning" in head and "below a plain default LightGBM" in head
    better = {k: dict(v) for k, v in trained.metrics.items()}
    better["model"]["roc_auc"] = better["lightgbm_default"]["roc_auc"] + 0.01
    card = model_card(training_rows, parts, better, by_group, trained.fitted, fast_config)
    assert "警告" not in card
    console = Console(record=True, width=200)
    replace(trained, metrics=worse).print(console)
    assert "警告 / warning" in console.export_text()


def test_the_final_booster_is_refitted_on_every_row_before_the_test(
    training_rows: TrainingRows, fast_config: TrainingConfig, monkeypatch: pytest.MonkeyPatch
) -> None:
    import retention.training.pipeline as pipeline

    frame = training_rows.frame
    parts = {p: frame[frame["part"] == p] for p in ("train", "validation", "test")}
    learn = pipeline.learning_rows(frame)
    assert len(learn) > len(parts["train"]) + len(parts["validation"])  # the held-out rows too
    fitted_rows: list[int] = []
    real = pipeline.fit_rounds

    def counted(x: np.ndarray, *args: object) -> object:
        fitted_rows.append(len(x))
        return real(x, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "fit_rounds", counted)
    config = fast_config.model_copy(update={"calibration_folds": 0})
    model, _, _, fitted = pipeline._fit(training_rows, parts, config)
    # the final booster saw every row before the test, with the rounds early stopping chose
    assert fitted_rows == [len(learn)] and fitted.rows == len(learn)
    assert model.booster.current_iteration() == fitted.rounds == fitted.stopped_at
    assert fitted.calibration_source == "validation"
    # refit: false keeps the early-stopping booster, fitted on train only
    old = fast_config.model_copy(update={"refit": False, "calibration_folds": 0})
    model, _, _, fitted = pipeline._fit(training_rows, parts, old)
    assert fitted.rows == len(parts["train"]) and fitted_rows == [len(learn)]
    assert model.booster.best_iteration == fitted.stopped_at


def test_calibration_is_fitted_on_out_of_fold_scores(trained: TrainResult) -> None:
    fitted = trained.fitted
    assert fitted is not None
    assert fitted.calibration_source == "out-of-fold" and fitted.folds == 4
    assert fitted.calibration_rows == fitted.rows  # every row before the test, none lost
    assert trained.metrics["model"]["ece"] < 0.03


def test_calibration_folds_never_split_an_account(monkeypatch: pytest.MonkeyPatch) -> None:
    import retention.training.pipeline as pipeline

    # Given rows whose first column is their account, 5 rows per account
    rng = np.random.default_rng(0)
    accounts = np.repeat(np.arange(200), 5)
    x = np.column_stack([accounts, rng.normal(size=len(accounts))]).astype(float)
    y = (rng.random(len(accounts)) < 0.2).astype(int)
    seen: list[tuple[set[float], set[float]]] = []

    class Recorded:
        def __init__(self, fitted: set[float]) -> None:
            self.fitted = fitted

        def predict(self, rows: np.ndarray, raw_score: bool) -> np.ndarray:
            seen.append((self.fitted, set(rows[:, 0])))
            return np.zeros(len(rows))

    monkeypatch.setattr(pipeline, "fit_rounds", lambda x, *a: Recorded(set(x[:, 0])))
    config = TrainingConfig(calibration_folds=4)
    raw, label, folds = pipeline._out_of_fold_scores(
        x, y, accounts.astype(str), config, (["account", "v"], [], [0, 0], config.lightgbm),
        lambda n: 10,
    )  # fmt: skip
    # then each fold scores accounts its booster never saw, and every row is scored once
    assert folds == 4 and len(seen) == 4
    assert all(not fitted & held for fitted, held in seen)
    assert set().union(*(held for _, held in seen)) == set(accounts.astype(float))
    assert not np.isnan(raw).any() and (label == y).all()
