"""The effects evidence (issue 17, item 5): each action's average effect on churn from the
randomised outcomes, overall and by segment, and the retention of the followed-up accounts
against the control group. Written by `retention effects` (training/evidence.py), stored as
JSON in the store (`effect_evidence`), read by GET /v1/effects, the effects page and the KPIs;
one record for the writer and every reader.
"""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Dimension = Literal["overall", "industry", "driver", "band"]
DIMENSIONS: tuple[Dimension, ...] = ("overall", "industry", "driver", "band")
DIMENSION_LABELS: dict[str, tuple[str, str]] = {
    "overall": ("全部", "overall"),
    "industry": ("行业", "industry"),
    "driver": ("风险驱动因素", "driver of risk"),
    "band": ("风险等级", "band"),
}
CellStatus = Literal["estimated", "not_enough_evidence"]
CELL_STATUS_TEXT: dict[str, str] = {
    "estimated": "已估计 / estimated",
    "not_enough_evidence": "证据不足 / not enough evidence",
}


class _Record(BaseModel):
    # A number that is not finite has no JSON: refused when the evidence is built.
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)


class EffectCell(_Record):
    """One action in one segment: the randomised follow-ups with the action and the controls."""

    action: str
    dimension: Dimension
    segment: str = Field(description='"all" for overall; an industry, a reason group or a band')
    treated: int = Field(description="randomised follow-ups with the action in the segment")
    controls: int = Field(description="held-out controls in the segment")
    status: CellStatus
    control_churn: float | None = Field(description="controls' churn rate, weighted")
    treated_churn: float | None = Field(description="the action's churn rate, weighted")
    effect: float | None = Field(
        description="churn averted: controls' churn minus the action's (inverse-propensity "
        "weighted); positive: the action keeps accounts"
    )
    ci_low: float | None = Field(description="95% confidence interval, lower end")
    ci_high: float | None = Field(description="95% confidence interval, upper end")


class ControlComparison(_Record):
    """Retention (1 - churn within the horizon) of the randomised follow-ups against the
    held-out controls: what following up at the capacity edge gave."""

    followed_up: int
    controls: int
    followed_up_retention: float
    control_retention: float
    difference: float = Field(description="followed-up minus control retention")
    ci_low: float
    ci_high: float


class EffectEvidence(_Record):
    """One effects run's evidence. `estimable` false: too few randomised outcomes, and
    `reason_zh` / `reason_en` say why; cells and comparison are then empty."""

    created_at: dt.datetime = Field(description="when the run measured it (UTC)")
    dataset: str
    horizon_months: int
    rows: int = Field(description="randomised outcomes: follow-ups and controls, matured")
    followed_up: int
    controls: int
    minimum_outcomes: int
    minimum_per_arm: int = Field(description="follow-ups and controls a segment needs")
    estimable: bool
    reason_zh: str | None = None
    reason_en: str | None = None
    method: str
    first_snapshot: dt.date | None = None
    last_snapshot: dt.date | None = None
    comparison: ControlComparison | None = None
    cells: list[EffectCell] = Field(default_factory=list)


def too_few_reason(rows: int, minimum: int) -> tuple[str, str]:
    """Why effects cannot be estimated yet, in both languages."""
    return (
        f"随机对照样本不足：需要至少 {minimum} 个，现有 {rows} 个",
        f"too few randomised outcomes: at least {minimum} needed, {rows} so far",
    )
