"""Evidence the team can read (issue 17, item 5): from the randomised outcomes, each action's
average effect on churn with a 95% confidence interval, overall and by segment, and the
retention of the followed-up accounts against the control group.

Rows: `effects.assignment_rows` (the randomised follow-ups and held-out controls at the
capacity edge, with their propensities and matured labels).

Effect of action a in a segment: the controls' churn rate minus the churn rate of the
segment's follow-ups with a, each a ratio (Hajek) estimate weighted by the inverse propensity
(`weight` = 1 / assignment_probability), so that both stand for every randomised account of
the segment (a follow-up with an action the account's reason did not point to is rare and
counts for many). Confidence interval: normal, 95%, on the difference, with the robust
(linearised, sandwich) variance of each weighted rate, sum w^2 (y - rate)^2 / (sum w)^2 x
n / (n - 1), the two arms independent. It is the effect of assigning the action (intent to
treat): a follow-up that could not reach the account counts as followed up.

Segments (at the assignment's snapshot):
- industry: the account's `industry_code`;
- driver of risk: the account's top reason group, as the scoring job finds it (the catalogue
  group whose features' LightGBM contributions raise the risk most, scoring/reasons.py), from
  a risk model of the randomised rows' features and outcomes. A proxy for the champion's
  reasons then: the champion of the day is not kept. The model is cross-fitted (two halves by
  account, each scored by the model of the other) so that an account's own outcome does not
  decide its segment;
- band: the same model's probability and money at risk (probability x the next 12 months'
  bills): the upper half of each snapshot's randomised accounts by money at risk is `high`
  (the edge straddles the team's capacity, the high band's cut, half either side), the rest
  `medium` from the scoring job's probability of 0.10 up, else `low`.

A segment needs `min_per_arm` follow-ups with the action and as many controls (30 by
default); with fewer it is 证据不足 / not enough evidence, without figures. With fewer than
`min_outcomes` randomised outcomes in all (200, the effect models' minimum of controls),
nothing is estimated and the evidence says why.

Retention of followed-up accounts against the control group: 1 - churn of every randomised
follow-up (any action) and of the controls, unweighted (at the edge every account had the same
chance to be followed up), with a normal interval on the difference.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import lightgbm as lgb
import numpy as np
import pandas as pd

from retention.features.catalogue import Catalogue
from retention.features.snapshot import EXPECTED_REVENUE
from retention.model.artifact import category_levels, feature_matrix
from retention.records.evidence import (
    CELL_STATUS_TEXT,
    DIMENSIONS,
    ControlComparison,
    EffectCell,
    EffectEvidence,
    too_few_reason,
)
from retention.records.labels import HIGH, LOW, MEDIUM
from retention.scoring.reasons import Contributions
from retention.store.tables import utc_now
from retention.training.config import LightGBMConfig
from retention.training.fit import booster_params

if TYPE_CHECKING:
    from rich.console import Console

TIME, ID, LABEL = "snapshot_date", "customer_id", "churn"
ACTION, TREATED, WEIGHT = "action_code", "treated", "weight"
INDUSTRY, DRIVER, BAND, RISK = "industry", "driver", "band", "risk"
MIN_OUTCOMES = 200
MIN_PER_ARM = 30
Z95 = 1.959963984540054
MEDIUM_PROBABILITY = 0.10  # the scoring job's medium band (scoring/batch.py)
METHOD = (
    "逆倾向加权的对照组流失率减行动组流失率，95% 正态置信区间（稳健方差）/ controls' minus "
    "the action's churn rate, inverse-propensity weighted (Hajek), 95% normal interval with "
    "robust (sandwich) variance; intent to treat"
)
RISK_MODEL = LightGBMConfig(learning_rate=0.05, num_leaves=4, min_child_samples=20, lambda_l2=5.0)
RISK_ROUNDS = 120


@dataclass(frozen=True)
class Estimate:
    control_churn: float
    treated_churn: float
    effect: float
    ci_low: float
    ci_high: float


def weighted_rate(churned: np.ndarray, weight: np.ndarray) -> tuple[float, float, float]:
    """A weighted churn rate (Hajek), the interval's adjusted rate and its variance: with
    the effective sample size n = (sum w)^2 / sum w^2, the rate plus one churned and one
    retained pseudo-account (Agresti-Caffo), its variance the larger of the robust one and
    the adjusted rate's binomial one (a rare outcome seen zero times still has a variance)."""
    total = weight.sum()
    rate = float((weight * churned).sum() / total)
    n = len(churned)
    robust = float((weight**2 * (churned - rate) ** 2).sum() / total**2) * n / max(n - 1, 1)
    effective = float(total**2 / (weight**2).sum())
    adjusted = (rate * effective + 1.0) / (effective + 2.0)
    binomial = adjusted * (1.0 - adjusted) / (effective + 2.0)
    return rate, adjusted, max(robust, binomial)


