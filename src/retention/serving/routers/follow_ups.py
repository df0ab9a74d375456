"""Follow-ups (跟进记录) and the zero-churn KPIs (零流失考核指标)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Header, HTTPException, Path, Query, Response, status
from sqlalchemy import Engine

from retention.data.local_time import local_today
from retention.serving.deps import AUTH_ERRORS, BODY_ERRORS, KeyFirstRoute, Logger, Reader, Store
from retention.serving.routers.accounts import CustomerId, latest_batch
from retention.serving.schemas import (
    ActionCode,
    Error,
    FollowUp,
    FollowUpChanges,
    FollowUpIn,
    FollowUpPatch,
    FollowUps,
    Kpis,
    LoggedFollowUp,
)
from retention.store.assignments import follows_up_a_control
from retention.store.evidence import latest_evidence
from retention.store.follow_ups import (
    IdempotencyConflict,
    NewFollowUp,
    create_follow_up,
    follow_up_changes,
    get_follow_up,
    kpis,
    list_follow_ups,
    stored_reply,
    update_follow_up,
)
from retention.store.risk import account_risk

router = APIRouter(
    prefix="/v1", tags=["follow-ups"], responses=AUTH_ERRORS, route_class=KeyFirstRoute
)


# What a POST of a follow-up (an account's or an application's) can answer, and where next.
CREATED_RESPONSES: dict[int | str, dict[str, Any]] = {
    **BODY_ERRORS,
    404: {"model": Error},
    409: {"model": Error},
    201: {
        "links": {
            "record_the_outcome": {
                "operationId": "patch_follow_up",
                "parameters": {"follow_up_id": "$response.body#/id"},
                "description": "record the contact time, outcome or a note of it",
            },
            "its_history": {
                "operationId": "get_follow_up_changes",
                "parameters": {"follow_up_id": "$response.body#/id"},
            },
        }
    },
}


def logged_once(
    engine: Engine,
    item: NewFollowUp,
    key_id: int,
    idempotency_key: str | None,
    response: Response,
    create: Callable[[], tuple[dict[str, Any], bool]],
) -> FollowUp:
    """A follow-up stored once per Idempotency-Key: a retry is answered as before, whatever
    batch or watch run has landed since; the same key with another body is a 409. `create`
    checks the follow-up's account or application and stores it."""
    try:
        row = (
            None if idempotency_key is None else stored_reply(engine, item, key_id, idempotency_key)
        )
        replayed = row is not None
        if row is None:
            row, replayed = create()
    except IdempotencyConflict as err:
        raise HTTPException(
            status.HTTP_409_CONFLICT, detail=("idempotency_conflict", str(err))
        ) from err
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return FollowUp.model_validate(row)


# What a follow-up of a held-out account answers: stored (never lose what the team did), but
# the control group is no longer untouched, and the team should know before it happens again.
CONTROL_FOLLOWED_UP: Final = {
    "code": "control_group_followed_up",
    "message": "该客户本期为对照组（不跟进）：跟进已记录，随机分配记为未遵从，效果评估仍按对照组计"
    " / the account is held out as this batch's control group (no follow-up due): the "
    "follow-up is stored, the assignment marked as not complied with, and the effect "
    "estimates still count the account as a control",
}


