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
one run, a nested run per action. The version registered is then fitted again on every row,
the test months too (`refitted`; MLflow params `measured_on_rows` and `fitted_on_rows`): the
figures are the out-of-time fit's, what scoring reads has learned from the latest months.

Why not causalml or econml: the meta-learner is a few boosters and a subtraction on the
LightGBM already here; either library would bring a large dependency tree (econml: shap,
sparse, dowhy pins; causalml: Cython builds, torch extras) into a 2-core service for what is
a few dozen lines, and neither adds what matters here (the out-of-time split, the product's
features, the propensities of the log). Their X- and doubly robust learners are not kept: they
learn from the same few hundred randomised rows per action (a few dozen churned), and that,
not the estimator, is what limits the targeting below; a DR-learner tried on the simulator
(LightGBM on the doubly robust pseudo-outcomes of each action's randomised rows, these arms
as the outcome models) chose lists saving about half of what ranking by money at risk saves,
as the per-account models do. econml stays the candidate should the data grow.

The fitted models (`fit_effect_models` -> `EffectModels`) estimate every action for any frame
of snapshot features (`EffectModels.averted`), but scoring does not rank by those per-account
estimates: on the simulator (benchmarks/targeting.py: 5,000 accounts, 333 a month over the 6
test months) that list saved less than half of what the money-at-risk list saves, the
per-account effects learned at the capacity edge, from effects of 1-2 points, hardly following
the true ones over the portfolio (correlation -0.2 to +0.2 by action, seed 1). Scoring's
targeting (scoring/targeting.py, `expected_effects` -> `risk_scaled_averted`), and the
benchmark's list (b), read each action's relative reduction of churn instead
(`relative_effects`, kept in the artifact): on the playbook's action and off it, the
randomised follow-ups' observed over expected churn against the controls', pooled across
actions by empirical Bayes, scaling each account's churn probability; an action whose
reduction is not positive is not ranked by effect, and with none the list stays ranked by
money at risk. On the simulator it ties the money-at-risk list: a few dozen churned
follow-ups per action do not tell the actions' reductions apart.

Until an action has `min_treated` randomised follow-ups and the data `min_controls` controls
with matured outcomes (200 each by default: with fewer, the Qini of a few dozen test rows is
noise), it is reported as not enough evidence and not modelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
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
from retention.model.effects_artifact import (
    CONTROL,
    ActionEvidence,
    Arm,
    EffectModels,
    RelativeEffect,
)
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
        from rich import box
        from rich.table import Table

        # narrow enough for an 80-column terminal: two-line headers, rows = follow-ups + controls
        table = Table(
            title="挽留行动效果模型 / effect models of the retention actions", box=box.SIMPLE_HEAD
        )
        headers = (
            "行动\naction",
            "跟进\ntreated",
            "对照\ncontrols",
            "Qini\n模型 model",
            "Qini\n理论 oracle",
            "AUUC\nmodel",
            "相关\ncorr",
            "状态\nstatus",
        )
        for i, header in enumerate(headers):
            table.add_column(header, justify="left" if i in (0, 7) else "right")
        for a in self.actions:
            m = a.metrics
            cells = [_figure(m.get(k)) for k in ("qini_model", "qini_oracle", "auuc_model")]
            cells.append(_figure(m.get("correlation_true"), digits=2))
            table.add_row(
                a.action, f"{a.treated:,}", f"{a.controls:,}", *cells, STATUS_TEXT[a.status]
            )
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


@dataclass(frozen=True)
class _Columns:
    """The features the boosters read, and which of them are categorical."""

    features: list[str]
    categorical: list[str]


def _booster(
    matrix: np.ndarray,
    rows: pd.DataFrame,
    columns: _Columns,
    config: EffectsConfig,
    start: np.ndarray | None = None,
    rounds: int | None = None,
) -> lgb.Booster:
    """One weighted LightGBM classifier of churn (no monotone constraints: an effect may go
    against the risk's direction), boosted from `start` (log-odds) when given."""
    data = lgb.Dataset(
        matrix,
        rows[LABEL].to_numpy(),
        weight=rows[WEIGHT].to_numpy() if WEIGHT in rows else None,
        init_score=start,
        feature_name=columns.features,
        categorical_feature=[columns.features.index(c) for c in columns.categorical],
        free_raw_data=False,
    )
    params = booster_params(config.lightgbm, [0] * len(columns.features))  # unconstrained
    if start is not None:  # the shift: leaves of many rows, or it learns the noise
        params["min_child_samples"] = config.shift_min_rows
        params["min_sum_hessian_in_leaf"] = 0.0
    return lgb.train(params, data, num_boost_round=rounds or config.rounds)


