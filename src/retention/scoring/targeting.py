"""Targeting (issue 17, item 4): each listed account's expected churn averted and money saved
by each of its eligible actions, its best action, and the list mode that ranked the batch.

An account's eligible actions are those the playbook would recommend were the account on the
visit list (its rules applied with band `high` to its reasons and facts), among the actions
the effects champion (`key-account-effects@champion`, `retention effects DIR`) models with
enough randomised outcomes. Money saved = churn averted x expected revenue of the next 12
months. Scoring estimates the churn averted with the per-account models (`expected_effects`);
the benchmark's list (b) with `risk_scaled_averted` (the churn probability x the action's
relative reduction from the randomised outcomes), which saved more on the simulator but is
not yet what scoring applies. Each account takes one visit with one
action, so the best choice within the team's capacity K is exact and simple: every
account's best action, then the K accounts whose best saves most (`select`).

List mode (RETENTION_LIST_MODE): `money_at_risk` (the default: on the simulator, ranking by
the estimated effects saved less, benchmarks/targeting.py) keeps today's list whatever the
evidence; `auto` ranks by money saved as soon as the effects champion has enough evidence
(each action's `min_treated` follow-ups and the `min_controls` controls of `retention
effects`, 200 + 200 by default) and by money at risk until then. The batch records the mode
and why, Chinese first. The benchmark chooses its lists by effect with `risk_scaled_averted`,
`best_actions` and `select` here, so it measures the rule the product applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from retention.model.effects_artifact import EffectModels
from retention.records.batch import EFFECT_COLUMNS, EffectRow
from retention.records.labels import HIGH
from retention.scoring.playbook import Playbook

ListMode = Literal["auto", "money_at_risk"]
MONEY_AT_RISK: Final = "money_at_risk"
MONEY_SAVED: Final = "money_saved"
OFF_MARGIN: Final = 1.0  # standard errors an action off the playbook must clear (log ratio)
MODE_TEXT: Final = {
    MONEY_AT_RISK: "按风险电费排序 / ranked by money at risk",
    MONEY_SAVED: "按预计挽回金额排序 / ranked by expected money saved",
}


@dataclass(frozen=True)
class Targeting:
    """What ranked the list, why, and each account's expected effects (long: one row an
    account and eligible action; EFFECT_COLUMNS)."""

    mode: str
    reason: str
    effects: pd.DataFrame
    version: str | None = None  # of key-account-effects, when its estimates are in the batch


def no_effects(reason: str) -> Targeting:
    """Today's list: ranked by money at risk, no expected effects, and why."""
    return Targeting(MONEY_AT_RISK, reason, pd.DataFrame(columns=EFFECT_COLUMNS))


def evidence_reason(models: EffectModels, version: str) -> str | None:
    """Why the effects champion cannot rank the list (None: it has enough evidence)."""
    if models.enough():
        return None
    counts = ", ".join(f"{e.action} {e.treated}/{e.controls}" for e in models.evidence)
    return (
        f"证据不足：效果模型 v{version} 没有一项行动达到 {models.min_treated} 个随机跟进和 "
        f"{models.min_controls} 个对照（跟进/对照：{counts}） / not enough evidence: no action "
        f"of effect model v{version} has {models.min_treated} randomised follow-ups and "
        f"{models.min_controls} controls"
    )


NO_CHAMPION: Final = (
    "证据不足：尚无效果模型冠军（先在含随机跟进与对照的数据上运行 retention effects） / not enough "
    "evidence: no effect model champion yet (run `retention effects` on data with randomised "
    "follow-ups and controls)"
)
PINNED: Final = (
    "按风险电费排序（RETENTION_LIST_MODE=money_at_risk，默认：模拟数据上按估计效果排序挽回的金额低于"
    "按风险电费排序；设为 auto 则在随机证据充足时按预计挽回金额排序） / ranked by money at risk "
    "(RETENTION_LIST_MODE=money_at_risk, the default: on the simulator, ranking by the estimated "
    "effects saved less than ranking by money at risk; auto ranks by expected money saved once "
    "the evidence is enough)"
)


def enough_reason(models: EffectModels, version: str) -> str:
    """The batch's reason for ranking by money saved: the evidence behind each action."""
    enough = models.enough()
    counts = ", ".join(
        f"{e.action} {e.treated}/{e.controls}" for e in models.evidence if e.action in enough
    )
    return (
        f"随机证据充足，按效果模型 v{version} 的预计挽回金额排序（跟进/对照：{counts}） / enough "
        f"randomised evidence: ranked by effect model v{version}'s expected money saved "
        f"(follow-ups/controls: {counts})"
    )


