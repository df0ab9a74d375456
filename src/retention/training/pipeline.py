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
from collections.abc import Callable, Iterator
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
from retention.training.baselines import (
    as_object,
    consumption_rule,
    default_lightgbm,
    logistic_regression,
)
from retention.training.config import LightGBMConfig, TrainingConfig
from retention.training.fit import fit_booster, fit_rounds, kept_rounds
from retention.training.horizons import fit_timing_models, horizon_metrics

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)
LABEL = "churn"
PART = "part"
# Rows of the train and validation snapshots held out of early stopping (split.hold_out_accounts):
# the refit, the calibration folds and the default LightGBM baseline use them.
SPARE = "spare"
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
    fitted: FitSummary | None = None
    # months -> test metrics of the probability of churn within them (time to churn)
    horizons: dict[int, dict[str, float]] = field(default_factory=dict)

    def print(self, console: Console) -> None:
        """The headline figures next to the baselines and the oracle."""
        from rich.table import Table

        names = {
            "model": "模型 model",
            "model_uncalibrated": "  未校准 uncalibrated",
            "lightgbm_default": "默认 LightGBM default",
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
        for months, values in self.horizons.items():
            cells = [f"{values[c]:.3f}" if c in values else "-" for c in columns]
            table.add_row(f"  {months}个月内 {months} mo", *cells)
        console.print(table)
        gap = self.metrics["model"].get("roc_auc_gap_to_oracle")
        if gap is not None:
            console.print(f"与理论上限的 AUC 差距 / ROC AUC gap to the oracle: {gap:.3f}")
        window = {k: v for k, v in self.description.items() if k.startswith("window_")}
        console.print(" · ".join(f"{k.removeprefix('window_')} {v}" for k, v in window.items()))
        if self.fitted is not None:
            console.print(self.fitted.text())
        console.print(f"{self.rounds} rounds, {self.seconds:.0f} s · MLflow run {self.run_id}")
        below = below_default_lightgbm(self.metrics)
        if below is not None:
            console.print(f"[bold red]警告 / warning:[/bold red] {below_default_text(*below)}")


def below_default_lightgbm(metrics: dict[str, dict[str, float]]) -> tuple[float, float] | None:
    """The model's and the default LightGBM's test ROC AUC when the model's is lower."""
    model, default = metrics["model"], metrics.get("lightgbm_default")
    if default is None or model["roc_auc"] >= default["roc_auc"]:
        return None
    return model["roc_auc"], default["roc_auc"]


def below_default_text(model_auc: float, default_auc: float) -> str:
    return (
        f"模型的测试 ROC AUC {model_auc:.4f} 低于默认参数 LightGBM 的 {default_auc:.4f}"
        f"（同一批测试行）：本数据上训练配置的 lightgbm 参数不合适，请调参后再用 / "
        f"the model's test ROC AUC {model_auc:.4f} is below a plain default LightGBM's "
        f"{default_auc:.4f} on the same test rows: the training config's lightgbm parameters "
        f"do not suit this data; tune them before relying on the model"
    )


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
        stopped_by_signals(),
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
def stopped_by_signals() -> Iterator[None]:
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
    model, x, y, fitted = _fit(rows, parts, config)
    test = parts["test"]
    raw_test = model.raw_score(x["test"])
    scores = ScoredTestRows(
        label=y["test"],
        probability=model.calibration(raw_test),
        uncalibrated=1.0 / (1.0 + np.exp(-raw_test)),
        default_lightgbm=_default_lightgbm(rows, x, y, config),
    )
    metrics, curves = _measure(rows, parts, config, capacity, scores)
    horizons = _time_to_churn(rows, model, x, test, scores.probability, config)
    for scorer, values in metrics.items():
        registry.log_metrics({f"test_{scorer}_{k}": v for k, v in values.items()})
    registry.log_metrics(
        {
            "best_iteration": fitted.stopped_at,
            "rounds": fitted.rounds,
            "train_rows": len(parts["train"]),
            "final_rows": fitted.rows,
            "calibration_rows": fitted.calibration_rows,
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
        horizon_metrics=horizons,
    )
    card = model_card(rows, parts, metrics, by_group, fitted, config) + horizon_card(horizons)
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
        rounds=fitted.rounds,
        seconds=0.0,
        card=card,
        predictions=predictions,
        fitted=fitted,
        horizons=horizons,
    )


def _time_to_churn(
    rows: TrainingRows,
    model: ChurnModel,
    x: dict[str, np.ndarray],
    test: pd.DataFrame,
    probability: np.ndarray,
    config: TrainingConfig,
) -> dict[int, dict[str, float]]:
    """The timing models of the shorter horizons, fitted on the churned rows before the test
    and put into the model; each horizon's test metrics, logged to the run."""
    horizon = config.churn.horizon_months
    model.timing = fit_timing_models(
        learning_rows(rows.frame), x["learn"], rows.features, rows.categorical, horizon,
        config.lightgbm,
    )  # fmt: skip
    horizons = horizon_metrics(model, x["test"], test, probability)
    registry.log_metrics(
        {
            f"test_horizon_{months}m_{name}": value
            for months, figures in horizons.items()
            for name, value in figures.items()
        }
    )
    return horizons


def horizon_card(horizons: dict[int, dict[str, float]]) -> str:
    """The model card's section on time to churn: each horizon's test figures."""
    if len(horizons) < 2:
        return ""
    lines = [
        "",
        "## Time to churn (same test rows)",
        "",
        "Shorter horizons chain timing models, fitted on the churned rows before the test, "
        "onto the calibrated probability: P(within 3) = P(within H) x P(within 3 | within H), "
        "so a shorter horizon's probability is never above a longer one's.",
        "",
        "| within | churn rate | mean probability | ROC AUC | PR AUC | never above the longer |",
        "|---|---|---|---|---|---|",
    ]
    for months, m in horizons.items():
        cells = [
            f"{m[k]:.4f}" if k in m else "-"
            for k in ("churn_rate", "mean_probability", "roc_auc", "pr_auc", "monotone_share")
        ]
        lines.append(f"| {months} months | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class ScoredTestRows:
    """The test rows' labels and the model's probabilities for them."""

    label: np.ndarray
    probability: np.ndarray  # calibrated
    uncalibrated: np.ndarray
    default_lightgbm: np.ndarray | None = None  # the plain default LightGBM's probabilities


def _default_lightgbm(
    rows: TrainingRows,
    x: dict[str, np.ndarray],
    y: dict[str, np.ndarray],
    config: TrainingConfig,
) -> np.ndarray:
    """The test probabilities of LightGBM with its default parameters fitted on every row
    before the test, categories coded as the model's."""
    booster = default_lightgbm(
        x["learn"],
        y["learn"],
        rows.features,
        rows.categorical,
        config.lightgbm.seed,
        config.lightgbm.num_threads,
    )
    return np.asarray(booster.predict(x["test"]), dtype=float)


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


@dataclass(frozen=True)
class FitSummary:
    """How the final booster was made: the rounds early stopping chose, the rows the final
    booster saw, and the scores its calibration was fitted on."""

    stopped_at: int  # early stopping's best round (fitted on train, validation watched)
    rounds: int  # the final booster's
    train_rows: int  # rows of the early-stopping booster
    rows: int  # rows of the final booster
    calibration_rows: int
    calibration_source: str  # "out-of-fold" or "validation"
    folds: int = 0
    early_stopped: bool = True  # false: the config's fixed rounds (early_stopping_rounds 0)

    def sentence(self, method: str) -> str:
        """What the model card says of the rounds, the rows and the calibration."""
        refit = (
            f"refitted on all {self.rows:,} rows before the test"
            if self.rows != self.train_rows
            else "not refitted"
        )
        where = (
            f"out-of-fold scores of {self.folds} folds grouped by account"
            if self.folds
            else "the validation part scored by the early-stopping booster"
        )
        chosen = "chosen by early stopping on validation" if self.early_stopped else "fixed"
        return (
            f"{self.rounds} boosting rounds, {chosen} "
            f"({self.stopped_at} on {self.train_rows:,} train rows); {refit}; calibration: "
            f"{method} on {self.calibration_rows:,} rows, {where}."
        )

    def text(self) -> str:
        """One line for the console."""
        if self.calibration_source == "out-of-fold":
            how = (
                f"{self.folds} 折按客户分组的折外分数 / "
                f"out-of-fold scores of {self.folds} folds by account"
            )
        else:
            how = "验证部分 / the validation part"
        return (
            f"早停 / early stopping: {self.stopped_at} rounds on {self.train_rows:,} rows · "
            f"最终模型 / final booster: {self.rounds} rounds on {self.rows:,} rows · "
            f"校准 / calibration on {self.calibration_rows:,} rows, {how}"
        )


# The refit keeps the rounds early stopping chose, not scaled by its larger row count: on the
# 5,000-account demo portfolio (1.8 times the rows; 151 rounds, or 275 scaled) scaling gave the
# same test ROC AUC (0.9112 against 0.9109) with a lower PR AUC (0.515 against 0.523), a worse
# log loss and ECE, and more seconds. More rows already make each round's trees better.
SCALE_ROUNDS_BY_ROWS = False


def refit_rounds(stopped_at: int, stopped_rows: int, rows: int) -> int:
    """Rounds for a booster fitted on `rows` rows, given early stopping's best round on
    `stopped_rows` rows."""
    if not SCALE_ROUNDS_BY_ROWS:
        return stopped_at
    return max(1, round(stopped_at * rows / max(1, stopped_rows)))


def learning_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Every row before the test: train, validation and the rows held out of early stopping
    (what a data scientist's own plain LightGBM would be fitted on)."""
    return frame[frame[PART].isin(["train", "validation", SPARE])]


def _fit(
    rows: TrainingRows, parts: dict[str, pd.DataFrame], config: TrainingConfig
) -> tuple[ChurnModel, dict[str, np.ndarray], dict[str, np.ndarray], FitSummary]:
    """The rounds chosen by early stopping (fitted on train, stopped on validation), the final
    booster refitted with them on every row before the test, calibrated on out-of-fold scores
    of those rows; with every part's feature matrix and labels ("learn": the rows before the
    test) and how it was made."""
    features, categorical = rows.features, rows.categorical
    learn = learning_rows(rows.frame)
    levels = category_levels(learn, categorical)
    x = {p: feature_matrix(s, features, levels) for p, s in {**parts, "learn": learn}.items()}
    y = {p: s[LABEL].to_numpy(dtype=int) for p, s in {**parts, "learn": learn}.items()}
    monotone = rows.monotone if config.monotone_constraints else [0] * len(features)
    shape = (features, categorical, monotone, config.lightgbm)
    early = fit_booster(x["train"], y["train"], x["validation"], y["validation"], *shape)
    stopped_at, stopped_rows = kept_rounds(early), len(parts["train"])
    booster, final_rows = early, stopped_rows
    if config.refit:
        final_rows = len(learn)
        rounds = refit_rounds(stopped_at, stopped_rows, final_rows)
        booster = fit_rounds(x["learn"], y["learn"], *shape, rounds)
    if config.calibration_folds:
        raw, label, folds = _out_of_fold_scores(
            x["learn"], y["learn"], learn[ID].astype(str).to_numpy(), config, shape,
            lambda n: refit_rounds(stopped_at, stopped_rows, n),
        )  # fmt: skip
    else:
        raw = np.asarray(early.predict(x["validation"], raw_score=True), dtype=float)
        label, folds = y["validation"], 0
    calibration = Calibration.fit(raw, label, config.calibration)
    fitted = FitSummary(
        stopped_at=stopped_at,
        rounds=int(booster.best_iteration or booster.current_iteration()),
        train_rows=stopped_rows,
        rows=final_rows,
        calibration_rows=len(label),
        calibration_source="out-of-fold" if folds else "validation",
        folds=folds,
        early_stopped=config.lightgbm.early_stopping_rounds > 0,
    )
    return ChurnModel(booster, features, levels, calibration, rows.groups), x, y, fitted


def _out_of_fold_scores(
    x: np.ndarray,
    y: np.ndarray,
    accounts: np.ndarray,
    config: TrainingConfig,
    shape: tuple[list[str], list[str], list[int], LightGBMConfig],
    rounds_for: Callable[[int], int],
) -> tuple[np.ndarray, np.ndarray, int]:
    """Raw scores of every row by a booster that never saw its account: folds grouped by
    account (stratified by churn; an own table with one row per id is simply stratified),
    each fold's booster fitted on the other folds with the chosen rounds."""
    from sklearn.model_selection import StratifiedGroupKFold

    k = min(config.calibration_folds, len(np.unique(accounts)), int(np.bincount(y).min()))
    if k < 2:
        raise ValueError("too few accounts or churners for calibration folds")
    splitter = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=config.lightgbm.seed)
    raw = np.full(len(y), np.nan)
    for fitted, held in splitter.split(x, y, groups=accounts):
        booster = fit_rounds(x[fitted], y[fitted], *shape, rounds_for(len(fitted)))
        raw[held] = booster.predict(x[held], raw_score=True)
    return raw, y, k


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
    curves = {"LightGBM (calibrated)": prob}
    if scores.default_lightgbm is not None:
        metrics["lightgbm_default"] = measure(scores.default_lightgbm)
        curves["LightGBM, default parameters"] = scores.default_lightgbm
    numeric = [f for f in features if f not in categorical]
    lr = logistic_regression(numeric, categorical).fit(
        as_object(parts["train"][features], categorical), parts["train"][LABEL].to_numpy(int)
    )
    lr_prob = lr.predict_proba(as_object(test[features], categorical))[:, 1]
    metrics["logistic_regression"] = measure(lr_prob)
    curves["logistic regression"] = lr_prob
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
    fitted: FitSummary,
    config: TrainingConfig,
) -> str:
    """A Markdown model card: a warning first when a default LightGBM ranks the test rows
    better, then data window, metrics against baselines and oracle, known limits."""
    lines = [f"# Model card: {MODEL_NAME}", ""]
    below = below_default_lightgbm(metrics)
    if below is not None:
        lines += ["## ⚠ 警告 / Warning", "", f"**{below_default_text(*below)}**", ""]
    lines += [
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
        f"{len(rows.features)} features; {fitted.sentence(config.calibration)}",
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
        "- Probabilities are calibrated on the snapshots before the test; a different churn "
        "rate later shifts them until the next retraining.",
    ]
    return "\n".join(lines) + "\n"


def fingerprint(frame: pd.DataFrame) -> str:
    """A digest of a frame's contents (order-sensitive), for the run's data lineage."""
    hashed = pd.util.hash_pandas_object(frame, index=True).to_numpy()
    return hashlib.sha256(np.ascontiguousarray(hashed).tobytes()).hexdigest()[:16]