def fit_effect_models(
    rows: pd.DataFrame,
    actions: list[str],
    config: EffectsConfig,
    catalogue: Catalogue | None = None,
    population: pd.DataFrame | None = None,
) -> EffectModels:
    """The effect models of `actions` from the randomised `rows` (`assignment_rows`, the
    training months only), as the model layer's artifact (`EffectModels.averted` estimates
    any frame of snapshot features; no evidence yet: `effect_models` adds it).
    `population`: labelled snapshots of every account in the same months
    (`build_training_set`), for the shared risk model when given (learner shared_base): many
    more rows than the randomised ones, and the shifts need only rank. Its category levels
    are then the artifact's, so that scoring builds the matrix the boosters were fitted on."""
    catalogue = catalogue or load_catalogue()
    features = catalogue.names(point_in_time_only=True)
    columns = _Columns(features, [f for f in features if catalogue.by_name[f].categorical])
    levels = category_levels(rows if population is None else population, columns.categorical)
    models = EffectModels(
        features, levels, None, Arm(), {}, [], config.min_treated, config.min_controls,
        config.churn.horizon_months, config.learner,
    )  # fmt: skip
    matrix = feature_matrix(rows, features, levels)
    treated = rows[TREATED].to_numpy(dtype=bool)
    given = {a: treated & (rows[ACTION] == a).to_numpy() for a in actions}
    if config.learner == "t_learner":  # whole models: no base, each arm its own log-odds
        models.control = Arm(0.0, _booster(matrix[~treated], rows[~treated], columns, config))
        for a in actions:
            models.actions[a] = Arm(
                0.0, _booster(matrix[given[a]], rows[given[a]], columns, config)
            )
        return _with_relative(models, rows, actions)
    # The risk from every randomised row (follow-ups and controls: twice the rows of the
    # controls alone) or from the whole population, then each arm's shift of its log-odds.
    if population is None:
        models.base = _booster(matrix, rows, columns, config)
    else:
        whole = feature_matrix(population, features, levels)
        models.base = _booster(whole, population, columns, config)
    base = np.asarray(models.base.predict(matrix, raw_score=True))
    models.control = _fit_shift(matrix[~treated], rows[~treated], base[~treated], columns, config)
    for a in actions:
        chosen = given[a]
        models.actions[a] = _fit_shift(matrix[chosen], rows[chosen], base[chosen], columns, config)
    return _with_relative(models, rows, actions)


def _with_relative(models: EffectModels, rows: pd.DataFrame, actions: list[str]) -> EffectModels:
    """The models with each action's relative reductions (`relative_effects`), the controls'
    arm giving the rows' untreated churn."""
    untreated = models.churn(rows, [])[CONTROL].to_numpy(dtype=float)
    models.relative = relative_effects(rows, untreated, actions)
    return models


def on_playbook(rows: pd.DataFrame) -> np.ndarray:
    """True for the randomised rows given (or, a control, recorded with) the action the
    playbook's reading of the account points to: every control (its `action_code` is the one
    it would have got) and each follow-up drawn with its month's higher action probability (the
    policy gives another eligible action with a small share, so a far smaller propensity)."""
    treated = rows[TREATED].to_numpy(dtype=bool)
    propensity = 1.0 / rows[WEIGHT].to_numpy(dtype=float)
    highest = pd.Series(np.where(treated, propensity, 0.0)).groupby(rows[TIME].to_numpy())
    return ~treated | (propensity > 0.5 * highest.transform("max").to_numpy())


