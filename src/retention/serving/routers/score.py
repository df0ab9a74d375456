"""POST /v1/score: fresh rows in, risk, reasons and actions out.

The route checks the key and reads the (bounded) body; a scoring worker process parses and
scores it (retention.serving.score_workers), so no body ever holds the event loop.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from retention.serving.answers import Answer
from retention.serving.deps import AUTH_ERRORS, KeyFirstRoute, Scorer
from retention.serving.metrics import ACCOUNTS_SCORED
from retention.serving.schemas import Error, ScoreResponse
from retention.serving.score_input import MAX_ACCOUNTS
from retention.serving.score_workers import ScoreWorkers

router = APIRouter(prefix="/v1", tags=["score"], responses=AUTH_ERRORS, route_class=KeyFirstRoute)

# The body is read by the route, not by FastAPI (which would parse it on the event loop, before
# the key is checked); the document still describes it.
REQUEST_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ScoreRequest"}}},
    }
}


@router.post(
    "/score",
    response_model=ScoreResponse,
    summary=f"Score up to {MAX_ACCOUNTS} accounts from their recent rows",
    responses={
        413: {"model": Error, "description": "too many accounts, or a body over the limit"},
        422: {"model": Error},
        503: {"model": Error, "description": "the scoring workers are busy or restarting"},
    },
    openapi_extra=REQUEST_BODY,
)
async def post_score(request: Request, _: Scorer) -> Response:
    body = await request.body()
    answer = await _score(request.app.state, body)
    if answer.status == 200:
        ACCOUNTS_SCORED.labels(source="on_demand").inc(answer.scored)
    headers = {"Retry-After": "1"} if answer.status == 503 else None
    return Response(answer.body, answer.status, headers=headers, media_type="application/json")


async def _score(state: Any, body: bytes) -> Answer:
    workers: ScoreWorkers = state.score_workers
    try:
        return await workers.score(body)
    except RuntimeError:  # a reload shut this pool down a moment ago: the new one answers
        current: ScoreWorkers = state.score_workers
        return await current.score(body)
