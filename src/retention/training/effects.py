"""Effect models of the retention actions (issue 17, item 3): per action, how much churn a
follow-up with it averts for each account, learned from the randomised assignments in
`interventions` and checked out of time.

Rows: every randomised assignment (a follow-up drawn at the capacity edge, or a held-out
control; `interventions.randomised` / `assignment`) with its propensity
(`assignment_probability`), its features at the assignment's snapshot (the first day of the
month it was created, through the product's point-in-time builder `build_snapshots`) and its
label (churn within the horizon after the snapshot, `features.labels`); rows whose horizon has
not ended are left out. Follow-ups that could not reach the account stay treated: the effect
is that of assigning the action (intent to treat), which is what the team decides.

Model, per action: a meta-learner of LightGBM, each row weighted by its inverse propensity
so that the follow-ups and the controls stand for the same randomised population. One risk
model of every randomised row, then for each arm (the controls, each action) a shift of its
log-odds: a constant (a weighted logistic regression with the risk as offset) plus what a
booster with leaves of at least `shift_min_rows` rows finds; the estimated effect is the
controls' churn minus the action's. A plain T-learner (`learner: t_learner`: a model of the
controls and one of each action's follow-ups) relearns the risk from a few hundred rows per
arm: on the simulator (5,000 accounts, seeds 1-3, benchmarks/effects.py --learner) its
estimates' correlation with the true effects was 0.00-0.21 by action against 0.17-0.33 with
the shared risk, and its ranking averted less true churn for two actions of four. Trained on the
earlier assignment months, evaluated on the last `test_months`: Qini coefficient and AUUC
from the randomised outcomes (inverse-propensity weighted, `uplift`), and, when the simulator's
`_truth/action_effects` is there, the same metrics of the true effects (the oracle's Qini), the
true churn averted by the model's ranking against the oracle's, and the correlation of the
estimated effects with the true ones. Tracked in MLflow, experiment `key-account-effects`:
one run, a nested run per action.

Why not causalml or econml: the meta-learner is a few boosters and a subtraction on the
LightGBM already here; either library would bring a large dependency tree (econml: shap,
sparse, dowhy pins; causalml: Cython builds, torch extras) into a 2-core service for what is
a few dozen lines, and neither adds what matters here (the out-of-time split, the product's
features, the propensities of the log). Should the X-learner or doubly robust learners be
needed, econml is the candidate.

Until an action has `min_treated` randomised follow-ups and the data `min_controls` controls
with matured outcomes (200 each by default: with fewer, the Qini of a few dozen test rows is
noise), it is reported as not enough evidence and not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import lightgbm as lgb
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

from retention.data.contract import ACTION_CODES, DEFAULT_ASSIGNMENT
from retention.data.dataset import Dataset
from retention.data.simulator import TRUTH_DIR
from retention.features.catalogue import Catalogue, load_catalogue
from retention.features.labels import ChurnDefinition
from retention.features.snapshot import build_training_set
from retention.model import registry
from retention.model.artifact import category_levels, feature_matrix
from retention.model.effects_artifact import CONTROL, ActionEvidence, Arm, EffectModels
from retention.store.evidence import save_evidence
from retention.training import evidence as effect_evidence
from retention.training import uplift
from retention.training.config import LightGBMConfig
from retention.training.fit import booster_params

if TYPE_CHECKING:
    from rich.console import Console
    from sqlalchemy import Engine

    from retention.records.evidence import EffectEvidence

TIME, ID, LABEL = "snapshot_date", "customer_id", "churn"
ACTION, TREATED, WEIGHT = "action_code", "treated", "weight"
MIN_TREATED = 200
MIN_CONTROLS = 200
MODELLED, NOT_ENOUGH, NO_TEST = "modelled", "not_enough_evidence", "no_test_rows"
STATUS_TEXT = {
    MODELLED: "已建模 / modelled",
    NOT_ENOUGH: "证据不足 / not enough evidence",
    NO_TEST: "测试期无样本 / no test rows",
}


class EffectsConfig(BaseModel):
    """How the effect models are trained (small data: hundreds of rows per action)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    churn: ChurnDefinition = ChurnDefinition()
    test_months: int = Field(default=6, ge=1, le=60)  # the last assignment months: the test
    min_treated: int = Field(default=MIN_TREATED, ge=1)
    min_controls: int = Field(default=MIN_CONTROLS, ge=1)
    rounds: int = Field(default=150, ge=1)
    # shared_base: one risk model of every randomised row, each arm (the controls, each action)
    # a shift of its log-odds; t_learner: a model of the controls and one of each action.
    learner: Literal["shared_base", "t_learner"] = "shared_base"
    shift_rounds: int = Field(default=50, ge=1)
    shift_min_rows: int = Field(default=80, ge=1)  # the shift's smallest leaf, in rows
    lightgbm: LightGBMConfig = LightGBMConfig(
        learning_rate=0.05, num_leaves=4, min_child_samples=20, lambda_l2=5.0
    )