@router.post(
    "/accounts/{customer_id}/follow-ups",
    response_model=LoggedFollowUp,
    status_code=status.HTTP_201_CREATED,
    summary="Log what was done for an account (retries with one Idempotency-Key store once)",
    description="A follow-up of an account held out as the batch's control group (对照组) is "
    "stored too, with `warning` `control_group_followed_up`: its assignment is then not "
    "complied with (`assignment.complied` false in the account's risk).",
    responses=CREATED_RESPONSES,
)
def post_follow_up(
    customer_id: CustomerId,
    body: FollowUpIn,
    engine: Store,
    caller: Logger,
    response: Response,
    idempotency_key: Annotated[
        str | None, Header(min_length=1, max_length=128, examples=["crm-7f3a-0001"])
    ] = None,
) -> FollowUp:
    item = NewFollowUp(customer_id=customer_id, **body.model_dump())

    def create() -> tuple[dict[str, Any], bool]:
        batch = latest_batch(engine)
        if account_risk(engine, batch.id, customer_id) is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=(
                    "not_found",
                    f"customer {customer_id} is not in the latest batch ({batch.id})",
                ),
            )
        return create_follow_up(engine, item, batch.id, caller.key_id, idempotency_key)

    logged = logged_once(engine, item, caller.key_id, idempotency_key, response, create)
    warning = CONTROL_FOLLOWED_UP if follows_up_a_control(engine, logged.model_dump()) else None
    return LoggedFollowUp.model_validate({**logged.model_dump(), "warning": warning})


@router.patch(
    "/follow-ups/{follow_up_id}",
    response_model=FollowUp,
    summary="Record contact time, outcome or a note",
    responses={
        **BODY_ERRORS,
        404: {"model": Error},
        200: {
            "links": {
                "its_history": {
                    "operationId": "get_follow_up_changes",
                    "parameters": {"follow_up_id": "$response.body#/id"},
                },
            }
        },
    },
)
def patch_follow_up(
    follow_up_id: Annotated[int, Path(ge=1, le=2**62)],
    body: FollowUpPatch,
    engine: Store,
    caller: Logger,
) -> FollowUp:
    changes = body.model_dump(exclude_unset=True)
    if changes.get("outcome", "") is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            detail=("invalid_request", "outcome cannot be null"),
        )
    row = update_follow_up(engine, follow_up_id, changes, caller_id=caller.key_id)
    if row is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=("not_found", f"no follow-up {follow_up_id}")
        )
    return FollowUp.model_validate(row)


@router.get(
    "/follow-ups/{follow_up_id}/changes",
    response_model=FollowUpChanges,
    summary="A follow-up's history: who logged it, and who changed what when (oldest first)",
    responses={404: {"model": Error}},
)
def get_follow_up_changes(
    follow_up_id: Annotated[int, Path(ge=1, le=2**62)], engine: Store, _: Reader
) -> FollowUpChanges:
    if get_follow_up(engine, follow_up_id) is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=("not_found", f"no follow-up {follow_up_id}")
        )
    rows = follow_up_changes(engine, [follow_up_id])
    return FollowUpChanges.model_validate({"data": rows, "count": len(rows)})


@router.get("/follow-ups", response_model=FollowUps, summary="Follow-ups, newest first")
def get_follow_ups(
    engine: Store,
    _: Reader,
    customer_id: Annotated[str | None, Query(max_length=64)] = None,
    owner: Annotated[str | None, Query(max_length=64)] = None,
    action_code: ActionCode | None = None,
    overdue: Annotated[
        bool | None, Query(description="not contacted and past the due date")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    application_id: Annotated[
        str | None, Query(max_length=64, description="a connection application's (业扩报装)")
    ] = None,
) -> FollowUps:
    rows, total = list_follow_ups(
        engine, local_today(), customer_id, owner, action_code, overdue, limit, offset,
        application_id,
    )  # fmt: skip
    return FollowUps.model_validate({"data": rows, "count": total})


@router.get(
    "/kpis",
    response_model=Kpis,
    summary="Zero-churn figures of the latest batch, by account manager and supplying unit",
    responses={404: {"model": Error}},
)
def get_kpis(engine: Store, _: Reader) -> Kpis:
    batch = latest_batch(engine)
    figures = kpis(engine, batch.id, local_today())
    evidence = latest_evidence(engine)
    return Kpis.model_validate(
        {
            "batch_id": batch.id,
            "snapshot_date": batch.snapshot_date,
            **figures,
            "control_group": None if evidence is None else evidence.comparison,
        }
    )
