"""The retention actions' effects (挽留行动效果): the latest effects run's evidence."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import Engine

from retention.records.evidence import too_few_reason
from retention.serving.deps import AUTH_ERRORS, KeyFirstRoute, Reader, Store
from retention.serving.schemas import EffectsEvidence
from retention.store.evidence import latest_evidence

router = APIRouter(prefix="/v1", tags=["effects"], responses=AUTH_ERRORS, route_class=KeyFirstRoute)
MIN_OUTCOMES = 200  # the effects job's minimum (training/evidence.py), said before its first run
NO_RUN = ("尚未运行效果评估（retention effects）", "no effects run yet (retention effects)")


def effects_evidence(engine: Engine) -> EffectsEvidence:
    """The latest run's evidence, or, before any, why effects cannot be estimated yet."""
    found = latest_evidence(engine)
    if found is None:
        zh, en = too_few_reason(0, MIN_OUTCOMES)
        return EffectsEvidence(
            estimable=False,
            reason_zh=f"{zh}；{NO_RUN[0]}",
            reason_en=f"{en}; {NO_RUN[1]}",
            measured_at=None,
            dataset=None,
            horizon_months=None,
            rows=0,
            followed_up=0,
            controls=0,
            minimum_outcomes=MIN_OUTCOMES,
            minimum_per_arm=0,
            method=None,
            first_snapshot=None,
            last_snapshot=None,
            control_group=None,
            effects=[],
        )
    return EffectsEvidence(
        **found.model_dump(exclude={"created_at", "comparison", "cells"}),
        measured_at=found.created_at,
        control_group=found.comparison,
        effects=found.cells,
    )


@router.get(
    "/effects",
    response_model=EffectsEvidence,
    summary="Each retention action's effect on churn with its confidence interval, by segment",
)
def get_effects(engine: Store, _: Reader) -> EffectsEvidence:
    return effects_evidence(engine)