@dataclass
class ActionEffects:
    """One action's evidence, and its model's figures on the test months when modelled."""

    action: str
    rows: int  # randomised assignments with matured outcomes: the action's follow-ups + controls
    treated: int
    controls: int
    status: str
    metrics: dict[str, float] = field(default_factory=dict)


@dataclass
class EffectsResult:
    run_id: str
    actions: list[ActionEffects]
    test_from: pd.Timestamp | None
    minimum: tuple[int, int] = (MIN_TREATED, MIN_CONTROLS)  # treated, controls per action
    version: str | None = None  # of key-account-effects, when some action was modelled
    champion: bool = False  # the version became the champion scoring reads (enough evidence)
    evidence: EffectEvidence | None = None  # the randomised outcomes' effects (evidence.py)

    def print(self, console: Console) -> None:
        """A table per action: evidence, Qini of the model against the oracle's, AUUC."""
        from rich.table import Table

        table = Table(title="挽留行动效果模型 / effect models of the retention actions")
        headers = (
            "行动 action",
            "样本 rows",
            "跟进 treated",
            "对照 controls",
            "Qini 模型 model",
            "Qini 理论 oracle",
            "AUUC 模型 model",
            "与真值相关 corr",
            "状态 status",
        )
        for i, header in enumerate(headers):
            table.add_column(header, justify="left" if i in (0, 8) else "right")
        for a in self.actions:
            m = a.metrics
            cells = [_figure(m.get(k)) for k in ("qini_model", "qini_oracle", "auuc_model")]
            cells.append(_figure(m.get("correlation_true"), digits=2))
            table.add_row(
                a.action, f"{a.rows:,}", f"{a.treated:,}", f"{a.controls:,}", *cells,
                STATUS_TEXT[a.status],
            )  # fmt: skip
        console.print(table)
        if self.test_from is not None:
            console.print(f"测试期 / test months from: {self.test_from:%Y-%m}")
        console.print(
            f"最少随机样本 / minimum randomised outcomes: {self.minimum[0]} 跟进 treated + "
            f"{self.minimum[1]} 对照 controls per action; Qini, AUUC: churn averted per account "
            f"above random (0: no better than random)"
        )
        if self.version is None:
            console.print(
                "未登记效果模型 / no effect model registered: 证据不足 / not enough evidence"
            )
        else:
            role = "冠军 / champion: 评分据此估算挽回金额 / scoring estimates money saved with it"
            console.print(
                f"效果模型 / effect models: key-account-effects v{self.version}"
                + (f", {role}" if self.champion else "")
            )


def _figure(value: float | None, digits: int = 4) -> str:
    return "-" if value is None or not np.isfinite(value) else f"{value:.{digits}f}"


