"""The connection applications (业扩报装) of the latest watch run: the list, one application's
clocks, actions and follow-ups, its follow-ups logged, and the run's KPIs."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Response, status
from sqlalchemy import Connection, Engine

from retention.serving.deps import (
    AUTH_ERRORS,
    KeyFirstRoute,
    Logger,
    Reader,
    Store,
    json_response,
)
from retention.serving.routers.follow_ups import CREATED_RESPONSES, logged_once
from retention.serving.schemas import (
    ApplicationDetail,
    ApplicationFollowUpIn,
    ApplicationKpis,
    ApplicationList,
    Error,
    FollowUp,
    StepCode,
)
from retention.store.applications import (
    ApplicationFilters,
    Sort,
    WatchRunInfo,
    WatchRunNotFound,
    application_detail,
    latest_watch_run,
    list_applications,
    run_kpis,
)
from retention.store.follow_ups import (
    NewFollowUp,
    application_follow_ups,
    create_follow_up,
)

router = APIRouter(
    prefix="/v1", tags=["applications"], responses=AUTH_ERRORS, route_class=KeyFirstRoute
)
# Plain functions: FastAPI runs them in worker threads, off the event loop (see accounts.py).
ApplicationId = Annotated[str, Path(min_length=1, max_length=64, examples=["YK2026110001"])]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Error}}
MAX_DUE_WITHIN = 250  # working days: a year and more; the clocks' limits are at most 250


@functools.cache
def step_names() -> dict[str, tuple[str, str]]:
    """Each step code's (中文, English) name, from the service clocks."""
    from retention.applications.clocks import load_service_clocks

    return {code: (clock.zh, clock.en) for code, clock in load_service_clocks().steps.items()}


def latest_run(engine: Engine | Connection) -> WatchRunInfo:
    try:
        return latest_watch_run(engine)
    except WatchRunNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("no_watch_run", str(err))) from err


@dataclass(frozen=True)
class ListQuery:
    filters: ApplicationFilters
    sort: Sort
    limit: int
    offset: int


def list_query(
    unit: Annotated[str | None, Query(max_length=100, description="supplying unit")] = None,
    owner: Annotated[str | None, Query(max_length=64, description="account manager id")] = None,
    step: Annotated[
        StepCode | None, Query(description="has a running or overdue clock of this step")
    ] = None,
    overdue: Annotated[bool | None, Query(description="has an overdue step (or not)")] = None,
    due_within: Annotated[
        int | None,
        Query(ge=0, le=MAX_DUE_WITHIN, description="a running step due within N working days"),
    ] = None,
    sort: Annotated[
        Sort,
        Query(description="rank (overdue first), money, probability, overdue, next_due"),
    ] = "rank",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> ListQuery:
    filters = ApplicationFilters(unit, owner, step, overdue, due_within)
    return ListQuery(filters, sort, limit, offset)


@router.get(
    "/applications",
    response_model=ApplicationList,
    summary="The open connection applications of the latest watch run (overdue first)",
    responses={
        **NOT_FOUND,
        200: {
            "links": {
                "the_first": {
                    "operationId": "get_application",
                    "parameters": {"application_id": "$response.body#/data/0/application_id"},
                    "description": "the first listed application's clocks, actions, follow-ups",
                },
            }
        },
    },
)
def get_applications(
    engine: Store, _: Reader, query: Annotated[ListQuery, Depends(list_query)]
) -> Response:
    with engine.connect() as connection:
        run = latest_run(connection)
        rows, total = list_applications(
            connection, run.id, query.filters, query.sort, query.limit, query.offset
        )
    return json_response(
        ApplicationList.model_validate(
            {
                "watch_run_id": run.id,
                "as_of": run.as_of,
                "model_version": run.model_version,
                "data": rows,
                "count": total,
            }
        )
    )


@router.get(
    "/applications/kpis",
    response_model=ApplicationKpis,
    summary="业扩报装服务时限达标率 and the other figures of the latest watch run's period",
    responses=NOT_FOUND,
)
def get_application_kpis(engine: Store, _: Reader) -> Response:
    with engine.connect() as connection:
        run = latest_run(connection)
        rows = run_kpis(connection, run.id)
    return json_response(
        ApplicationKpis.model_validate(
            {
                "watch_run_id": run.id,
                "as_of": run.as_of,
                "period_start": run.period_start,
                "period_end": run.period_end,
                "data": rows,
            }
        )
    )


def not_in_run(application_id: str, run: WatchRunInfo) -> HTTPException:
    return HTTPException(
        status.HTTP_404_NOT_FOUND,
        detail=(
            "not_found",
            f"申请 {application_id} 不在最新监测中 / application {application_id} is not open "
            f"in the latest watch run ({run.id}, {run.as_of})",
        ),
    )


@router.get(
    "/applications/{application_id}",
    response_model=ApplicationDetail,
    summary="One application: its steps against their limits, actions and follow-ups",
    responses={
        **NOT_FOUND,
        200: {
            "links": {
                "log_a_follow_up": {
                    "operationId": "post_application_follow_up",
                    "parameters": {"application_id": "$response.body#/application_id"},
                    "description": "log what was done for this application",
                },
            }
        },
    },
)
def get_application(application_id: ApplicationId, engine: Store, _: Reader) -> Response:
    with engine.connect() as connection:  # one checkout for the reads
        run = latest_run(connection)
        found = application_detail(connection, run.id, application_id)
        if found is None:
            raise not_in_run(application_id, run)
        follow_ups = application_follow_ups(connection, application_id)
    row, clocks, actions = found
    names = step_names()
    steps = [
        {**c, "step_zh": names.get(c["step_code"], (c["step_code"],) * 2)[0],
         "step_en": names.get(c["step_code"], (c["step_code"],) * 2)[1]}
        for c in clocks
    ]  # fmt: skip
    return json_response(
        ApplicationDetail.model_validate(
            {
                **row,
                "watch_run_id": run.id,
                "as_of": run.as_of,
                "model_version": run.model_version,
                "clocks": steps,
                "actions": actions,
                "follow_ups": follow_ups,
            }
        )
    )


@router.post(
    "/applications/{application_id}/follow-ups",
    response_model=FollowUp,
    status_code=status.HTTP_201_CREATED,
    summary="Log what was done for an application (retries with one Idempotency-Key store once)",
    responses=CREATED_RESPONSES,
)
def post_application_follow_up(
    application_id: ApplicationId,
    body: ApplicationFollowUpIn,
    engine: Store,
    caller: Logger,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=128, examples=["crm-yk-0001"])
    ] = None,
) -> FollowUp:
    item = NewFollowUp(customer_id=None, application_id=application_id, **body.model_dump())

    def create() -> tuple[dict[str, Any], bool]:
        run = latest_run(engine)
        if application_detail(engine, run.id, application_id) is None:
            raise not_in_run(application_id, run)
        return create_follow_up(engine, item, None, caller.key_id, idempotency_key, run_id=run.id)

    return logged_once(engine, item, caller.key_id, idempotency_key, response, create)