def relative_effects(
    rows: pd.DataFrame, base: np.ndarray, actions: list[str]
) -> dict[str, RelativeEffect]:
    """Each action's relative reduction of churn, on the playbook's action and off it, from
    the randomised rows (`base`: their untreated churn probability, by the shared risk model).

    Per segment, the follow-ups' observed over expected churn against the controls' (weighted
    by inverse propensity; the base only takes the noise of who was drawn out of the
    comparison), on the log scale with its Poisson standard error; then the segments of each
    kind (on, off) pooled toward their precision-weighted mean by their spread beyond the noise
    (empirical Bayes). Why not per account: a few hundred randomised outcomes per action
    cannot tell one account's effect of a few points from another's (benchmarks/targeting.py),
    but they do tell which actions work where the account's reason points to them."""
    if not actions:  # nothing modelled (the benchmark's small portfolios): nothing to pool
        return {}
    treated, on = rows[TREATED].to_numpy(dtype=bool), on_playbook(rows)
    code, churned = rows[ACTION].to_numpy(), rows[LABEL].to_numpy(dtype=float)
    weight = rows[WEIGHT].to_numpy(dtype=float)

    def log_ratio(given: np.ndarray, control: np.ndarray) -> tuple[float, float]:
        observed = [
            max(float((weight * churned)[m].sum() / weight[m].mean()), 0.5)
            for m in (given, control)
        ]
        expected = [float((weight * base)[m].sum() / weight[m].mean()) for m in (given, control)]
        theta = np.log(observed[0] / expected[0]) - np.log(observed[1] / expected[1])
        return float(theta), float(np.sqrt(1 / observed[0] + 1 / observed[1]))

    segments = {
        True: [log_ratio(treated & on & (code == a), ~treated & (code == a)) for a in actions],
        False: [log_ratio(treated & ~on & (code == a), ~treated & (code != a)) for a in actions],
    }
    pooled = {
        kind: _pooled(*map(np.asarray, zip(*seg, strict=True))) for kind, seg in segments.items()
    }
    return {
        a: RelativeEffect(
            float(1 - np.exp(pooled[True][0][i])),
            float(pooled[True][1][i]),
            float(1 - np.exp(pooled[False][0][i])),
            float(pooled[False][1][i]),
        )
        for i, a in enumerate(actions)
    }


