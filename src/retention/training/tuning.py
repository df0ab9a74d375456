"""`retention tune`: a hyperparameter search for the booster, written as a training config.

The rows are built once (a dataset folder's stacked snapshots or a user's table, as
`retention train` builds them) and so are the feature matrices of every fit a trial is judged
on (`window_parts`): the time split's validation snapshots once for each of four disjoint
groups of accounts, and earlier validation blocks where the history allows (rolling origin);
on a table without times, stratified folds. Never the test. A trial's first fit stops early
as `retention.training.fit.fit_booster` does (`trial_booster`, with the pruner's callback),
the others reuse its rounds. The objective is the mean validation ROC AUC: the champion gate
compares ROC AUC (and PR AUC), both rank-based, and calibration fixes the probabilities
afterwards, so log loss would reward what calibration repairs anyway.

The first two trials are the current config's parameters and LightGBM's plain defaults, the
latter with its 100 rounds and no early stopping (the very booster of the run's "default
LightGBM" baseline). The config written is chosen by a one-standard-error rule (`choose`):
the defaults unless the best trial's lead over them, fit by fit, exceeds its standard error.
The study lives in a SQLite file under the work dir (`tuning/<study>.db`), named after the
rows' fingerprint and the config: a run that was stopped continues where it was (`--trials`
is the study's total). Each trial is a nested MLflow run under one parent run per study. The
chosen trial is written as a training YAML that `retention train --config` reads (validated
by TrainingConfig).
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
import pandas as pd
import yaml
from optuna.trial import FrozenTrial, Trial, TrialState
from sklearn.metrics import average_precision_score, roc_auc_score
from sklearn.model_selection import StratifiedGroupKFold

from retention.model import registry
from retention.model.artifact import category_levels, feature_matrix
from retention.training.baselines import DEFAULT_LIGHTGBM_ROUNDS
from retention.training.config import LightGBMConfig, TrainingConfig, load_config
from retention.training.fit import (
    booster_params,
    fit_rounds,
    kept_rounds,
    stopping,
    training_set,
)
from retention.training.pipeline import (
    ID,
    LABEL,
    PART,
    SPARE,
    TIME,
    TrainingRows,
    fingerprint,
    stopped_by_signals,
)

if TYPE_CHECKING:
    from rich.console import Console

log = logging.getLogger(__name__)
# Bump when the search space or the objective changes: a new study then starts.
SEARCH_VERSION = "3"
STUDY_TAG = "retention.study"
# A seed's fixed number of rounds (early stopping off); the sampler never proposes it.
ROUNDS = "rounds"
FIXED_ROUNDS = "fixed_rounds"  # the seed's user attribute that asks for them
FOLDS = 3  # a table without times: stratified folds of its train and validation rows
# What a trial is judged on (window_parts): the validation snapshots of a quarter of the
# accounts (about 55 churners at 2,000 accounts) are too noisy to choose by, so every account
# is validated once, in disjoint groups, and earlier windows are added where history allows.
ACCOUNT_GROUPS = 4  # each fit trains on the other three quarters, as the time split does
EARLIER_WINDOWS = 1  # rolling origin: earlier validation blocks, each fitted on what precedes it
MIN_TRAIN_SNAPSHOTS = 6  # an earlier window is made only with this many snapshots before it
WINDOW_SCORES = "window_roc_auc"  # the user attribute: each window's validation ROC AUC
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


def window_parts(rows: TrainingRows, config: TrainingConfig) -> list[pd.Series]:
    """The fits a trial is judged on, each as "train"/"validation" labels of the rows (None:
    not in that fit); only rows before the test are ever labelled.

    First the time split's validation snapshots, once for each of `ACCOUNT_GROUPS` disjoint
    groups of accounts (held out of training, trained on the other accounts' earlier
    snapshots, as split.hold_out_accounts does with one share): every account is validated
    once. Then rolling origin, where the history allows: up to `EARLIER_WINDOWS` blocks of as
    many snapshots, each ending where the next begins, fitted on every snapshot before it,
    each with the next group held out. A fit with one class only is not made."""
    frame = rows.frame
    accounts = frame[ID].astype(str)
    ids = np.sort(accounts.unique())
    order = np.random.default_rng(config.lightgbm.seed).permutation(len(ids))
    group = accounts.map(dict(zip(ids[order], np.arange(len(ids)) % ACCOUNT_GROUPS, strict=True)))
    validation = frame.loc[frame[PART].eq("validation"), TIME]
    learning = frame.loc[frame[PART].isin(["train", "validation", SPARE]), TIME]
    dates = np.sort(learning[learning <= validation.max()].unique())
    width = validation.nunique()
    plans = [(len(dates), g) for g in range(ACCOUNT_GROUPS)]
    for k in range(1, EARLIER_WINDOWS + 1):
        if len(dates) - (k + 1) * width >= MIN_TRAIN_SNAPSHOTS:
            plans.append((len(dates) - k * width, k % ACCOUNT_GROUPS))
    windows = []
    for end, held in plans:
        parts = pd.Series(None, index=frame.index, dtype=object)
        parts[frame[TIME].isin(dates[: end - width]) & group.ne(held)] = "train"
        parts[frame[TIME].isin(dates[end - width : end]) & group.eq(held)] = "validation"
        if min(frame.loc[parts.eq(p), LABEL].nunique() for p in ("train", "validation")) == 2:
            windows.append(parts)
    return windows


def validation_folds(rows: TrainingRows, config: TrainingConfig) -> list[Fold]:
    """The fits each trial is judged by: on the time split, its time-ordered validation
    windows (`window_parts`, the latest first); without times, stratified folds of the train
    and validation rows, an account's rows kept in one fold."""
    frame = rows.frame
    if bool(frame[TIME].notna().any()):
        splits = [
            (p.eq("train").to_numpy(), p.eq("validation").to_numpy())
            for p in window_parts(rows, config)
        ]
    else:
        pool = frame[PART].isin(["train", "validation"]).to_numpy()
        at = np.flatnonzero(pool)
        folds = StratifiedGroupKFold(
            n_splits=FOLDS, shuffle=True, random_state=config.lightgbm.seed
        )
        splits = []
        for train_at, valid_at in folds.split(
            at, frame[LABEL].iloc[at], groups=frame[ID].iloc[at].astype(str)
        ):
            train_mask = np.zeros(len(frame), dtype=bool)
            train_mask[at[train_at]] = True
            valid_mask = np.zeros(len(frame), dtype=bool)
            valid_mask[at[valid_at]] = True
            splits.append((train_mask, valid_mask))
    out = []
    for train_mask, valid_mask in splits:
        train, valid = frame[train_mask], frame[valid_mask]
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
    """A trial: stopped early on the first fold (the pruner watching it round by round), the
    other folds fitted with the rounds it kept, as `retention train` refits with them; the
    mean validation ROC AUC over the folds, each fold's kept as a user attribute."""
    constrainable = any(rows.monotone)
    off = [0] * len(rows.features)

    def run(trial: Trial) -> float:
        began = time.perf_counter()
        config = suggest(trial, base, constrainable)
        monotone = rows.monotone if config.monotone_constraints else off
        shape = (rows.features, rows.categorical, monotone, config.lightgbm)
        pruning = _pruning_callback(trial, config.lightgbm.learning_rate)
        stopped = trial_booster(folds[0], *shape, [pruning])
        rounds = kept_rounds(stopped)
        roc, pr = [], []
        for k, fold in enumerate(folds):
            if k == 0:
                score = stopped.predict(fold.valid, num_iteration=rounds)
            else:
                booster = fit_rounds(fold.train, fold.train_label, *shape, rounds)
                score = booster.predict(fold.valid)
            roc.append(float(roc_auc_score(fold.valid_label, np.asarray(score))))
            pr.append(float(average_precision_score(fold.valid_label, np.asarray(score))))
        trial.set_user_attr(WINDOW_SCORES, roc)
        trial.set_user_attr("validation_pr_auc", float(np.mean(pr)))
        trial.set_user_attr("rounds", rounds)
        trial.set_user_attr("seconds", time.perf_counter() - began)
        return float(np.mean(roc))

    return run