def eligible_actions(
    playbook: Playbook,
    groups_of: Mapping[str, list[str]],
    facts_of: Mapping[str, dict[str, object]],
    modelled: list[str],
) -> dict[str, list[str]]:
    """Each account's actions the playbook would recommend on the visit list (band high),
    among the modelled ones, in the playbook's order."""
    out: dict[str, list[str]] = {}
    for customer, facts in facts_of.items():
        groups = set(groups_of.get(customer, []))
        codes: list[str] = []
        for rule in playbook.rules:
            if rule.when.holds(HIGH, groups, facts, False):
                codes += [c for c in rule.then if c in modelled and c not in codes]
        out[customer] = codes
    return out


def risk_scaled_averted(
    models: EffectModels, probability: np.ndarray, first: np.ndarray, codes: list[str]
) -> np.ndarray:
    """(accounts, codes): each account's expected churn averted by each action = its churn
    probability x the action's relative reduction where the playbook points to it (`first`,
    each account's first action) and, elsewhere, the off-playbook reduction less `OFF_MARGIN`
    standard errors: another action than the playbook's is chosen only when its gain is
    beyond its uncertainty (a few dozen randomised follow-ups per action are off the playbook).
    Why not the per-account models (`EffectModels.averted`): on the simulator their estimates
    hardly follow the true effects (benchmarks/effects.py), and ranking by them saved less than
    half of what ranking by money at risk does (benchmarks/targeting.py)."""
    out = np.full((len(probability), len(codes)), np.nan)
    for j, code in enumerate(codes):
        relative = models.relative.get(code)
        if relative is None:
            continue
        cautious = 1 - (1 - relative.off) * np.exp(OFF_MARGIN * relative.off_se)
        reduction = np.where(np.asarray(first, dtype=object) == code, relative.on, cautious)
        out[:, j] = np.asarray(probability, dtype=float) * reduction
    return out


def expected_effects(
    models: EffectModels,
    rows: pd.DataFrame,
    revenue: np.ndarray,
    eligible: Mapping[str, list[str]],
) -> pd.DataFrame:
    """Every account's (the rows' index) expected churn averted and money saved by each of
    its eligible actions (EFFECT_COLUMNS)."""
    averted = models.averted(rows, models.enough())
    money = averted.to_numpy() * np.nan_to_num(revenue)[:, None]
    long = pd.DataFrame(
        {
            "customer_id": np.repeat(rows.index.to_numpy(), averted.shape[1]),
            "code": np.tile(np.asarray(averted.columns, dtype=object), len(rows)),
            "churn_averted": averted.to_numpy().ravel(),
            "money_saved_cny": money.ravel(),
        }
    )
    pairs = {(c, a) for c, codes in eligible.items() for a in codes}
    keep = [pair in pairs for pair in zip(long["customer_id"], long["code"], strict=True)]
    return long[keep].reset_index(drop=True)[EFFECT_COLUMNS]


def marked_effects(
    effects: Sequence[EffectRow], actions: Sequence[Mapping[str, object]], best: str | None
) -> list[dict[str, Any]]:
    """An account's expected effects, each marked where the playbook recommends it (among
    `actions`) and where it is the `best`: what the API and the account page show."""
    recommended = {a["code"] for a in actions}
    return [
        {**e, "recommended": e["code"] in recommended, "best": e["code"] == best} for e in effects
    ]


def best_actions(effects: pd.DataFrame) -> pd.DataFrame:
    """Each account's action that saves most (index customer_id: code, churn_averted,
    money_saved_cny); the playbook's order breaks a tie."""
    if effects.empty:
        return pd.DataFrame(columns=["code", "churn_averted", "money_saved_cny"])
    order = effects.sort_values("money_saved_cny", ascending=False, kind="stable")
    best = order.drop_duplicates("customer_id", keep="first").set_index("customer_id")
    return best[["code", "churn_averted", "money_saved_cny"]]


def select(best: pd.DataFrame, capacity: int) -> list[str]:
    """The accounts to visit: at most `capacity`, those whose best action saves most, and only
    where it is expected to save something (a visit that saves nothing is not spent)."""
    saving = best["money_saved_cny"].astype(float)
    chosen = saving[saving > 0].sort_values(ascending=False, kind="stable")
    return [str(c) for c in chosen.index[:capacity]]


def rank_by_money_saved(accounts: pd.DataFrame, chosen: list[str]) -> pd.DataFrame:
    """The list in money-saved mode: the chosen accounts first by money saved, then the rest
    by money saved (missing last), money at risk breaking ties."""
    first = accounts["customer_id"].isin(chosen).to_numpy()
    keys = pd.DataFrame(
        {
            "chosen": ~first,  # False sorts first
            "saved": -accounts["money_saved_cny"].fillna(-np.inf).to_numpy(dtype=float),
            "risk": -accounts["money_at_risk_cny"].to_numpy(dtype=float),
        },
        index=accounts.index,
    )
    order = keys.sort_values(["chosen", "saved", "risk"], kind="stable").index
    return accounts.loc[order]
