"""The training job: build rows, split by time, fit, calibrate, compare, track, register.

`train_on_dataset` trains on a dataset folder (the product's own features and labels);
`train_on_table` trains the same way on a feature table a data scientist already has. Both end
in `fit_evaluate_log`, so every run is measured and logged the same way. Inputs are checked
before an MLflow run starts. A run that fails half-way, or is stopped by SIGTERM or SIGINT, is
ended FAILED (what it logged stays to be looked at); one left RUNNING by a process killed
outright (SIGKILL, a power cut) is ended FAILED by the next training on the same host.
"""

from __future__ import annotations

import hashlib
import logging
import os
import signal
import socket
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from retention.model import registry
from retention.model.artifact import Calibration, ChurnModel, category_levels, feature_matrix
from retention.model.info import ModelInfo
from retention.model.registry import MODEL_NAME, REFERENCE_ARTIFACT, TEST_ROWS_ARTIFACT
from retention.training import evaluate as ev
from retention.training.baselines import as_object, consumption_rule, logistic_regression
from retention.training.config import TrainingConfig
from retention.training.fit import fit_booster

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)
LABEL = "churn"
PART = "part"
TIME = "snapshot_date"
ID = "customer_id"
REVENUE = "expected_revenue_cny"
# Which process a run belongs to, so the next training can tell a dead run from a live one.
HOST_TAG, PID_TAG = "retention.host", "retention.pid"
# No measured quantity comes near this; past about 1e154 a value's square overflows (the
# logistic baseline scales every feature), and then the run fails on NaN half-way.
MAX_FEATURE_MAGNITUDE = 1e100


@dataclass
class TrainingRows:
    """Rows to train on: features, label, time, id, revenue, and which part each row is in."""

    frame: pd.DataFrame  # columns: features..., LABEL, PART, TIME, ID, REVENUE
    features: list[str]
    categorical: list[str]
    monotone: list[int]
    groups: dict[str, str]
    description: dict[str, str] = field(default_factory=dict)  # logged as parameters
    oracle: pd.Series | None = None  # per row, aligned with frame (NaN where unknown)
    rule_feature: str | None = None
    catalogue_sha256: str | None = None  # the catalogue the features came from, if any


@dataclass
class TrainResult:
    run_id: str
    version: str
    metrics: dict[str, dict[str, float]]  # scorer -> metric -> value, on the test rows
    description: dict[str, str]
    rounds: int
    seconds: float
    card: str
    predictions: pd.DataFrame

    def print(self, console: Console) -> None:
        """The headline figures next to the baselines and the oracle."""
        from rich.table import Table

        names = {
            "model": "模型 model",
            "model_uncalibrated": "  未校准 uncalibrated",
            "logistic_regression": "逻辑回归 logistic",
            "rule_consumption_down_30pct": "规则 rule: kWh -30%",
            "oracle": "理论上限 oracle",
        }
        table = Table(title=f"测试期指标 / test metrics — {MODEL_NAME} v{self.version}")
        columns = {
            "roc_auc": "AUC",
            "pr_auc": "PR AUC",
            "ece": "ECE",
            "lift_top10pct": "lift@10%",
            "recall_top_k": "recall@K",
            "money_captured_top_k": "money@K",
        }
        table.add_column("")
        for header in columns.values():
            table.add_column(header, justify="right")
        for name, values in self.metrics.items():
            cells = [f"{values[c]:.3f}" if c in values else "-" for c in columns]
            table.add_row(names.get(name, name), *cells)
        console.print(table)
        gap = self.metrics["model"].get("roc_auc_gap_to_oracle")
        if gap is not None:
            console.print(f"与理论上限的 AUC 差距 / ROC AUC gap to the oracle: {gap:.3f}")
        window = {k: v for k, v in self.description.items() if k.startswith("window_")}
        console.print(" · ".join(f"{k.removeprefix('window_')} {v}" for k, v in window.items()))
        console.print(f"{self.rounds} rounds, {self.seconds:.0f} s · MLflow run {self.run_id}")


