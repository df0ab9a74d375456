"""POST /v1/score: fresh rows in, risk, reasons and actions out."""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

import pandas as pd
from fastapi import APIRouter, Body, HTTPException, Response, status
from sqlalchemy import Engine

from retention.data.io import local_today
from retention.serving.deps import AUTH_ERRORS, Config, Model, Scorer, Store, json_response
from retention.serving.metrics import ACCOUNTS_SCORED
from retention.serving.on_demand import (
    InvalidRows,
    rows_message,
    score_request,
    scored_accounts,
)
from retention.serving.schemas import Error, ScoreResponse
from retention.serving.score_input import MAX_ACCOUNTS, ScoreRequest
from retention.store.batches import BatchNotFound, batch_info, load_peer_medians
from retention.store.risk import high_band_floor

router = APIRouter(prefix="/v1", tags=["score"], responses=AUTH_ERRORS)


@lru_cache(maxsize=4)
def batch_reference(engine: Engine, batch_id: int) -> tuple[pd.DataFrame, float | None]:
    """A complete batch's peer medians and high-band floor (a complete batch never changes)."""
    return load_peer_medians(engine, batch_id), high_band_floor(engine, batch_id)


@router.post(
    "/score",
    response_model=ScoreResponse,
    summary=f"Score up to {MAX_ACCOUNTS} accounts from their recent rows",
    responses={413: {"model": Error}, 422: {"model": Error}},
)
def post_score(
    request: Annotated[ScoreRequest, Body()],
    engine: Store,
    serving: Model,
    settings: Config,
    _: Scorer,
) -> Response:
    if len(request.accounts) > MAX_ACCOUNTS:
        raise HTTPException(
            status.HTTP_413_CONTENT_TOO_LARGE,
            detail=(
                "too_many_accounts",
                f"{len(request.accounts)} accounts in one call; at most {MAX_ACCOUNTS}: "
                "split the request, or use `retention score` for a whole portfolio",
            ),
        )
    ids = [a.customer.customer_id for a in request.accounts]  # type: ignore[attr-defined]
    if len(set(ids)) != len(ids):
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=("duplicate_accounts", "each account may appear once in a request"),
        )
    try:
        peers, floor = batch_reference(engine, batch_info(engine).id)
    except BatchNotFound:  # no batch yet: peers from the request itself, no high band
        peers, floor = None, float("inf")
    try:
        scored = score_request(
            request, serving, peers, floor, settings.medium_probability, local_today()
        )
    except InvalidRows as err:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=("invalid_rows", rows_message(err.report)),
        ) from err
    items = scored_accounts(scored)
    missing = sorted(set(ids) - {item["customer_id"] for item in items})
    if missing:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=(
                "not_active",
                f"not active at the snapshot {scored.snapshot.date()} (closed, not yet open, "
                f"or already lost): {', '.join(missing[:10])}",
            ),
        )
    ACCOUNTS_SCORED.labels(source="on_demand").inc(len(items))
    return json_response(
        ScoreResponse.model_validate(
            {"model_version": serving.version, "data": items, "count": len(items)}
        )
    )
