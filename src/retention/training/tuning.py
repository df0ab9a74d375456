"""`retention tune`: a hyperparameter search for the booster, written as a training config.

The rows are built once (a dataset folder's stacked snapshots or a user's table, as
`retention train` builds them) and so are their feature matrices; each trial then only fits a
booster: on the time split, trained on the train part and stopped early on the validation part
as `retention.training.fit.fit_booster` does (`trial_booster` is the same fit, with the
pruner's callback); on a table without times, on stratified folds of its train and validation
rows. The objective is the validation ROC AUC at the round early stopping keeps: the champion
gate compares ROC AUC (and PR AUC), both rank-based, and calibration fixes the probabilities
afterwards, so log loss would reward what calibration repairs anyway.

The first two trials are the current config's parameters and LightGBM's plain defaults, the
latter with its 100 rounds and no early stopping (the very booster of the run's "default
LightGBM" baseline, fitted on the train part), so the search never picks something worse on
validation than either. The study lives in a SQLite file under the work dir
(`tuning/<study>.db`), named after the rows' fingerprint and the config: a run that was
stopped continues where it was (`--trials` is the study's total). Each trial is a nested
MLflow run under one parent run per study. The best trial is written as a training YAML
that `retention train --config` reads (validated by TrainingConfig).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import optuna
import yaml
from optuna.trial import FrozenTrial, Trial, TrialState
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from retention.model import registry
from retention.model.artifact import category_levels, feature_matrix
from retention.training.baselines import DEFAULT_LIGHTGBM_ROUNDS
from retention.training.config import LightGBMConfig, TrainingConfig, load_config
from retention.training.fit import booster_params, kept_rounds, stopping, training_set
from retention.training.pipeline import (
    ID,
    LABEL,
    PART,
    TIME,
    TrainingRows,
    fingerprint,
    stopped_by_signals,
)

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)
# Bump when the search space or the objective changes: a new study then starts.
SEARCH_VERSION = "2"
STUDY_TAG = "retention.study"
# A seed's fixed number of rounds (early stopping off); the sampler never proposes it.
ROUNDS = "rounds"
FIXED_ROUNDS = "fixed_rounds"  # the seed's user attribute that asks for them
FOLDS = 3  # a table without times: stratified folds of its train and validation rows
# LightGBM's own defaults for the parameters searched (no bagging, no constraints).
LIGHTGBM_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.1,
    "num_leaves": 31,
    "min_child_samples": 20,
    "feature_fraction": 1.0,
    "bagging_fraction": 1.0,
    "lambda_l2": 0.0,
    "monotone_constraints": False,
    ROUNDS: DEFAULT_LIGHTGBM_ROUNDS,  # a fixed number of rounds, no early stopping
}
# The ranges searched; each is widened to hold the current config's value.
RANGES: dict[str, tuple[float, float]] = {
    "learning_rate": (0.01, 0.3),
    "num_leaves": (4, 64),  # more leaves with the advanced monotone method: slow, no better
    "min_child_samples": (5, 500),
    "feature_fraction": (0.3, 1.0),
    "bagging_fraction": (0.4, 1.0),
    "lambda_l2": (0.0, 20.0),
}
LOG_SCALE = {"learning_rate", "num_leaves", "min_child_samples"}
INTEGER = {"num_leaves", "min_child_samples"}
# The pruner's step: a tenth of "rounds x learning rate", so trials with different learning
# rates are compared at the same progress, not at the same round.
STEPS_PER_UNIT = 10


@dataclass(frozen=True)
class Fold:
    """One fit's feature matrices: train and the rows it is stopped early and judged on."""

    train: np.ndarray
    train_label: np.ndarray
    valid: np.ndarray
    valid_label: np.ndarray