@dataclass(frozen=True)
class Choice:
    """The trial whose config is written, and why."""

    trial: FrozenTrial
    best: FrozenTrial  # the highest mean validation ROC AUC
    margin: float | None  # the best's mean lead over the defaults seed, window by window
    standard_error: float | None  # of that lead, from its spread over the windows

    @property
    def reason(self) -> str:
        if self.margin is None or self.standard_error is None:
            return "最高验证 AUC / highest validation ROC AUC"
        lead = f"{self.margin:+.4f} ± {self.standard_error:.4f}"
        if self.trial is self.best:
            return f"领先默认参数超过一个标准误 / beats the defaults by more than one SE ({lead})"
        return f"未超过默认参数一个标准误 / within one SE of the defaults ({lead}): defaults kept"


def choose(complete: list[FrozenTrial]) -> Choice:
    """The one-standard-error rule: LightGBM's plain defaults unless the best trial's mean
    validation ROC AUC beats theirs by more than the standard error of its lead, measured
    window by window (paired: a window hard for one config is hard for the other). The best
    of many trials on the same windows is lucky on them; a lead within the windows' spread
    is noise, and with it the tuned model tends to lose to the defaults on the test."""
    best = max(complete, key=lambda t: float(t.value or 0.0))
    defaults = next((t for t in complete if t.user_attrs.get("seed") == "defaults"), None)
    if defaults is None or best is defaults:
        return Choice(best, best, None, None)
    lead = np.subtract(
        best.user_attrs.get(WINDOW_SCORES, []), defaults.user_attrs.get(WINDOW_SCORES, [])
    )
    if len(lead) < 2:  # one window: no spread to judge by
        return Choice(best, best, None, None)
    margin = float(lead.mean())
    error = float(lead.std(ddof=1) / np.sqrt(len(lead)))
    return Choice(best if margin > error else defaults, best, margin, error)


