"""The team's page of the retention actions' effects (挽留行动效果): the latest effects run's
evidence, as GET /v1/effects gives it (routers/effects.py): each action's effect on churn with
its 95% interval, overall and by segment, and the retention of the followed-up accounts
against the control group; before there is enough, why effects cannot be estimated yet."""

from __future__ import annotations

from functools import cache

from fastapi import APIRouter, Request
from fastapi.responses import Response

from retention.features.catalogue import load_catalogue
from retention.records.evidence import CELL_STATUS_TEXT, DIMENSION_LABELS, DIMENSIONS
from retention.records.labels import BAND_LABELS
from retention.scoring.playbook import load_playbook
from retention.serving.deps import Store
from retention.serving.routers.effects import effects_evidence
from retention.serving.web.auth import Viewer
from retention.serving.web.pages import render

router = APIRouter(include_in_schema=False)


@cache
def _names() -> tuple[dict[str, tuple[str, str]], dict[str, tuple[str, str]]]:
    """The actions' names (the playbook) and the segments' (reason groups, bands)."""
    actions = {code: (a.zh, a.en) for code, a in load_playbook().actions.items()}
    groups = {name: (g.zh, g.en) for name, g in load_catalogue().groups.items()}
    return actions, {**groups, **BAND_LABELS, "all": ("全部", "all")}


@router.get("/effects")
def effects_page(request: Request, engine: Store, person: Viewer) -> Response:
    evidence = effects_evidence(engine)
    actions, segments = _names()
    by_action: dict[str, list[object]] = {}
    for cell in evidence.effects:
        by_action.setdefault(cell.action, []).append(cell)
    return render(
        request,
        "effects.html",
        person,
        evidence=evidence,
        by_action=by_action,
        action_names=actions,
        segment_names=segments,
        dimension_names=DIMENSION_LABELS,
        dimensions=DIMENSIONS,
        status_text=CELL_STATUS_TEXT,
    )