def validation_folds(rows: TrainingRows, seed: int) -> list[Fold]:
    """The time split's train -> validation, or (no times) stratified folds of both parts,
    an account's rows kept in one fold."""
    frame = rows.frame
    timed = bool(frame[TIME].notna().any())
    pool = frame[frame[PART].isin(["train", "validation"])]
    if timed:
        splits = [(pool[PART].eq("train").to_numpy(), pool[PART].eq("validation").to_numpy())]
    else:
        folds = StratifiedGroupKFold(n_splits=FOLDS, shuffle=True, random_state=seed)
        splits = []
        for train_at, valid_at in folds.split(pool, pool[LABEL], groups=pool[ID].astype(str)):
            train_mask = np.zeros(len(pool), dtype=bool)
            train_mask[train_at] = True
            valid_mask = np.zeros(len(pool), dtype=bool)
            valid_mask[valid_at] = True
            splits.append((train_mask, valid_mask))
    out = []
    for train_mask, valid_mask in splits:
        train, valid = pool[train_mask], pool[valid_mask]
        levels = category_levels(train, rows.categorical)
        out.append(
            Fold(
                train=feature_matrix(train, rows.features, levels),
                train_label=train[LABEL].to_numpy(dtype=int),
                valid=feature_matrix(valid, rows.features, levels),
                valid_label=valid[LABEL].to_numpy(dtype=int),
            )
        )
    return out


def trial_params(params: LightGBMConfig, monotone: list[int]) -> dict[str, Any]:
    """The parameters `fit_booster` trains with, with ROC AUC watched beside the log loss:
    early stopping still looks at the log loss only (first_metric_only)."""
    return {**booster_params(params, monotone), "metric": ["binary_logloss", "auc"]}


def trial_booster(
    fold: Fold,
    features: list[str],
    categorical: list[str],
    monotone: list[int],
    params: LightGBMConfig,
    callbacks: list[Callable[[Any], None]] | None = None,
) -> lgb.Booster:
    """The booster `fit_booster` makes on this fold, with extra callbacks (the pruner's)."""
    train_set = training_set(fold.train, fold.train_label, features, categorical)
    valid_set = lgb.Dataset(fold.valid, fold.valid_label, reference=train_set)
    return lgb.train(
        trial_params(params, monotone),
        train_set,
        num_boost_round=params.max_rounds,
        valid_sets=[valid_set],
        valid_names=["validation"],
        callbacks=[*stopping(params), *(callbacks or [])],
    )


def _pruning_callback(trial: Trial, learning_rate: float) -> Callable[[Any], None]:
    """Report the validation ROC AUC at each step of progress; stop a trial the pruner
    gives up on."""
    last = [-1]

    def callback(env: Any) -> None:
        step = int((env.iteration + 1) * learning_rate * STEPS_PER_UNIT)
        if step <= last[0]:
            return
        last[0] = step
        auc = next(value for _, name, value, _ in env.evaluation_result_list if name == "auc")
        trial.report(float(auc), step)
        if trial.should_prune():
            raise optuna.TrialPruned(f"validation ROC AUC {auc:.4f} at step {step}")

    return callback


def suggest(trial: Trial, base: TrainingConfig, constrainable: bool) -> TrainingConfig:
    """A trial's training config: the base one with the searched parameters replaced."""
    values: dict[str, Any] = {}
    for name, (low, high) in _ranges(base).items():
        if name in INTEGER:
            values[name] = trial.suggest_int(name, int(low), int(high), log=name in LOG_SCALE)
        else:
            values[name] = trial.suggest_float(name, low, high, log=name in LOG_SCALE)
    monotone = (
        trial.suggest_categorical("monotone_constraints", [True, False]) if constrainable else False
    )
    values["monotone_constraints"] = monotone
    rounds = trial.user_attrs.get(FIXED_ROUNDS)
    if rounds:  # a seed with fixed rounds (LightGBM's defaults), kept as a param of its own
        values[ROUNDS] = trial.suggest_int(ROUNDS, int(rounds), int(rounds))
    return tuned_config(base, values)


