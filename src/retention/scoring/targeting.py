"""Targeting (issue 17, item 4): each listed account's expected churn averted and money saved
by each of its eligible actions, its best action, and the list mode that ranked the batch.

An account's eligible actions are those the playbook would recommend were the account on the
visit list (its rules applied with band `high` to its reasons and facts), among the actions
the effects champion (`key-account-effects@champion`, `retention effects DIR`) has enough
randomised outcomes for and that reduce churn (`qualifying`). Money saved = churn averted x
expected revenue of the next 12 months. The churn averted is one rule, the one
benchmarks/targeting.py measures (`risk_scaled_averted`): the account's churn probability x
the action's relative reduction of churn from the randomised outcomes (`RelativeEffect`,
training/effects.py), its reduction on the action the account's reasons point to
(`first_actions`) or, for another action, its reduction off it less `OFF_MARGIN` standard
errors. An action whose reduction is not positive is not estimated (never a best action);
when no action with enough evidence has a positive one, the list stays ranked by money at
risk and the batch says why ("证据不足 / not enough evidence ..."). The per-account effect
models (`EffectModels.averted`) are not what scoring reads: on the simulator their estimates
hardly follow the true effects and ranking by them saved less than half of what ranking by
money at risk does (benchmarks/targeting.py, `b_per_account`). Each account takes one visit
with one action, so the best choice within the team's capacity K is exact and simple: every
account's best action, then the K accounts whose best saves most (`select`); capacity left
over goes by money at risk (`rank_by_money_saved`).

List mode (RETENTION_LIST_MODE): `money_at_risk` (the default: on the simulator, ranking by
the estimated effects saved about what ranking by money at risk saves, 0.99 of it,
benchmarks/targeting.py) keeps today's list whatever the evidence, the expected effects and
best actions shown beside it; `auto` ranks by money saved as soon as the effects champion
has enough evidence (each action's `min_treated` follow-ups and the `min_controls` controls
of `retention effects`, 200 + 200 by default, and a positive reduction) and by money at risk
until then. The batch records the mode and why, Chinese first.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import numpy as np
import pandas as pd

from retention.model.effects_artifact import EffectModels, RelativeEffect
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
    """Why the effects champion cannot rank the list (None: it has enough evidence and some
    action with enough of it reduces churn, `qualifying`)."""
    if models.enough():
        return None if qualifying(models) else no_reduction_reason(models, version)
    counts = ", ".join(f"{e.action} {e.treated}/{e.controls}" for e in models.evidence)
    return (
        f"证据不足：效果模型 v{version} 没有一项行动达到 {models.min_treated} 个随机跟进和 "
        f"{models.min_controls} 个对照（跟进/对照：{counts}） / not enough evidence: no action "
        f"of effect model v{version} has {models.min_treated} randomised follow-ups and "
        f"{models.min_controls} controls"
    )


def no_reduction_reason(models: EffectModels, version: str) -> str:
    """Why the list stays ranked by money at risk when the actions with enough evidence
    show no positive relative reduction of churn (or the artifact has none: an older one)."""
    shown = []
    for code in models.enough():
        relative = models.relative.get(code)
        shown.append(f"{code} {'-' if relative is None else f'{relative.on:+.0%}'}")
    found = ", ".join(shown)
    return (
        f"证据不足：效果模型 v{version} 中随机证据充足的行动都未显示流失的正的相对降幅（{found}），"
        f"仍按风险电费排序 / not enough evidence: no action of effect model v{version} with "
        f"enough randomised outcomes shows a positive relative reduction of churn ({found}); "
        f"ranked by money at risk"
    )


NO_CHAMPION: Final = (
    "证据不足：尚无效果模型冠军（先在含随机跟进与对照的数据上运行 retention effects） / not enough "
    "evidence: no effect model champion yet (run `retention effects` on data with randomised "
    "follow-ups and controls)"
)
PINNED: Final = (
    "按风险电费排序（RETENTION_LIST_MODE=money_at_risk，默认：模拟数据上按估计效果排序挽回的金额"
    "与按风险电费排序相当，并未更多；设为 auto 则在随机证据充足时按预计挽回金额排序） / ranked by "
    "money at risk (RETENTION_LIST_MODE=money_at_risk, the default: on the simulator, ranking by "
    "the estimated effects saved about what ranking by money at risk saves, not more; auto ranks "
    "by expected money saved once the evidence is enough)"
)


def enough_reason(models: EffectModels, version: str) -> str:
    """The batch's reason for ranking by money saved: the evidence behind each action."""
    enough = qualifying(models)
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


