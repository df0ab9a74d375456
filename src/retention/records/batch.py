"""The scored batch: what scoring hands the store, and the rows the store hands back.

Scoring builds a `ScoredList`; the store writes it and reads its rows back (`ScoreRow`,
`ReasonRow`, `ActionRow`, `PeerRow`); the API, the page and the export read those. The row
types are the tables' columns: a renamed column fails type checking in every reader.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final, TypedDict

import pandas as pd

from retention.records.labels import Band

# The account's facts a batch copies from the archive (so it reads the same later).
ACCOUNT_COLUMNS: Final = [
    "customer_id",
    "customer_name",
    "industry_code",
    "region",
    "account_manager_id",
    "contract_capacity_kva",
]
# kWh of the 36 months before the snapshot, oldest first, as a JSON list (the account page).
USAGE_COLUMN: Final = "kwh_36m"
USAGE_MONTHS: Final = 36
# The probability of churn within these months (time to churn), beside the model's horizon:
# missing where the model has no timing model for them (one trained before them).
HORIZON_COLUMNS: Final = {1: "probability_1m", 3: "probability_3m"}


class ScoreRow(TypedDict):
    """An account's place in a batch (the scores table)."""

    customer_id: str
    rank: int | None  # None for accounts in exit process
    band: Band
    probability: float | None  # within the model's horizon (the batch's horizon_months)
    probability_1m: float | None
    probability_3m: float | None
    expected_revenue_cny: float | None
    money_at_risk_cny: float | None
    customer_name: str | None
    industry_code: str | None
    region: str | None
    account_manager_id: str | None
    contract_capacity_kva: float | None
    kwh_36m: str | None
    # Targeting (issue 17): the account's best eligible action by the effects champion, its
    # churn averted and money saved (None: no effects champion with enough evidence).
    best_action: str | None
    churn_averted: float | None
    money_saved_cny: float | None


class EffectRow(TypedDict):
    """An account's expected effect of one eligible action (the expected_effects table)."""

    customer_id: str
    code: str
    churn_averted: float  # churn probability within the effects' horizon, without minus with
    money_saved_cny: float  # churn_averted x expected revenue of the next 12 months


class ReasonRow(TypedDict):
    """One of an account's top risk-raising feature groups (the reasons table)."""

    customer_id: str
    rank: int
    group: str
    contribution: float
    feature: str
    value_number: float | None
    value_text: str | None
    text_zh: str
    text_en: str


class ActionRow(TypedDict):
    """A recommended follow-up with owner and due date (the actions table)."""

    customer_id: str
    position: int
    code: str
    text_zh: str
    text_en: str
    role: str
    owner: str
    owner_zh: str
    owner_en: str
    due_date: dt.date
    due_working_days: int
    # tariff_plan only (None elsewhere, and where the tables cannot price the account): the
    # best plan of the last 12 months, its saving, and every plan's bill as JSON (PLAN_DETAIL)
    plan_code: str | None
    saving_cny: float | None
    plan_detail: str | None


class PeerRow(TypedDict):
    """A batch's median of a feature among an industry's accounts ("*": all)."""

    industry_code: str
    feature: str
    median: float | None
    peers: int


# A randomised account's assignment (scoring/assignment.py): the contract's
# interventions.assignment values.
FOLLOWED_UP: Final = "followed_up"
HELD_OUT: Final = "held_out"
# What the list, the page, the API and the exports say of a held-out account.
HELD_OUT_TEXT: Final = ("对照组（本期不跟进）", "control group (no follow-up due)")
RANDOMISED_TEXT: Final = ("随机跟进", "randomised follow-up")
# ... and of a held-out account the team followed up all the same (not complied with).
CONTROL_FOLLOWED_UP_TEXT: Final = (
    "对照组已被跟进（未遵从随机分配）",
    "control group followed up (assignment not complied with)",
)