def _ranges(base: TrainingConfig) -> dict[str, tuple[float, float]]:
    current = _current_params(base)
    return {
        name: (min(low, current[name]), max(high, current[name]))
        for name, (low, high) in RANGES.items()
    }


def _current_params(base: TrainingConfig) -> dict[str, Any]:
    """The base config's values of the searched parameters (no bagging when its bagging_freq
    is 0: fraction 1 is the same fit)."""
    lgb_config = base.lightgbm
    values = {name: getattr(lgb_config, name) for name in RANGES}
    if lgb_config.bagging_freq == 0:
        values["bagging_fraction"] = 1.0
    return {**values, "monotone_constraints": base.monotone_constraints}


def tuned_config(
    base: TrainingConfig, params: dict[str, Any], name: str | None = None
) -> TrainingConfig:
    """The base config with these parameters (bagging on, every round, when its frequency was
    0), validated as a file would be; with `rounds`, exactly that many and no early stopping."""
    lgb_values = {k: v for k, v in params.items() if k in RANGES}
    lgb_values["bagging_freq"] = max(1, base.lightgbm.bagging_freq)
    lgb_values["early_stopping_rounds"] = patience(base.lightgbm, lgb_values["learning_rate"])
    if params.get(ROUNDS):
        lgb_values.update(max_rounds=int(params[ROUNDS]), early_stopping_rounds=0)
    dumped = base.model_dump()
    dumped["lightgbm"] = {**dumped["lightgbm"], **lgb_values}
    dumped["monotone_constraints"] = bool(params["monotone_constraints"])
    if name is not None:
        dumped["name"] = name
    return TrainingConfig.model_validate(dumped)


def patience(base: LightGBMConfig, learning_rate: float) -> int:
    """Early stopping's patience for a learning rate: the base config's at its own rate or
    below, fewer rounds at a faster rate (the same progress, rounds x rate), at least 10. A
    trial at 0.1 need not run 200 rounds past its best; the tuned config keeps the trial's, so
    `retention train` fits the booster the trial was judged by."""
    scaled = round(base.early_stopping_rounds * base.learning_rate / learning_rate)
    return max(min(10, base.early_stopping_rounds), min(base.early_stopping_rounds, scaled))


def study_name(rows: TrainingRows, config: TrainingConfig) -> str:
    """The config's name and a digest of the rows (features, label, parts) and the config."""
    digest = hashlib.sha256()
    digest.update(fingerprint(rows.frame[[*rows.features, LABEL, PART]]).encode())
    digest.update(json.dumps(config.model_dump(mode="json"), sort_keys=True).encode())
    digest.update(f"search {SEARCH_VERSION}".encode())
    safe = "".join(c if c.isalnum() or c in "-_" else "-" for c in config.name)
    return f"{safe}-{digest.hexdigest()[:12]}"


def objective(
    rows: TrainingRows, folds: list[Fold], base: TrainingConfig
) -> Callable[[Trial], float]:
    """A trial: fit on each fold, return the mean validation ROC AUC at the kept round."""
    constrainable = any(rows.monotone)
    off = [0] * len(rows.features)

    def run(trial: Trial) -> float:
        began = time.perf_counter()
        config = suggest(trial, base, constrainable)
        monotone = rows.monotone if config.monotone_constraints else off
        roc, pr, rounds = [], [], []
        for k, fold in enumerate(folds):
            callbacks = []
            if len(folds) == 1:
                callbacks = [_pruning_callback(trial, config.lightgbm.learning_rate)]
            booster = trial_booster(
                fold, rows.features, rows.categorical, monotone, config.lightgbm, callbacks
            )
            score = np.asarray(booster.predict(fold.valid, num_iteration=kept_rounds(booster)))
            roc.append(float(roc_auc_score(fold.valid_label, score)))
            pr.append(float(average_precision_score(fold.valid_label, score)))
            rounds.append(kept_rounds(booster))
            if len(folds) > 1:  # folds: the pruner judges the mean so far, fold by fold
                trial.report(float(np.mean(roc)), k)
                if trial.should_prune():
                    raise optuna.TrialPruned(f"validation ROC AUC {np.mean(roc):.4f}")
        trial.set_user_attr("validation_pr_auc", float(np.mean(pr)))
        trial.set_user_attr("rounds", int(np.mean(rounds)))
        trial.set_user_attr("seconds", time.perf_counter() - began)
        return float(np.mean(roc))

    return run


