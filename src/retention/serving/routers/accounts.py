"""The scored list and one account's risk, from the latest complete batch."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from sqlalchemy import Connection, Engine

from retention.records.batch import (
    CONTROL_FOLLOWED_UP_TEXT,
    HELD_OUT,
    HELD_OUT_TEXT,
    RANDOMISED_TEXT,
    StoredAssignment,
    horizons,
)
from retention.scoring.targeting import marked_effects
from retention.serving.deps import (
    AUTH_ERRORS,
    KeyFirstRoute,
    Model,
    Reader,
    Store,
    json_response,
    on_store,
)
from retention.serving.schemas import AccountRisk, Band, Error, ModelInfo, RiskList
from retention.store.assignments import assignments_of
from retention.store.batches import BatchInfo, BatchNotFound, batch_info
from retention.store.follow_ups import account_follow_ups
from retention.store.risk import ListFilters, account_effects, account_risk, risk_list

router = APIRouter(prefix="/v1", tags=["risk"], responses=AUTH_ERRORS, route_class=KeyFirstRoute)
# Routes that query the store are plain functions, which FastAPI runs in worker threads: on
# PostgreSQL a query waits on the network, and on the event loop that wait would hold every
# other request of the process. The busiest read, an account's risk, hands its reads to
# `on_store` instead, which skips the thread hop on SQLite (benchmarks/api.py).
CustomerId = Annotated[str, Path(min_length=1, max_length=64, examples=["3275022069"])]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": Error}}


def latest_batch(engine: Engine | Connection) -> BatchInfo:
    try:
        return batch_info(engine)
    except BatchNotFound as err:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=("no_batch", str(err))) from err


@router.get("/model", response_model=ModelInfo, summary="The champion model")
async def model_info(serving: Model, _: Reader) -> ModelInfo:
    info = serving.model.info
    return ModelInfo(
        name=serving.name,
        version=serving.version,
        trained_at=info.trained_at,
        horizon_months=info.horizon_months,
        test_metrics=info.test_metrics,
        horizon_metrics=info.horizon_metrics,
        feature_groups={
            name: f"{group.zh} / {group.en}" for name, group in serving.catalogue.groups.items()
        },
    )


@router.get(
    "/accounts/{customer_id}/risk",
    response_model=AccountRisk,
    summary="One account's risk, reasons, actions and follow-ups",
    responses={
        **NOT_FOUND,
        200: {
            "links": {
                "log_a_follow_up": {
                    "operationId": "post_follow_up",
                    "parameters": {"customer_id": "$response.body#/customer_id"},
                    "description": "log what was done for this account",
                },
                "its_follow_ups": {
                    "operationId": "get_follow_ups",
                    "parameters": {"customer_id": "$response.body#/customer_id"},
                },
            }
        },
    },
)
async def get_account_risk(
    customer_id: CustomerId, engine: Store, serving: Model, _: Reader
) -> Response:
    return await on_store(engine, _account_risk, engine, customer_id)


def _account_risk(engine: Engine, customer_id: str) -> Response:
    with engine.connect() as connection:  # one checkout for the four reads
        batch = latest_batch(connection)
        found = account_risk(connection, batch.id, customer_id)
        if found is None:
            raise HTTPException(
                status.HTTP_404_NOT_FOUND,
                detail=(
                    "not_found",
                    f"customer {customer_id} is not in the latest batch ({batch.id})",
                ),
            )
        score, reasons, actions = found
        effects = account_effects(connection, batch.id, customer_id)
        follow_ups = account_follow_ups(connection, customer_id)
        assigned = assignments_of(connection, batch.id, [customer_id])
    return json_response(
        AccountRisk.model_validate(
            {
                **score,
                "batch_id": batch.id,
                "snapshot_date": batch.snapshot_date,
                "model_version": batch.model_version,
                "in_exit_process": score["band"] == "exit",
                "horizons": horizons(score, batch.horizon_months),
                "reasons": reasons,
                "actions": actions,
                "expected_effects": marked_effects(effects, actions, score["best_action"]),
                "list_mode": batch.list_mode,
                "list_reason": batch.list_reason,
                "follow_ups": follow_ups,
                "assignment": _assignment(assigned.get(customer_id)),
            }
        )
    )


@router.get(
    "/risk-list",
    response_model=RiskList,
    summary="The latest batch, ranked by money at risk or by expected money saved (list_mode)",
    responses={
        **NOT_FOUND,
        200: {
            "links": {
                "risk_of_the_first": {
                    "operationId": "get_account_risk",
                    "parameters": {"customer_id": "$response.body#/data/0/customer_id"},
                    "description": "the first listed account's risk, reasons and actions",
                },
            }
        },
    },
)
def get_risk_list(
    engine: Store,
    _: Reader,
    band: Band | None = None,
    region: Annotated[str | None, Query(max_length=100)] = None,
    account_manager_id: Annotated[str | None, Query(max_length=64)] = None,
    industry_code: Annotated[str | None, Query(max_length=16)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    batch = latest_batch(engine)
    filters = ListFilters(band, region, account_manager_id, industry_code)
    rows, total = risk_list(engine, batch.id, filters, limit, offset)
    assigned = assignments_of(engine, batch.id, [r["customer_id"] for r in rows])
    listed = [{**r, "assignment": _assignment(assigned.get(r["customer_id"]))} for r in rows]
    return json_response(
        RiskList.model_validate(
            {
                "batch_id": batch.id,
                "snapshot_date": batch.snapshot_date,
                "list_mode": batch.list_mode,
                "list_reason": batch.list_reason,
                "data": listed,
                "count": total,
            }
        )
    )


def _assignment(row: StoredAssignment | None) -> dict[str, Any] | None:
    """An account's draw at the capacity edge, with the words the team reads."""
    if row is None:
        return None
    text = RANDOMISED_TEXT
    if row["assignment"] == HELD_OUT:
        text = HELD_OUT_TEXT if row["complied"] else CONTROL_FOLLOWED_UP_TEXT
    return {**row, "label": " / ".join(text)}