@dataclass
class TuningResult:
    """What a search found and where it wrote it."""

    study: str
    storage: Path
    out: Path
    config: TrainingConfig
    best_value: float
    best_trial: int
    chosen_trial: int  # the trial written: the best, or the defaults by the one-SE rule
    chosen_value: float
    reason: str
    windows: int  # the validation windows (or folds) each trial is judged on
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
            f"(trial {self.best_trial}, {self.windows} 个验证窗口平均 / mean of "
            f"{self.windows} validation windows)",
            f"选用 / chosen: trial {self.chosen_trial} ({self.chosen_value:.4f}), {self.reason}",
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
    folds = validation_folds(rows, base)  # built once, before any trial
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
                "chosen_validation_roc_auc": result.chosen_value,
                "chosen_trial": result.chosen_trial,
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
    for k, value in enumerate(trial.user_attrs.get(WINDOW_SCORES, []), start=1):
        metrics[f"window_{k}_roc_auc"] = float(value)
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
    choice = choose(complete)
    best, chosen = choice.best, choice.trial
    params = {"monotone_constraints": False, **chosen.params}
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
        f"# Best mean validation ROC AUC {best.value:.4f} (trial {best.number}); {shown}.",
        f"# Chosen: trial {chosen.number}, {choice.reason}.",
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
        chosen_trial=chosen.number,
        chosen_value=float(chosen.value or 0.0),
        reason=choice.reason,
        windows=len(chosen.user_attrs.get(WINDOW_SCORES, [])),
        seeded=seeded,
        complete=len(complete),
        pruned=len(study.get_trials(deepcopy=False, states=(TrialState.PRUNED,))),
        failed=len(study.get_trials(deepcopy=False, states=(TrialState.FAIL,))),
        minutes=(time.perf_counter() - began) / 60,
        parent_run_id=parent,
    )