@dataclass
class TuningResult:
    """What a search found and where it wrote it."""

    study: str
    storage: Path
    out: Path
    config: TrainingConfig
    best_value: float
    best_trial: int
    seeded: dict[str, float | None]  # the current config's and LightGBM's defaults' values
    complete: int
    pruned: int
    failed: int
    minutes: float
    parent_run_id: str

    def print(self, console: Console) -> None:
        lines = [
            f"研究 / study {self.study} ({self.storage})",
            f"试验 / trials: {self.complete} 完成 complete, {self.pruned} 剪枝 pruned, "
            f"{self.failed} 失败 failed · {self.minutes:.1f} min",
            f"最佳验证 AUC / best validation ROC AUC: {self.best_value:.4f} "
            f"(trial {self.best_trial})",
        ]
        for name, value in self.seeded.items():
            shown = "-" if value is None else f"{value:.4f}"
            lines.append(f"  {name}: {shown}")
        lines.append(f"配置 / config -> {self.out} · MLflow run {self.parent_run_id}")
        for line in lines:
            console.print(line)


SEEDED = {"current": "当前配置 current config", "defaults": "LightGBM 默认 defaults"}


def tune(
    rows: TrainingRows,
    base: TrainingConfig,
    out: Path,
    work_dir: Path,
    tracking_uri: str,
    trials: int = 30,
    minutes: float | None = None,
    progress: bool = True,
) -> TuningResult:
    """Search until the study has `trials` finished trials (or `minutes` pass), then write
    the best trial's config to `out`."""
    began = time.perf_counter()
    name = study_name(rows, base)
    storage = work_dir / "tuning" / f"{name}.db"
    study = _open_study(name, storage, base, any(rows.monotone))
    folds = validation_folds(rows, base.lightgbm.seed)  # built once, before any trial
    experiment = registry.configure(tracking_uri, registry.TUNING_EXPERIMENT)
    parent = registry.tuning_run(
        experiment,
        name,
        {STUDY_TAG: name, "retention.role": "study"},  # the trials carry only the first
        {
            "study": name,
            "base_config": base.name,
            "search_version": SEARCH_VERSION,
            "source": rows.description.get("source", ""),
            "folds": len(folds),
            "storage": str(storage),
        },
    )

    def log_trial(study: optuna.Study, trial: FrozenTrial) -> None:
        _log_trial(experiment, parent, name, trial)

    remaining = trials - _finished(study)
    status = "FAILED"
    try:
        with stopped_by_signals():
            if remaining > 0:
                study.optimize(
                    objective(rows, folds, base),
                    n_trials=remaining,
                    timeout=None if minutes is None else minutes * 60,
                    callbacks=[log_trial],
                    show_progress_bar=progress,
                )
        result = _write_best(study, base, out, storage, parent, began)
        registry.log_to_run(parent, "tuning", [out])
        registry.log_run_metrics(
            parent,
            {
                "best_validation_roc_auc": result.best_value,
                "trials_complete": result.complete,
                "trials_pruned": result.pruned,
            },
        )
        status = "FINISHED"
    finally:
        registry.end_run(parent, status)
    return result