def difference(churned: np.ndarray, treated: np.ndarray, weight: np.ndarray) -> Estimate:
    """Controls' minus treated's weighted churn rate, and its interval (see weighted_rate)."""
    control_rate, control_adjusted, control_var = weighted_rate(churned[~treated], weight[~treated])
    treated_rate, treated_adjusted, treated_var = weighted_rate(churned[treated], weight[treated])
    centre = control_adjusted - treated_adjusted
    half = Z95 * float(np.sqrt(control_var + treated_var))
    effect = control_rate - treated_rate
    return Estimate(control_rate, treated_rate, effect, centre - half, centre + half)


def _fold(customers: pd.Series) -> np.ndarray:
    """Two halves by account, the same for every run (a CRC of the id)."""
    return np.array([zlib.crc32(c.encode()) % 2 for c in customers.astype(str)], dtype=int)


def _risk_model(
    rows: pd.DataFrame, catalogue: Catalogue
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Every row's cross-fitted churn probability and its contributions by group."""
    features = catalogue.names(point_in_time_only=True)
    categorical = [f for f in features if catalogue.by_name[f].categorical]
    monotone = [int(catalogue.by_name[f].direction) for f in features]
    levels = category_levels(rows, categorical)
    matrix = feature_matrix(rows, features, levels)
    fold = _fold(rows[ID])
    probability = np.zeros(len(rows))
    parts = np.zeros((len(rows), len(features)))
    params = booster_params(RISK_MODEL, monotone)
    for k in (0, 1):
        fit, score = fold != k, fold == k
        if not fit.any() or not score.any():
            fit = score = np.ones(len(rows), dtype=bool)  # one account: no other half
        data = lgb.Dataset(
            matrix[fit],
            rows[LABEL].to_numpy()[fit],
            feature_name=features,
            categorical_feature=[features.index(c) for c in categorical],
        )
        booster = lgb.train(params, data, num_boost_round=RISK_ROUNDS)
        probability[score] = np.asarray(booster.predict(matrix[score]))
        parts[score] = np.asarray(booster.predict(matrix[score], pred_contrib=True))[:, :-1]
    groups = {f.name: f.group for f in catalogue.features}
    names, by_group = Contributions(parts, np.zeros(len(rows)), features).by_group(groups)
    return probability, by_group, names


def segment_rows(rows: pd.DataFrame, catalogue: Catalogue) -> pd.DataFrame:
    """The rows with their segments: industry, driver of risk and band (see the module)."""
    out = rows.copy()
    if out.empty:
        return out.assign(**{INDUSTRY: [], DRIVER: [], BAND: [], RISK: []})
    probability, by_group, names = _risk_model(out, catalogue)
    out[RISK] = probability
    out[DRIVER] = np.array(names, dtype=object)[np.argmax(by_group, axis=1)]
    out[INDUSTRY] = out["industry_code"].astype("object").fillna("-").astype(str)
    revenue = pd.to_numeric(out[EXPECTED_REVENUE], errors="coerce").fillna(0.0)
    money = probability * revenue.to_numpy(dtype=float)
    upper = pd.Series(money, index=out.index).groupby(out[TIME]).rank(pct=True, method="first")
    band = np.where(probability >= MEDIUM_PROBABILITY, MEDIUM, LOW).astype(object)
    band[(upper > 0.5).to_numpy()] = HIGH
    out[BAND] = band
    return out


def _cell(
    action: str, dimension: str, segment: str, rows: pd.DataFrame, min_per_arm: int
) -> EffectCell:
    """One action in one segment's rows (its follow-ups with the action and the controls)."""
    treated = rows[TREATED].to_numpy(dtype=bool)
    mine = ~treated | (rows[ACTION] == action).to_numpy()
    given, controls = int((treated & mine).sum()), int((~treated).sum())
    figures: dict[str, float | None] = dict.fromkeys(
        ("control_churn", "treated_churn", "effect", "ci_low", "ci_high")
    )
    enough = given >= min_per_arm and controls >= min_per_arm
    if enough:
        part = rows[mine]
        e = difference(
            part[LABEL].to_numpy(dtype=float),
            part[TREATED].to_numpy(dtype=bool),
            part[WEIGHT].to_numpy(dtype=float),
        )
        figures = {
            "control_churn": e.control_churn,
            "treated_churn": e.treated_churn,
            "effect": e.effect,
            "ci_low": e.ci_low,
            "ci_high": e.ci_high,
        }
    return EffectCell(
        action=action,
        dimension=dimension,  # type: ignore[arg-type]
        segment=segment,
        treated=given,
        controls=controls,
        status="estimated" if enough else "not_enough_evidence",
        **figures,
    )


def effect_cells(
    segmented: pd.DataFrame, actions: list[str], min_per_arm: int = MIN_PER_ARM
) -> list[EffectCell]:
    """Every action overall and in every segment of every dimension."""
    cells = []
    treated = segmented[TREATED].to_numpy(dtype=bool)
    for action in actions:
        cells.append(_cell(action, "overall", "all", segmented, min_per_arm))
        if not (treated & (segmented[ACTION] == action).to_numpy()).any():
            continue  # never followed up at random: its segments would say nothing more
        for dimension in DIMENSIONS[1:]:
            for segment, part in segmented.groupby(dimension, sort=True):
                cells.append(_cell(action, dimension, str(segment), part, min_per_arm))
    return cells


def control_comparison(rows: pd.DataFrame) -> ControlComparison | None:
    """Retention of every randomised follow-up against the controls (unweighted)."""
    treated = rows[TREATED].to_numpy(dtype=bool)
    churned = rows[LABEL].to_numpy(dtype=float)
    if not treated.any() or treated.all():
        return None
    e = difference(churned, treated, np.ones(len(rows)))
    return ControlComparison(
        followed_up=int(treated.sum()),
        controls=int((~treated).sum()),
        followed_up_retention=1.0 - e.treated_churn,
        control_retention=1.0 - e.control_churn,
        difference=e.effect,  # controls' churn minus the follow-ups': retention gained
        ci_low=e.ci_low,
        ci_high=e.ci_high,
    )


def measure_evidence(
    rows: pd.DataFrame,
    catalogue: Catalogue,
    actions: list[str],
    dataset: str,
    horizon_months: int,
    created_at: pd.Timestamp,
    min_outcomes: int = MIN_OUTCOMES,
    min_per_arm: int = MIN_PER_ARM,
) -> tuple[EffectEvidence, pd.DataFrame]:
    """The evidence of a run, and the segmented rows it was measured on."""
    treated = rows[TREATED].to_numpy(dtype=bool) if len(rows) else np.array([], dtype=bool)
    common: dict[str, Any] = {
        "created_at": created_at.to_pydatetime(),
        "dataset": dataset,
        "horizon_months": horizon_months,
        "rows": len(rows),
        "followed_up": int(treated.sum()),
        "controls": int((~treated).sum()),
        "minimum_outcomes": min_outcomes,
        "minimum_per_arm": min_per_arm,
        "method": METHOD,
    }
    if len(rows) < min_outcomes or not treated.any() or treated.all():
        zh, en = too_few_reason(len(rows), min_outcomes)
        return EffectEvidence(estimable=False, reason_zh=zh, reason_en=en, **common), rows
    segmented = segment_rows(rows, catalogue)
    evidence = EffectEvidence(
        estimable=True,
        first_snapshot=pd.Timestamp(rows[TIME].min()).date(),
        last_snapshot=pd.Timestamp(rows[TIME].max()).date(),
        comparison=control_comparison(rows),
        cells=effect_cells(segmented, actions, min_per_arm),
        **common,
    )
    return evidence, segmented


def true_cell_effects(
    segmented: pd.DataFrame,
    cells: list[EffectCell],
    truth: pd.DataFrame,
    reach: np.ndarray | float = 1.0,
) -> list[float]:
    """The simulator's true effect of each cell: the mean over the segment's rows (follow-ups
    and controls: the population the weighted rates stand for) of the true effect of the
    action at the row's snapshot times the chance the contact is made (`reach`: the
    estimate is of assigning the action). NaN where the truth has none."""
    frame = segmented.assign(_reach=reach)
    out = []
    for cell in cells:
        mine = truth[truth[ACTION] == cell.action].drop_duplicates([TIME, ID])
        overall = cell.dimension == "overall"
        part = frame if overall else frame[frame[cell.dimension] == cell.segment]
        found = part[[TIME, ID, "_reach"]].merge(mine[[TIME, ID, "effect"]], on=[TIME, ID])
        value = (found["effect"] * found["_reach"]).mean() if len(found) else np.nan
        out.append(float(value))
    return out


def job_evidence(
    rows: pd.DataFrame,
    catalogue: Catalogue,
    actions: list[str],
    dataset: str,
    horizon_months: int,
) -> EffectEvidence:
    """The effects job's evidence, measured now."""
    evidence, _ = measure_evidence(
        rows, catalogue, actions, dataset, horizon_months, pd.Timestamp(utc_now())
    )
    return evidence


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:+.1f}"


