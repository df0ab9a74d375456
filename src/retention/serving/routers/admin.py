"""Administration: load a newly promoted champion without a restart; metrics."""

from __future__ import annotations

import threading
from typing import Any

from fastapi import APIRouter, HTTPException, Request, Response, status
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from retention.serving.deps import AUTH_ERRORS, Admin, KeyFirstRoute, Reader, Store
from retention.serving.metrics import set_model
from retention.serving.model import ServingModel
from retention.serving.schemas import Error, MonitoredBatch, Monitoring, Reloaded
from retention.store.monitoring import StoredReport, latest_report, report_history

router = APIRouter(tags=["admin"], responses=AUTH_ERRORS, route_class=KeyFirstRoute)
_reloading = threading.Lock()


@router.post(
    "/v1/admin/reload",
    response_model=Reloaded,
    summary="Load the registry's current champion; requests in flight finish on the old one",
    responses={409: {"model": Error}, 503: {"model": Error}},
)
def reload_model(request: Request, _: Admin) -> Reloaded:
    previous = request.app.state.model
    try:
        fresh = swap_model(request.app.state)
    except ReloadRunning as err:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=("reload_running", "a reload is already running")
        ) from err
    except Exception as err:  # the registry is unreachable or has no champion
        raise HTTPException(
            status.HTTP_503_SERVICE_UNAVAILABLE,
            detail=("reload_failed", f"kept version {previous.version}: {err}"),
        ) from err
    return Reloaded(previous_version=previous.version, model_version=fresh.version)


class ReloadRunning(RuntimeError):
    """Another reload of this process is loading a model."""


def swap_model(state: Any) -> ServingModel:
    """Load the champion and swap it in with one assignment (each request sees the old model
    or the new one, whole); one reload at a time per process."""
    if not _reloading.acquire(blocking=False):
        raise ReloadRunning
    try:
        fresh: ServingModel = state.load_model()
        previous = state.score_workers
        workers = previous.replaced(fresh)
        state.model, state.score_workers = fresh, workers
        previous.close()  # what its workers already took still finishes
        set_model(fresh.name, fresh.version)
        return fresh
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


def _history_row(report: StoredReport) -> MonitoredBatch:
    s, realised = report.summary, report.summary.realised
    return MonitoredBatch(
        batch_id=report.batch_id,
        snapshot_date=s.snapshot_date,
        model_version=report.model_version,
        retrain_recommended=report.retrain_recommended,
        drifted_share=s.drift.drifted_share,
        score_psi=s.drift.score_psi,
        predicted_rate=None if realised is None else realised.predicted_rate,
        realised_rate=None if realised is None else realised.realised_rate,
        roc_auc=None if realised is None else realised.roc_auc,
    )


def monitoring_summary(
    report: StoredReport, history: list[StoredReport] | None = None
) -> Monitoring:
    """A stored summary in the API's shape (the page shows the same)."""
    s = report.summary
    return Monitoring(
        report_id=report.id,
        batch_id=report.batch_id,
        snapshot_date=s.snapshot_date,
        model_version=report.model_version,
        monitored_at=report.created_at,
        retrain_recommended=report.retrain_recommended,
        reasons=s.reasons,
        reference_source=s.reference.source,
        reference_rows=s.reference.rows,
        accounts=s.current_rows,
        accounts_not_in_dataset=s.accounts_not_in_dataset,
        drift_threshold=s.settings.drift_threshold,
        drift_share_threshold=s.settings.drift_share,
        drifted_share=s.drift.drifted_share,
        drifted_features=s.drift.drifted,
        missing_features=s.drift.missing,
        score_psi=s.drift.score_psi,
        features=s.drift.features,
        segments=s.segments,
        matures_on=s.matures_on,
        realised=s.realised,
        history=[_history_row(r) for r in history or []],
        report_pages={kind: f"/model/reports/{report.id}/{kind}" for kind in s.reports},
    )


@router.get(
    "/v1/monitoring",
    response_model=Monitoring,
    summary="The latest monitoring summary: drift, realised churn, and whether to retrain",
    responses={404: {"model": Error}},
)
def monitoring(engine: Store, _: Admin) -> Monitoring:
    report = latest_report(engine)
    if report is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            detail=("no_monitoring", "no monitoring report yet: run `retention monitor`"),
        )
    return monitoring_summary(report, report_history(engine))