def assignment_rows(
    dataset: Dataset, config: EffectsConfig, catalogue: Catalogue | None = None
) -> pd.DataFrame:
    """Every randomised assignment with a propensity and a matured outcome: its features at
    the assignment's snapshot, `churn`, `treated`, `action_code` and `weight` (1 / propensity)."""
    iv = dataset.interventions
    if iv is None or iv.empty:
        return pd.DataFrame(columns=[TIME, ID, ACTION, TREATED, WEIGHT, LABEL])
    # A loaded dataset has every optional column (empty when the file left it out).
    empty = pd.Series(pd.NA, index=iv.index, dtype="object")
    assignment = iv.get("assignment", empty).astype("object").fillna(DEFAULT_ASSIGNMENT)
    held_out = assignment.eq("held_out").to_numpy(dtype=bool)
    marked = iv.get("randomised", empty).astype("object").fillna(False)
    randomised = marked.astype(bool).to_numpy() | held_out
    probability = pd.to_numeric(iv.get("assignment_probability", empty)).to_numpy(
        dtype=float, na_value=np.nan
    )
    keep = randomised & np.isfinite(probability)
    created = pd.to_datetime(iv["created_at"])
    rows = pd.DataFrame(
        {
            TIME: created.dt.to_period("M").dt.to_timestamp().astype("datetime64[ns]"),
            ID: iv["customer_id"].astype(str),
            ACTION: iv["action_code"].astype(str),
            TREATED: ~held_out,
            WEIGHT: 1.0 / probability,
        }
    )[keep]
    # One assignment per account and snapshot: a second would be the same decision again.
    rows = rows.drop_duplicates([TIME, ID], keep="first")
    if rows.empty:
        return rows.assign(**{LABEL: pd.Series(dtype=float)})
    features = build_training_set(dataset, catalogue, config.churn, snapshots=rows[TIME].unique())
    features = features.reset_index()
    features[TIME] = features[TIME].astype("datetime64[ns]")
    features[ID] = features[ID].astype(str)
    features = features.drop(columns=[ACTION, TREATED, WEIGHT], errors="ignore")
    joined = rows.merge(features, on=[TIME, ID], how="inner")  # matured, not in exit process
    joined[LABEL] = joined[LABEL].astype(int)
    return joined.reset_index(drop=True)


def simulator_effects(folder: Path | None) -> pd.DataFrame | None:
    """The simulator's true effect of every action at every snapshot, when the folder has it."""
    if folder is None:
        return None
    path = folder / TRUTH_DIR / "action_effects.parquet"
    if not path.exists():
        return None
    return as_truth(pd.read_parquet(path, columns=[ID, TIME, ACTION, "effect"]))


def as_truth(action_effects: pd.DataFrame) -> pd.DataFrame:
    """The simulator's `action_effects` in the rows' types (a simulation kept in memory)."""
    truth = action_effects[[ID, TIME, ACTION, "effect"]].copy()
    truth[TIME] = pd.to_datetime(truth[TIME]).astype("datetime64[ns]")
    truth[ID] = truth[ID].astype(str)
    truth[ACTION] = truth[ACTION].astype(str)
    return truth


@dataclass
class _Learning:
    """What the per-action fits share: the split, the feature matrix and the control model."""

    rows: pd.DataFrame
    train: np.ndarray  # bool per row
    matrix: np.ndarray
    features: list[str]
    categorical: list[str]
    control_churn: np.ndarray  # the control model's churn probability of every row
    base: np.ndarray  # the shared risk model's log-odds of every row (learner shared_base)
    # What the fits keep for scoring (retention.model.effects_artifact): the category levels,
    # the shared risk booster, and each arm's (CONTROL, each action) constant and booster.
    levels: dict[str, list[str]] = field(default_factory=dict)
    base_booster: lgb.Booster | None = None
    arms: dict[str, Arm] = field(default_factory=dict)


def _booster(
    matrix: np.ndarray,
    rows: pd.DataFrame,
    learning: _Learning,
    config: EffectsConfig,
    start: np.ndarray | None = None,
    rounds: int | None = None,
) -> lgb.Booster:
    """One weighted LightGBM classifier of churn (no monotone constraints: an effect may go
    against the risk's direction), boosted from `start` (log-odds) when given."""
    data = lgb.Dataset(
        matrix,
        rows[LABEL].to_numpy(),
        weight=rows[WEIGHT].to_numpy(),
        init_score=start,
        feature_name=learning.features,
        categorical_feature=[learning.features.index(c) for c in learning.categorical],
        free_raw_data=False,
    )
    params = booster_params(config.lightgbm, [0] * len(learning.features))  # unconstrained
    if start is not None:  # the shift: leaves of many rows, or it learns the noise
        params["min_child_samples"] = config.shift_min_rows
        params["min_sum_hessian_in_leaf"] = 0.0
    return lgb.train(params, data, num_boost_round=rounds or config.rounds)