def first_actions(
    playbook: Playbook,
    groups_of: Mapping[str, list[str]],
    facts_of: Mapping[str, dict[str, object]],
) -> dict[str, str | None]:
    """Each account's action its reasons point to, modelled or not: the first the playbook
    recommends on the visit list (band high) that is not a general one (the assignment
    policy's `general_actions`, which go with any account), else its first; None when no rule
    holds. The capacity edge's follow-ups are given this action (scoring/assignment.py), so
    it is the `on` of each action's relative reductions (`on_playbook`, training/effects.py)."""
    every = eligible_actions(playbook, groups_of, facts_of, list(playbook.actions))
    return {customer: playbook.assignment.pointed(codes) for customer, codes in every.items()}


def reductions(relative: RelativeEffect) -> tuple[float, float]:
    """An action's relative reduction of churn on the playbook's action and, off it, less
    `OFF_MARGIN` standard errors (log ratio): another action than the playbook's is chosen
    only when its gain is beyond its uncertainty."""
    return relative.on, float(1 - (1 - relative.off) * np.exp(OFF_MARGIN * relative.off_se))


def qualifying(models: EffectModels) -> list[str]:
    """The actions that may rank accounts by effect: enough randomised outcomes, relative
    reductions in the artifact, and a positive reduction on the playbook's action or off it
    (`reductions`). An action that does not reduce churn, as far as the randomised outcomes
    tell, is never estimated to save money."""
    return [
        code
        for code in models.enough()
        if code in models.relative and max(reductions(models.relative[code])) > 0
    ]


def risk_scaled_averted(
    models: EffectModels, probability: np.ndarray, first: np.ndarray, codes: list[str]
) -> np.ndarray:
    """(accounts, codes): each account's expected churn averted by each action = its churn
    probability x the action's relative reduction where the playbook points to it (`first`,
    each account's first action) and, elsewhere, the off-playbook reduction less `OFF_MARGIN`
    standard errors (`reductions`: a few dozen randomised follow-ups per action are off the
    playbook). NaN where the action has no relative reductions (an older artifact) or where
    its reduction is not positive: such an action is not ranked by effect.
    Why not the per-account models (`EffectModels.averted`): on the simulator their estimates
    hardly follow the true effects (benchmarks/effects.py), and ranking by them saved less than
    half of what ranking by money at risk does (benchmarks/targeting.py)."""
    out = np.full((len(probability), len(codes)), np.nan)
    for j, code in enumerate(codes):
        relative = models.relative.get(code)
        if relative is None:
            continue
        on, off = reductions(relative)
        reduction = np.where(np.asarray(first, dtype=object) == code, on, off)
        reduction = np.where(reduction > 0, reduction, np.nan)
        out[:, j] = np.asarray(probability, dtype=float) * reduction
    return out


def expected_effects(
    models: EffectModels,
    accounts: pd.DataFrame,
    first: Mapping[str, str | None],
    eligible: Mapping[str, list[str]],
) -> pd.DataFrame:
    """Every account's (`accounts`: customer_id, probability, expected_revenue_cny) expected
    churn averted (`risk_scaled_averted`, the rule benchmarks/targeting.py measures) and money
    saved (x revenue) by each of its eligible actions that qualify (EFFECT_COLUMNS); an
    action whose reduction is not positive for the account is left out."""
    codes = qualifying(models)
    customers = accounts["customer_id"].to_numpy()
    firsts = np.asarray([first.get(c) for c in customers], dtype=object)
    probability = accounts["probability"].to_numpy(dtype=float)
    averted = risk_scaled_averted(models, probability, firsts, codes)
    revenue = np.nan_to_num(accounts["expected_revenue_cny"].to_numpy(dtype=float))
    long = pd.DataFrame(
        {
            "customer_id": np.repeat(customers, len(codes)),
            "code": np.tile(np.asarray(codes, dtype=object), len(customers)),
            "churn_averted": averted.ravel(),
            "money_saved_cny": (averted * revenue[:, None]).ravel(),
        }
    )
    pairs = {(c, a) for c, actions in eligible.items() for a in actions}
    keep = [pair in pairs for pair in zip(long["customer_id"], long["code"], strict=True)]
    keep = np.asarray(keep, dtype=bool) & np.isfinite(long["churn_averted"].to_numpy())
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
