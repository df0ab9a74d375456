"""Health checks: the only routes without a key."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, status
from sqlalchemy import text

from retention.serving.deps import Model, Store
from retention.serving.schemas import Error, Health, Ready
from retention.store.batches import BatchNotFound, batch_info

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health, summary="The process is alive")
def healthz() -> Health:
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Ready,
    summary="The model is loaded and the store answers",
    responses={503: {"model": Error}},
)
def readyz(engine: Store, serving: Model) -> Ready:
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as err:
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE, detail=("store_unavailable", str(type(err)))
        ) from err
    try:
        latest: int | None = batch_info(engine).id
    except BatchNotFound:
        latest = None
    return Ready(status="ready", model_version=serving.version, latest_batch=latest)