def print_evidence(evidence: EffectEvidence, console: Console) -> None:
    """Each action's overall effect with its interval, and the follow-ups against the
    controls; or why nothing can be estimated yet."""
    from rich.table import Table

    if not evidence.estimable:
        console.print(f"无法估计效果 / effects cannot be estimated yet: {evidence.reason_zh} / "
                      f"{evidence.reason_en}")  # fmt: skip
        return
    table = Table(title="随机对照证据 / evidence from the randomised outcomes (百分点 / points)")
    for i, header in enumerate(
        ("行动 action", "跟进 treated", "对照 controls", "效果 effect", "95% 置信区间 CI", "状态")
    ):
        table.add_column(header, justify="left" if i in (0, 5) else "right")
    for c in (c for c in evidence.cells if c.dimension == "overall"):
        interval = "-" if c.ci_low is None else f"[{_figure(c.ci_low)}, {_figure(c.ci_high)}]"
        table.add_row(
            c.action, f"{c.treated:,}", f"{c.controls:,}", _figure(c.effect), interval,
            CELL_STATUS_TEXT[c.status],
        )  # fmt: skip
    console.print(table)
    k = evidence.comparison
    if k is not None:
        console.print(
            f"跟进客户留存率 / retention of followed-up accounts {k.followed_up_retention:.1%} "
            f"({k.followed_up:,}) 对照组 / control group {k.control_retention:.1%} "
            f"({k.controls:,}): {_figure(k.difference)} 百分点 / points "
            f"[{_figure(k.ci_low)}, {_figure(k.ci_high)}]"
        )