class AssignmentRow(TypedDict):
    """An account of the randomised window at the capacity edge (the assignments table)."""

    customer_id: str
    rank: int
    assignment: str  # FOLLOWED_UP or HELD_OUT
    action_code: str  # the assigned action, or the one a held-out account would have got
    follow_up_probability: float
    action_probability: float | None  # given a follow-up (None when held out)
    assignment_probability: float  # the propensity of the assignment made
    draw: float  # the uniform draw that decided it (followed up when below the probability)
    seed: int  # the batch's seed: replaying it gives the same draws


class StoredAssignment(AssignmentRow):
    """An assignment as the store keeps it: and whether it was complied with (false: a
    held-out account the team followed up all the same)."""

    complied: bool


class StoredScore(ScoreRow):
    batch_id: int


class StoredReason(ReasonRow):
    batch_id: int


class StoredAction(ActionRow):
    batch_id: int


class AccountInBatch(TypedDict):
    """An account in one complete batch (its history over batches)."""

    id: int  # the batch's
    snapshot_date: dt.date
    probability: float | None
    band: Band
    money_at_risk_cny: float | None


SCORE_COLUMNS: Final = list(ScoreRow.__annotations__)
REASON_COLUMNS: Final = list(ReasonRow.__annotations__)
ACTION_COLUMNS: Final = list(ActionRow.__annotations__)
PEER_COLUMNS: Final = list(PeerRow.__annotations__)
EFFECT_COLUMNS: Final = list(EffectRow.__annotations__)
TARGET_COLUMNS: Final = ["best_action", "churn_averted", "money_saved_cny"]
ASSIGNMENT_COLUMNS: Final = list(AssignmentRow.__annotations__)
# Integers that may be missing in a frame (pandas' Int64, not float).
NULLABLE_INTEGERS: Final = frozenset({"rank", "position", "due_working_days"})


@dataclass(frozen=True)
class ScoredList:
    """One scoring run: the ranked list, its reasons and actions, and the accounts leaving."""

    snapshot: pd.Timestamp
    accounts: pd.DataFrame  # rank, ACCOUNT_COLUMNS, probability, money, band, USAGE_COLUMN
    reasons: pd.DataFrame  # customer_id, rank, group, contribution, feature, value, texts
    actions: pd.DataFrame  # ACTION_COLUMNS, for every account listed (leaving ones too)
    leaving: pd.DataFrame  # accounts in exit process (band "exit"); their visit is in actions
    seconds: dict[str, float] = field(default_factory=dict)  # time per step
    # The snapshot's peer medians, so an account scored on demand meets the same peers.
    peers: pd.DataFrame = field(default_factory=pd.DataFrame)
    horizon_months: int | None = None  # the model's: what `probability` is the churn within
    # What ranked the list (money_at_risk, money_saved) and why, Chinese first; each account's
    # expected effects of its eligible actions (EFFECT_COLUMNS) and the effect model's version.
    list_mode: str = "money_at_risk"
    list_reason: str | None = None
    effects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EFFECT_COLUMNS))
    effects_version: str | None = None
    # The randomised window's assignments (ASSIGNMENT_COLUMNS); empty when the policy is off.
    assignments: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=ASSIGNMENT_COLUMNS)
    )


class StoredEffect(EffectRow):
    batch_id: int


class Horizon(TypedDict):
    """The probability of churn within some months."""

    months: int
    probability: float


def horizons(score: Mapping[str, object], horizon_months: int | None) -> list[Horizon]:
    """An account's probabilities of churn within 1, 3 and the model's horizon, shortest
    first; only those known (none for an account in exit process, only the horizon's own for
    a model without timing models, none at all for a batch that did not record its horizon)."""
    known: dict[int, float] = {}
    for months, column in HORIZON_COLUMNS.items():
        value = score.get(column)
        if isinstance(value, int | float) and value == value:  # NaN is not a probability
            known[months] = float(value)
    main = score.get("probability")
    if horizon_months is None or not isinstance(main, int | float) or main != main:
        return []
    known[horizon_months] = float(main)
    return [{"months": m, "probability": known[m]} for m in sorted(known) if m <= horizon_months]