def _learning(rows: pd.DataFrame, config: EffectsConfig, catalogue: Catalogue) -> _Learning:
    """The out-of-time split (the last `test_months` snapshots test) and the control model."""
    months = np.sort(rows[TIME].unique())
    test_from = months[max(0, len(months) - config.test_months)]
    train = (rows[TIME] < test_from).to_numpy()
    features = catalogue.names(point_in_time_only=True)
    categorical = [f for f in features if catalogue.by_name[f].categorical]
    levels = category_levels(rows[train], categorical)
    matrix = feature_matrix(rows, features, levels)
    learning = _Learning(rows, train, matrix, features, categorical, np.array([]), np.array([]))
    learning.levels = levels
    controls = train & ~rows[TREATED].to_numpy(dtype=bool)
    if config.learner == "t_learner":
        booster = _booster(matrix[controls], rows[controls], learning, config)
        learning.control_churn = np.asarray(booster.predict(matrix))
        learning.arms[CONTROL] = Arm(0.0, booster)
        return learning
    # The risk from every randomised row (follow-ups and controls: twice the rows of the
    # controls alone), then each arm's shift of its log-odds.
    base = _booster(matrix[train], rows[train], learning, config)
    learning.base = np.asarray(base.predict(matrix, raw_score=True))
    learning.base_booster = base
    learning.control_churn = _sigmoid(learning.base + _shift(controls, learning, config, CONTROL))
    return learning


def _shift(chosen: np.ndarray, learning: _Learning, config: EffectsConfig, arm: str) -> np.ndarray:
    """How an arm's rows (`chosen`) move the base log-odds: a constant (weighted logistic
    regression with the base as offset, Newton's method) and, where leaves of
    `shift_min_rows` rows find it, a boosted part; for every row."""
    rows, base = learning.rows[chosen], learning.base[chosen]
    churned, weight = rows[LABEL].to_numpy(dtype=float), rows[WEIGHT].to_numpy(dtype=float)
    constant = 0.0
    for _ in range(25):
        p = _sigmoid(base + constant)
        step = np.sum(weight * (churned - p)) / max(np.sum(weight * p * (1 - p)), 1e-9)
        constant = float(np.clip(constant + step, -5.0, 5.0))
        if abs(step) < 1e-6:
            break
    start = base + constant
    booster = _booster(learning.matrix[chosen], rows, learning, config, start, config.shift_rounds)
    boosted = np.zeros(len(learning.matrix))
    if booster.num_trees():  # no tree when no leaf of shift_min_rows rows pays
        boosted = np.asarray(booster.predict(learning.matrix, raw_score=True))
    learning.arms[arm] = Arm(constant, booster if booster.num_trees() else None)
    return constant + boosted


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def _fit_action(action: str, learning: _Learning, config: EffectsConfig) -> np.ndarray:
    """The estimated effect (churn probability averted) of every row: the controls' churn
    minus the churn of the accounts followed up with `action`."""
    rows = learning.rows
    given = (rows[ACTION] == action).to_numpy() & rows[TREATED].to_numpy(dtype=bool)
    chosen = learning.train & given
    if config.learner == "t_learner":
        booster = _booster(learning.matrix[chosen], rows[chosen], learning, config)
        learning.arms[action] = Arm(0.0, booster)
        return np.asarray(learning.control_churn - booster.predict(learning.matrix))
    treated_churn = _sigmoid(learning.base + _shift(chosen, learning, config, action))
    return np.asarray(learning.control_churn - treated_churn)