def _pooled(theta: np.ndarray, se: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Estimates shrunk toward their precision-weighted mean by the share of their spread
    that is not noise (method of moments), with their posterior standard errors."""
    precision = 1 / se**2
    mean = float((precision * theta).sum() / precision.sum())
    spread = float(np.var(theta, ddof=1) - np.mean(se**2)) if len(theta) > 1 else 0.0
    keep = max(spread, 0.0) / (max(spread, 0.0) + se**2)
    return mean + keep * (theta - mean), np.sqrt(keep * se**2 + (1 - keep) ** 2 / precision.sum())


def _fit_shift(
    matrix: np.ndarray,
    rows: pd.DataFrame,
    base: np.ndarray,
    columns: _Columns,
    config: EffectsConfig,
) -> Arm:
    """How an arm's rows move the base log-odds: a constant (weighted logistic regression with
    the base as offset, Newton's method) and, where leaves of `shift_min_rows` rows find it,
    a boosted part."""
    constant = _constant(base, rows)
    booster = _booster(matrix, rows, columns, config, base + constant, config.shift_rounds)
    # No tree when no leaf of shift_min_rows rows pays.
    return Arm(constant, booster if booster.num_trees() else None)


def _constant(base: np.ndarray, rows: pd.DataFrame) -> float:
    """The weighted logistic regression's constant with `base` as offset (Newton's method)."""
    churned, weight = rows[LABEL].to_numpy(dtype=float), rows[WEIGHT].to_numpy(dtype=float)
    constant = 0.0
    for _ in range(25):
        p = _sigmoid(base + constant)
        step = np.sum(weight * (churned - p)) / max(np.sum(weight * p * (1 - p)), 1e-9)
        constant = float(np.clip(constant + step, -5.0, 5.0))
        if abs(step) < 1e-6:
            break
    return constant


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-x)))


def split_months(rows: pd.DataFrame, config: EffectsConfig) -> np.ndarray:
    """The out-of-time split: True for the rows before the last `test_months` snapshots."""
    months = np.sort(rows[TIME].unique())
    test_from = months[max(0, len(months) - config.test_months)]
    return (rows[TIME] < test_from).to_numpy()


def _measure(
    action: str,
    effect: np.ndarray,
    rows: pd.DataFrame,
    train: np.ndarray,
    truth: pd.DataFrame | None,
) -> dict[str, float]:
    """Qini and AUUC on the test months' randomised rows of the action (its follow-ups and
    every control), and against the true effects when known."""
    treated = rows[TREATED].to_numpy(dtype=bool)
    mine = ~train & (~treated | (rows[ACTION] == action).to_numpy())
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
    population: pd.DataFrame | None = None,
) -> tuple[list[ActionEffects], pd.Timestamp | None]:
    """Every action of the playbook: its evidence and, when enough, its model's figures
    (trained on the months before the last `test_months`; `population`: see
    `fit_effect_models`, the same months only)."""
    actions, test_from, _ = _estimate(rows, config, truth, catalogue, population)
    return actions, test_from


def _estimate(
    rows: pd.DataFrame,
    config: EffectsConfig,
    truth: pd.DataFrame | None = None,
    catalogue: Catalogue | None = None,
    population: pd.DataFrame | None = None,
) -> tuple[list[ActionEffects], pd.Timestamp | None, EffectModels | None]:
    """estimate_effects, and the models it fitted (None when no action had enough evidence)."""
    catalogue = catalogue or load_catalogue()
    treated = rows[TREATED].to_numpy(dtype=bool) if len(rows) else np.array([], dtype=bool)
    controls = int((~treated).sum())
    found = list(dict.fromkeys(rows.loc[treated, ACTION])) if len(rows) else []
    codes = [*ACTION_CODES, *(a for a in found if a not in ACTION_CODES)]
    counts = {a: int(((rows[ACTION] == a).to_numpy() & treated).sum()) for a in codes}
    enough = controls >= config.min_controls
    modelled = [a for a in codes if enough and counts[a] >= config.min_treated]
    train = split_months(rows, config) if modelled else np.zeros(len(rows), dtype=bool)
    estimated, models = pd.DataFrame(index=rows.index), None
    if modelled:  # the artifact's own estimates: what scoring reads is what was measured
        models = fit_effect_models(rows[train], modelled, config, catalogue, population)
        estimated = models.averted(rows, modelled)
    results = []
    for action in codes:
        status = MODELLED if action in modelled else NOT_ENOUGH
        metrics: dict[str, float] = {}
        if status == MODELLED:
            metrics = _measure(action, estimated[action].to_numpy(), rows, train, truth)
            if not metrics["test_treated"] or not metrics["test_controls"]:
                status = NO_TEST
        results.append(
            ActionEffects(
                action, counts[action] + controls, counts[action], controls, status, metrics
            )
        )
    test_from = None
    if modelled and (~train).any():
        test_from = pd.Timestamp(rows.loc[~train, TIME].min())
    if models is not None:
        models = effect_models(models, results, test_from)
    return results, test_from, models


def effect_models(
    models: EffectModels, actions: list[ActionEffects], test_from: pd.Timestamp | None
) -> EffectModels:
    """The fitted models as the artifact scoring loads: the arms of the actions modelled with
    test rows, every action's evidence, and the first test month."""
    modelled = [a.action for a in actions if a.status == MODELLED and a.action in models.actions]
    return replace(
        models,
        actions={a: models.actions[a] for a in modelled},
        evidence=[ActionEvidence(a.action, a.treated, a.controls, a.status) for a in actions],
        test_from=None if test_from is None else f"{test_from:%Y-%m}",
    )


def refitted(
    models: EffectModels, rows: pd.DataFrame, config: EffectsConfig, catalogue: Catalogue
) -> EffectModels:
    """The models to register: the measured ones' actions fitted again on every randomised
    row with a matured outcome, the test months too (as the churn training refits before the
    test), so that scoring learns from the latest assignments; the evidence and the first
    test month stay the measured models', whose out-of-time figures are the ones logged."""
    fresh = fit_effect_models(rows, list(models.actions), config, catalogue)
    return replace(fresh, evidence=models.evidence, test_from=models.test_from)


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
    actions, test_from, models = _estimate(rows, config, truth, catalogue)
    measured_on = 0 if test_from is None else int((rows[TIME] < test_from).sum())
    if models is not None and models.actions:
        models = refitted(models, rows, config, catalogue)
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
                # the figures' models learned from the months before the test; the registered
                # ones from every row (0: nothing registered)
                "measured_on_rows": measured_on,
                "fitted_on_rows": len(rows) if models is not None and models.actions else 0,
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
        if models is not None and models.actions:
            version, champion = _register(models, rows)
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
