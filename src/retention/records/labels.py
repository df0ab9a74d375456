"""Risk bands and follow-up outcomes, with the labels a person reads (Chinese, English).

Defined once here; the store, the contract, the API, the page and the export read them.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

# The list's bands: high (the team's top K by money at risk), medium and low by probability,
# exit (in exit process, listed apart with their exit visit).
Band = Literal["high", "medium", "low", "exit"]
BANDS: Final[tuple[Band, ...]] = get_args(Band)
HIGH: Final[Band] = "high"
MEDIUM: Final[Band] = "medium"
LOW: Final[Band] = "low"
EXIT: Final[Band] = "exit"

BAND_LABELS: Final[dict[str, tuple[str, str]]] = {
    "high": ("高", "high"),
    "medium": ("中", "medium"),
    "low": ("低", "low"),
    "exit": ("正在办理销户/减容", "in exit process"),
}

# What came of a follow-up the team logged (the store and the API). "contacted" is a state
# of the service's own log only: the account was reached and the result is not known yet.
FollowUpOutcome = Literal["pending", "contacted", "retained", "churned", "unreachable"]
FOLLOW_UP_OUTCOMES: Final[tuple[FollowUpOutcome, ...]] = get_args(FollowUpOutcome)
PENDING: Final[FollowUpOutcome] = "pending"

# The data contract's `interventions.outcome`: the log as exported, where a follow-up
# contacted without a result yet is still pending.
InterventionOutcome = Literal["pending", "retained", "churned", "unreachable"]
AS_INTERVENTION: Final[dict[FollowUpOutcome, InterventionOutcome]] = {
    "pending": "pending",
    "contacted": "pending",
    "retained": "retained",
    "churned": "churned",
    "unreachable": "unreachable",
}
INTERVENTION_OUTCOMES: Final[tuple[InterventionOutcome, ...]] = tuple(
    dict.fromkeys(AS_INTERVENTION.values())
)

OUTCOME_LABELS: Final[dict[str, tuple[str, str]]] = {
    "pending": ("跟进中", "pending"),
    "contacted": ("已联系", "contacted"),
    "retained": ("已挽留", "retained"),
    "churned": ("已流失", "churned"),
    "unreachable": ("无法联系", "unreachable"),
}