def _measure(
    action: str, effect: np.ndarray, learning: _Learning, truth: pd.DataFrame | None
) -> dict[str, float]:
    """Qini and AUUC on the test months' randomised rows of the action (its follow-ups and
    every control), and against the true effects when known."""
    rows = learning.rows
    treated = rows[TREATED].to_numpy(dtype=bool)
    mine = ~learning.train & (~treated | (rows[ACTION] == action).to_numpy())
    test = rows[mine]
    score, churned = effect[mine], test[LABEL].to_numpy(dtype=float)
    arm, weight = treated[mine].astype(float), test[WEIGHT].to_numpy(dtype=float)
    metrics = {
        "test_treated": float(arm.sum()),
        "test_controls": float(len(arm) - arm.sum()),
        "qini_model": uplift.qini_coefficient(score, churned, arm, weight),
        "auuc_model": uplift.auuc(score, churned, arm, weight),
        "mean_effect_estimated": float(np.mean(score)),
        "mean_effect_randomised": _weighted_difference(churned, arm, weight),
    }
    if truth is None:
        return metrics
    true = _true_effects(test, action, truth)
    known = np.isfinite(true)
    if known.sum() < 3:
        return metrics
    score, true = score[known], true[known]
    churned, arm, weight = churned[known], arm[known], weight[known]
    metrics |= {
        "qini_oracle": uplift.qini_coefficient(true, churned, arm, weight),
        "auuc_oracle": uplift.auuc(true, churned, arm, weight),
        "true_qini_model": uplift.true_qini(score, true),
        "true_qini_oracle": uplift.true_qini(true, true),
        "mean_effect_true": float(np.mean(true)),
        "correlation_true": float(np.corrcoef(score, true)[0, 1]) if np.std(score) > 0 else 0.0,
        "rank_correlation_true": float(pd.Series(score).corr(pd.Series(true), method="spearman")),
    }
    return metrics


def _weighted_difference(churned: np.ndarray, arm: np.ndarray, weight: np.ndarray) -> float:
    """Controls' minus treated's weighted churn rate: the randomised estimate of the effect."""
    control, given = weight * (1 - arm), weight * arm
    if control.sum() == 0 or given.sum() == 0:
        return float("nan")
    return float((control * churned).sum() / control.sum() - (given * churned).sum() / given.sum())


def _true_effects(test: pd.DataFrame, action: str, truth: pd.DataFrame) -> np.ndarray:
    """Each test row's true effect of `action` at its snapshot (NaN where the truth has none)."""
    mine = truth[truth[ACTION] == action].drop_duplicates([TIME, ID])
    found = test[[TIME, ID]].merge(mine[[TIME, ID, "effect"]], on=[TIME, ID], how="left")
    return found["effect"].to_numpy(dtype=float)


def estimate_effects(
    rows: pd.DataFrame,
    config: EffectsConfig,
    truth: pd.DataFrame | None = None,
    catalogue: Catalogue | None = None,
) -> tuple[list[ActionEffects], pd.Timestamp | None]:
    """Every action of the playbook: its evidence and, when enough, its model's figures."""
    actions, test_from, _ = _estimate(rows, config, truth, catalogue)
    return actions, test_from


def _estimate(
    rows: pd.DataFrame,
    config: EffectsConfig,
    truth: pd.DataFrame | None = None,
    catalogue: Catalogue | None = None,
) -> tuple[list[ActionEffects], pd.Timestamp | None, _Learning | None]:
    """estimate_effects, and the fits it made (None when no action had enough evidence)."""
    catalogue = catalogue or load_catalogue()
    treated = rows[TREATED].to_numpy(dtype=bool) if len(rows) else np.array([], dtype=bool)
    controls = int((~treated).sum())
    found = list(dict.fromkeys(rows.loc[treated, ACTION])) if len(rows) else []
    codes = [*ACTION_CODES, *(a for a in found if a not in ACTION_CODES)]
    counts = {a: int(((rows[ACTION] == a).to_numpy() & treated).sum()) for a in codes}
    enough = controls >= config.min_controls
    modelled = [a for a in codes if enough and counts[a] >= config.min_treated]
    learning = _learning(rows, config, catalogue) if modelled else None
    results = []
    for action in codes:
        status = MODELLED if action in modelled else NOT_ENOUGH
        metrics: dict[str, float] = {}
        if learning is not None and status == MODELLED:
            metrics = _measure(action, _fit_action(action, learning, config), learning, truth)
            if not metrics["test_treated"] or not metrics["test_controls"]:
                status = NO_TEST
        results.append(
            ActionEffects(
                action, counts[action] + controls, counts[action], controls, status, metrics
            )
        )
    test_from = None
    if learning is not None and (~learning.train).any():
        test_from = pd.Timestamp(rows.loc[~learning.train, TIME].min())
    return results, test_from, learning