def fit_evaluate_log(
    rows: TrainingRows,
    config: TrainingConfig,
    capacity: int,
    tracking_uri: str,
    run_name: str,
) -> TrainResult:
    """Fit on train, stop early and calibrate on validation, measure on test; log it all."""
    began = time.perf_counter()
    frame = rows.frame
    parts = {p: frame[frame[PART] == p] for p in ("train", "validation", "test")}
    for part, subset in parts.items():
        if subset.empty:
            raise ValueError(f"the {part} part is empty")
        if subset[LABEL].nunique() < 2:
            raise ValueError(
                f"the {part} part has only one class in '{LABEL}': churn and "
                f"non-churn are both needed to train and to measure"
            )

    _refuse_non_finite(rows)
    experiment = registry.configure(tracking_uri)
    end_abandoned_runs(experiment)
    tags = {HOST_TAG: socket.gethostname(), PID_TAG: str(os.getpid())}
    # Leaving the block by an exception (SIGTERM and SIGINT raise one) ends the run FAILED.
    with (
        _stopped_by_signals(),
        registry.start_run(experiment, run_name, tags) as run_id,
    ):
        result = _run(rows, parts, config, capacity, run_id)
    result.seconds = time.perf_counter() - began
    return result


def _refuse_non_finite(rows: TrainingRows) -> None:
    """A number feature that is infinite or astronomical somewhere fails before the run,
    naming the feature, how many rows and the first of them."""
    frame = rows.frame
    for name in rows.features:
        if name in rows.categorical:
            continue
        values = frame[name].to_numpy(dtype=float, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            bad = ~(np.abs(values) <= MAX_FEATURE_MAGNITUDE) & ~np.isnan(values)
        if bad.any():
            first = frame.loc[bad, [ID, TIME]].head(3)
            where = ", ".join(
                str(i) if pd.isna(t) else f"{i} at {pd.Timestamp(t):%Y-%m-%d}"
                for i, t in first.itertuples(index=False)
            )
            source = rows.description.get("source", "the training rows")
            raise ValueError(
                f"{source}: feature '{name}' is not a finite number within "
                f"±{MAX_FEATURE_MAGNITUDE:g} in {int(bad.sum())} rows ({where})"
            )


def end_abandoned_runs(experiment_id: str) -> list[str]:
    """End FAILED the runs left RUNNING on this host by a training process that is gone
    (killed outright); runs of live processes and of other hosts are not touched. Returns the
    ids of the runs ended."""
    ended = []
    for run_id, tags in registry.running_runs(experiment_id, {HOST_TAG: socket.gethostname()}):
        pid = tags.get(PID_TAG, "")
        if pid.isdigit() and not _alive(int(pid)):
            registry.end_failed(run_id)
            log.warning("MLflow run %s of process %s (gone) ended FAILED", run_id, pid)
            ended.append(run_id)
    return ended


def _alive(pid: int) -> bool:
    """Whether a process with this id runs on this host (a reused id counts as alive: the
    run then stays RUNNING rather than a live training's run being ended)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


class TrainingStopped(Exception):
    """SIGTERM arrived during training: the run is ended FAILED and the job exits."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


@contextmanager
def _stopped_by_signals() -> Iterator[None]:
    """SIGTERM raises TrainingStopped (SIGINT already raises KeyboardInterrupt), so the run
    is ended FAILED on the way out; the previous handler is put back after. Only the main
    thread can take signals: elsewhere this does nothing."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise TrainingStopped(signum)

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run(
    rows: TrainingRows,
    parts: dict[str, pd.DataFrame],
    config: TrainingConfig,
    capacity: int,
    run_id: str,
) -> TrainResult:
    _log_inputs(rows, parts, config, capacity)
    model, x, y = _fit(rows, parts, config)
    test = parts["test"]
    raw_test = model.raw_score(x["test"])
    scores = ScoredTestRows(
        label=y["test"],
        probability=model.calibration(raw_test),
        uncalibrated=1.0 / (1.0 + np.exp(-raw_test)),
    )
    metrics, curves = _measure(rows, parts, config, capacity, scores)
    for scorer, values in metrics.items():
        registry.log_metrics({f"test_{scorer}_{k}": v for k, v in values.items()})
    registry.log_metrics(
        {
            "best_iteration": model.booster.best_iteration,
            "train_rows": len(parts["train"]),
            "test_rows": len(test),
        }
    )
    importance = pd.Series(model.booster.feature_importance("gain"), index=rows.features)
    groups = pd.Series(rows.groups).reindex(rows.features).fillna("other")
    by_group = importance.groupby(groups).sum()
    model.info = ModelInfo(
        trained_at=pd.Timestamp.now().isoformat(timespec="seconds"),
        run_id=run_id,
        churn_definition=config.churn,
        test_metrics=metrics["model"],
        baselines={k: v for k, v in metrics.items() if k != "model"},
        importance_by_group={str(g): float(v) for g, v in by_group.items()},
        description=rows.description,
        catalogue_sha256=rows.catalogue_sha256,
    )
    card = model_card(rows, parts, metrics, by_group, model.booster.best_iteration, config)
    _log_artifacts(rows, parts, model, config, scores, curves, by_group, card)
    version = registry.register(
        model,
        test,
        {
            **rows.description,
            "test_roc_auc": f"{metrics['model']['roc_auc']:.4f}",
            "test_pr_auc": f"{metrics['model']['pr_auc']:.4f}",
        },
    )
    predictions = pd.DataFrame(
        {
            ID: test[ID].to_numpy(),
            TIME: test[TIME].to_numpy(),
            "probability": scores.probability,
            LABEL: scores.label,
        }
    )
    return TrainResult(
        run_id=run_id,
        version=version,
        metrics=metrics,
        description=rows.description,
        rounds=int(model.booster.best_iteration),
        seconds=0.0,
        card=card,
        predictions=predictions,
    )


@dataclass(frozen=True)
class ScoredTestRows:
    """The test rows' labels and the model's probabilities for them."""

    label: np.ndarray
    probability: np.ndarray  # calibrated
    uncalibrated: np.ndarray


def _log_inputs(
    rows: TrainingRows, parts: dict[str, pd.DataFrame], config: TrainingConfig, capacity: int
) -> None:
    """The run's parameters, and each part's rows as an MLflow input with its fingerprint."""
    features = rows.features
    registry.log_params(
        {
            "config": config.name,
            **_flatten(config.model_dump()),
            **rows.description,
            "features": len(features),
            "capacity": capacity,
        }
    )
    for part, subset in parts.items():
        logged = subset[[*features, LABEL]].head(50_000).astype({LABEL: float})
        registry.log_rows(logged, part, LABEL, fingerprint(subset[[*features, LABEL]]))


def _fit(
    rows: TrainingRows, parts: dict[str, pd.DataFrame], config: TrainingConfig
) -> tuple[ChurnModel, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """The booster fitted on train (stopped early on validation), calibrated on validation;
    with every part's feature matrix and labels."""
    features, categorical = rows.features, rows.categorical
    levels = category_levels(parts["train"], categorical)
    x = {p: feature_matrix(s, features, levels) for p, s in parts.items()}
    y = {p: s[LABEL].to_numpy(dtype=int) for p, s in parts.items()}
    booster = fit_booster(
        x["train"],
        y["train"],
        x["validation"],
        y["validation"],
        features,
        categorical,
        rows.monotone if config.monotone_constraints else [0] * len(features),
        config.lightgbm,
    )
    raw_valid = np.asarray(booster.predict(x["validation"], raw_score=True), dtype=float)
    calibration = Calibration.fit(raw_valid, y["validation"], config.calibration)
    return ChurnModel(booster, features, levels, calibration, rows.groups), x, y


def _measure(
    rows: TrainingRows,
    parts: dict[str, pd.DataFrame],
    config: TrainingConfig,
    capacity: int,
    scores: ScoredTestRows,
) -> tuple[dict[str, dict[str, float]], dict[str, np.ndarray]]:
    """The model, uncalibrated, against the baselines (and the oracle) on the test rows;
    with the scores each curve is drawn from."""
    features, categorical = rows.features, rows.categorical
    test = parts["test"]
    snapshot = test[TIME].to_numpy()
    revenue = test[REVENUE].to_numpy(dtype=float)

    def measure(score: np.ndarray, probabilistic: bool = True) -> dict[str, float]:
        return ev.evaluate(scores.label, score, snapshot, revenue, capacity, probabilistic)

    prob = scores.probability
    metrics = {"model": measure(prob), "model_uncalibrated": measure(scores.uncalibrated)}
    numeric = [f for f in features if f not in categorical]
    lr = logistic_regression(numeric, categorical).fit(
        as_object(parts["train"][features], categorical), parts["train"][LABEL].to_numpy(int)
    )
    lr_prob = lr.predict_proba(as_object(test[features], categorical))[:, 1]
    metrics["logistic_regression"] = measure(lr_prob)
    curves = {"LightGBM (calibrated)": prob, "logistic regression": lr_prob}
    if rows.rule_feature is not None:
        rule = consumption_rule(test[rows.rule_feature], config.rule_threshold)
        metrics["rule_consumption_down_30pct"] = measure(rule, probabilistic=False)
        curves["rule: consumption down 30% yoy"] = rule
    if rows.oracle is not None:
        oracle = rows.oracle.loc[test.index].to_numpy(dtype=float)
        known = ~np.isnan(oracle)
        if known.mean() > 0.9:
            label = scores.label[known]
            metrics["oracle"] = ev.evaluate(
                label, oracle[known], snapshot[known], revenue[known], capacity
            )
            same_rows = ev.evaluate(label, prob[known], snapshot[known], revenue[known], capacity)
            metrics["model"]["oracle_roc_auc"] = metrics["oracle"]["roc_auc"]
            metrics["model"]["oracle_pr_auc"] = metrics["oracle"]["pr_auc"]
            metrics["model"]["roc_auc_gap_to_oracle"] = (
                metrics["oracle"]["roc_auc"] - same_rows["roc_auc"]
            )
            metrics["model"]["oracle_rows_share"] = float(known.mean())
            curves["oracle (hidden truth)"] = np.where(known, oracle, 0.0)
    return metrics, curves


def _log_artifacts(
    rows: TrainingRows,
    parts: dict[str, pd.DataFrame],
    model: ChurnModel,
    config: TrainingConfig,
    scores: ScoredTestRows,
    curves: dict[str, np.ndarray],
    by_group: pd.Series,
    card: str,
) -> None:
    """Plots, the model card, the test rows and the monitoring reference, to the run."""
    with tempfile.TemporaryDirectory() as tmp:
        plots = Path(tmp) / "plots"
        ev.plot_curves(scores.label, curves, plots)
        ev.plot_calibration(
            scores.label,
            {"before calibration": scores.uncalibrated, "after calibration": scores.probability},
            plots,
        )
        ev.plot_group_importance(by_group, plots)
        registry.log_files(plots, "plots")
        registry.log_text(card, "model_card.md")
        reference = monitoring_reference(parts, rows.features, model, config.lightgbm.seed)
        logged_rows = ((TEST_ROWS_ARTIFACT, parts["test"]), (REFERENCE_ARTIFACT, reference))
        for artifact, logged in logged_rows:
            path = Path(tmp) / Path(artifact).name
            as_text = {
                c: logged[c].astype("object").where(logged[c].notna(), None)
                for c in rows.categorical
            }
            logged.assign(**as_text).reset_index(drop=True).to_parquet(path, index=False)
            registry.log_files(path, str(Path(artifact).parent))


REFERENCE_ROWS = 20_000


def monitoring_reference(
    parts: dict[str, pd.DataFrame], features: list[str], model: ChurnModel, seed: int
) -> pd.DataFrame:
    """The drift reference logged with the model: a sample of the rows it was trained,
    validated and tested on (at most REFERENCE_ROWS, the same number from every snapshot, so
    every season is in it), with the model's probabilities. A batch is compared with all of it:
    a month's batch then differs from the reference only where the portfolio changed, not
    because it is November and the test window was spring."""
    frame = pd.concat(parts.values())
    per_snapshot = max(1, REFERENCE_ROWS // max(1, frame[TIME].nunique(dropna=False)))
    shuffled = frame.iloc[np.random.default_rng(seed).permutation(len(frame))]
    # rows without a time (an own table without one) are one group, not dropped
    sample = shuffled[shuffled.groupby(TIME, dropna=False).cumcount().to_numpy() < per_snapshot]
    sample = sample[[ID, TIME, PART, *features, LABEL]].sort_values([TIME, ID], kind="stable")
    return sample.assign(probability=model.predict_proba(sample)).reset_index(drop=True)


def _flatten(values: dict[str, object], prefix: str = "") -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            out |= _flatten(value, f"{prefix}{key}.")
        else:
            out[f"{prefix}{key}"] = value
    return out


def model_card(
    rows: TrainingRows,
    parts: dict[str, pd.DataFrame],
    metrics: dict[str, dict[str, float]],
    by_group: pd.Series,
    rounds: int,
    config: TrainingConfig,
) -> str:
    """A Markdown model card: data window, metrics against baselines and oracle, known limits."""
    lines = [
        f"# Model card: {MODEL_NAME}",
        "",
        "Calibrated LightGBM predicting churn of a key account within "
        f"{config.churn.horizon_months} months of a snapshot date.",
        "",
        "## Data",
        "",
    ]
    for part, subset in parts.items():
        times = pd.to_datetime(subset[TIME], errors="coerce")
        span = f"{times.min():%Y-%m-%d} .. {times.max():%Y-%m-%d}" if times.notna().any() else "n/a"
        lines.append(
            f"- {part}: {len(subset):,} rows, {int(subset[LABEL].sum()):,} churned "
            f"({subset[LABEL].mean():.2%}), snapshots {span}"
        )
    lines += [f"- {k}: {v}" for k, v in rows.description.items()]
    lines += [
        "",
        f"{len(rows.features)} features; {rounds} boosting rounds (early stopping on "
        f"validation); calibration: {config.calibration} on validation.",
        "",
        "## Test metrics (same rows for every scorer)",
        "",
        "| scorer | ROC AUC | PR AUC | ECE | Brier | lift top 10% | recall top K | "
        "money captured top K |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, m in metrics.items():
        cells = [
            f"{m[k]:.4f}" if k in m and not np.isnan(m[k]) else "-"
            for k in (
                "roc_auc",
                "pr_auc",
                "ece",
                "brier",
                "lift_top10pct",
                "recall_top_k",
                "money_captured_top_k",
            )
        ]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if "oracle" in metrics:
        gap = metrics["model"]["roc_auc_gap_to_oracle"]
        lines += ["", f"Gap to the oracle's ROC AUC on the same rows: {gap:.4f}."]
    lines += ["", "## Importance by feature group (total gain)", ""]
    lines += [f"- {g}: {v:,.0f}" for g, v in by_group.sort_values(ascending=False).items()]
    lines += [
        "",
        "## Known limits",
        "",
        "- Trained on the data described above; a tariff reform, an industry downturn or "
        "new market rules change the inputs: watch the drift reports and retrain.",
        "- Values the archive only holds as of today (self-generation) are left out; "
        "cancelled work orders carry no cancellation time and are ignored.",
        "- Categories not seen in training (a new industry code) are treated as missing.",
        "- Probabilities are calibrated on the validation snapshots; a different churn "
        "rate later shifts them until the next retraining.",
    ]
    return "\n".join(lines) + "\n"


def fingerprint(frame: pd.DataFrame) -> str:
    """A digest of a frame's contents (order-sensitive), for the run's data lineage."""
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(np.ascontiguousarray(hashed).tobytes()).hexdigest()[:16]
