"""Administration: load a newly promoted champion without a restart; metrics."""

from __future__ import annotations

import threading

from fastapi import APIRouter, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from retention.serving.deps import AUTH_ERRORS, Admin, Reader
from retention.serving.metrics import set_model
from retention.serving.schemas import Error, Reloaded

router = APIRouter(tags=["admin"], responses=AUTH_ERRORS)
_reloading = threading.Lock()


@router.post(
    "/v1/admin/reload",
    response_model=Reloaded,
    summary="Load the registry's current champion; requests in flight finish on the old one",
    responses={409: {"model": Error}, 503: {"model": Error}},
)
def reload_model(request: Request, _: Admin) -> Reloaded:
    if not _reloading.acquire(blocking=False):
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=("reload_running", "a reload is already running")
        )
    try:
        previous = request.app.state.model
        try:
            fresh = request.app.state.load_model()
        except Exception as err:  # the registry is unreachable or has no champion
            raise HTTPException(
                status.HTTP_503_SERVICE_UNAVAILABLE,
                detail=("reload_failed", f"kept version {previous.version}: {err}"),
            ) from err
        request.app.state.model = fresh  # one assignment: each request sees old or new, whole
        set_model(fresh.name, fresh.version)
        return Reloaded(previous_version=previous.version, model_version=fresh.version)
    finally:
        _reloading.release()


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}}},
)
def metrics(_: Reader) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