def _open_study(name: str, path: Path, base: TrainingConfig, constrainable: bool) -> optuna.Study:
    """The study in its SQLite file, created or continued; trials left running by a process
    that is gone are failed, and the two seeded trials enqueued unless already run."""
    path.parent.mkdir(parents=True, exist_ok=True)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = optuna.storages.RDBStorage(f"sqlite:///{path.resolve()}")
    existing = optuna.create_study(
        study_name=name, storage=storage, direction="maximize", load_if_exists=True
    )
    started = len(existing.trials)
    study = optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        load_if_exists=True,
        # a new seed when continuing, or the random first trials would repeat the first run's
        sampler=optuna.samplers.TPESampler(seed=base.lightgbm.seed + started),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=STEPS_PER_UNIT),
    )
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        # one process per study: a trial still running was stopped with its process
        storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        log.warning("trial %d of study %s was left running: failed", trial.number, name)
    seeds = {"current": _current_params(base), "defaults": dict(LIGHTGBM_DEFAULTS)}
    kept = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.WAITING)
    done = [t.system_attrs.get("fixed_params") for t in study.get_trials(states=kept)]
    for label, params in seeds.items():
        if not constrainable:
            params.pop("monotone_constraints")
        if params not in done:
            fixed = {FIXED_ROUNDS: params[ROUNDS]} if ROUNDS in params else {}
            study.enqueue_trial(params, user_attrs={"seed": label, **fixed})
    return study


def _finished(study: optuna.Study) -> int:
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.PRUNED)))


def _log_trial(experiment: str, parent: str, study: str, trial: FrozenTrial) -> None:
    """A finished trial as a nested MLflow run under the study's parent run."""
    metrics = {k: float(v) for k, v in trial.user_attrs.items() if isinstance(v, int | float)}
    if trial.value is not None:
        metrics["validation_roc_auc"] = float(trial.value)
    if trial.intermediate_values:
        step = max(trial.intermediate_values)
        metrics["last_reported_roc_auc"] = float(trial.intermediate_values[step])
        metrics["last_reported_step"] = float(step)
    if trial.duration is not None:
        metrics["seconds"] = trial.duration.total_seconds()
    registry.log_child_run(
        experiment,
        parent,
        f"trial-{trial.number}",
        params=dict(trial.params),
        metrics=metrics,
        tags={
            STUDY_TAG: study,
            "optuna.trial": str(trial.number),
            "optuna.state": trial.state.name,
            "optuna.seed": str(trial.user_attrs.get("seed", "")),
        },
        failed=trial.state == TrialState.FAIL,
    )


def _write_best(
    study: optuna.Study, base: TrainingConfig, out: Path, storage: Path, parent: str, began: float
) -> TuningResult:
    """The best trial's config as a YAML file `retention train --config` reads, checked by
    reading it back."""
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        raise ValueError(f"study {study.study_name}: no trial has finished yet")
    best = study.best_trial
    params = {"monotone_constraints": False, **best.params}
    config = tuned_config(base, params, name=out.stem)
    seeded: dict[str, float | None] = dict.fromkeys(SEEDED)
    for trial in complete:
        label = trial.user_attrs.get("seed")
        if label in seeded:
            seeded[label] = trial.value
    english = {"current": "current config", "defaults": "LightGBM defaults"}
    shown = ", ".join(f"{english[k]} {'-' if v is None else f'{v:.4f}'}" for k, v in seeded.items())
    header = [
        f"# Tuned by `retention tune`: study {study.study_name}, {len(complete)} complete trials.",
        f"# Best validation ROC AUC {best.value:.4f} (trial {best.number}); {shown}.",
        f"# Train with it: retention train DIR --config {out}",
    ]
    out.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
    out.write_text("\n".join(header) + "\n" + body, encoding="utf-8")
    if load_config(out) != config:
        raise ValueError(f"{out}: the written config does not read back the same")
    return TuningResult(
        study=study.study_name,
        storage=storage,
        out=out,
        config=config,
        best_value=float(best.value or 0.0),
        best_trial=best.number,
        seeded=seeded,
        complete=len(complete),
        pruned=len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))),
        failed=len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))),
        minutes=(time.perf_counter() - began) / 60,
        parent_run_id=parent,
    )