def effect_models(
    learning: _Learning,
    actions: list[ActionEffects],
    config: EffectsConfig,
    test_from: pd.Timestamp | None,
) -> EffectModels:
    """The fitted arms as the model layer's artifact scoring loads (the modelled actions'
    arms; every action's evidence and the minimum it was held to)."""
    modelled = [a.action for a in actions if a.status == MODELLED and a.action in learning.arms]
    return EffectModels(
        features=learning.features,
        categories=learning.levels,
        base=learning.base_booster,
        control=learning.arms[CONTROL],
        actions={a: learning.arms[a] for a in modelled},
        evidence=[ActionEvidence(a.action, a.treated, a.controls, a.status) for a in actions],
        min_treated=config.min_treated,
        min_controls=config.min_controls,
        horizon_months=config.churn.horizon_months,
        learner=config.learner,
        test_from=None if test_from is None else f"{test_from:%Y-%m}",
    )


def train_effects(
    dataset: Dataset,
    tracking_uri: str,
    config: EffectsConfig | None = None,
    truth: pd.DataFrame | None = None,
    source: str = "dataset",
    store: Engine | None = None,
) -> EffectsResult:
    """Rows from the dataset's randomised assignments, a model per action with enough
    evidence, evaluated out of time; tracked in MLflow (one run, a nested run per action).
    The evidence of the randomised outcomes (evidence.py) is logged too, and written whole
    to the `store` when given."""
    config = config or EffectsConfig()
    catalogue = load_catalogue()
    rows = assignment_rows(dataset, config, catalogue)
    actions, test_from, learning = _estimate(rows, config, truth, catalogue)
    evidence = effect_evidence.job_evidence(
        rows, catalogue, [a.action for a in actions], source, config.churn.horizon_months
    )
    experiment = registry.configure(tracking_uri, registry.EFFECTS_EXPERIMENT)
    version, champion = None, False
    tags = {"job": "effects", "source": source}
    with registry.start_run(experiment, f"effects:{source}", tags) as run_id:
        registry.log_params(
            {
                "rows": len(rows),
                "test_from": "" if test_from is None else f"{test_from:%Y-%m}",
                "truth": truth is not None,
                **{k: v for k, v in config.model_dump().items() if k != "lightgbm"},
                **{f"lightgbm_{k}": v for k, v in config.lightgbm.model_dump().items()},
            }
        )
        registry.log_metrics(
            {f"{a.action}.{k}": v for a in actions for k, v in a.metrics.items() if np.isfinite(v)}
        )
        for a in actions:
            registry.log_child_run(
                experiment,
                run_id,
                a.action,
                {"rows": a.rows, "treated": a.treated, "controls": a.controls, "status": a.status},
                {k: v for k, v in a.metrics.items() if np.isfinite(v)},
                {**tags, "action": a.action},
            )
        if learning is not None and any(a.status == MODELLED for a in actions):
            version, champion = _register(effect_models(learning, actions, config, test_from), rows)
        registry.log_text(evidence.model_dump_json(indent=1), "evidence.json")
    if store is not None:  # after the run: the store's evidence always has its MLflow run
        save_evidence(store, evidence)
    minimum = (config.min_treated, config.min_controls)
    return EffectsResult(run_id, actions, test_from, minimum, version, champion, evidence)


def _register(models: EffectModels, rows: pd.DataFrame) -> tuple[str, bool]:
    """A new version of key-account-effects; the champion when some action has enough
    evidence (scoring then estimates each account's money saved with it)."""
    version = registry.register_effects(
        models, rows, {"actions": ",".join(models.actions), "learner": models.learner}
    )
    champion = bool(models.enough())
    if champion:
        registry.set_champion(version, registry.EFFECTS_MODEL)
    return version, champion
