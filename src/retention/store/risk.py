"""The read queries the API and the page need: one account's risk, the ranked list."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Connection, Engine, Table, bindparam, func, or_, select

from retention.records.batch import (
    AccountInBatch,
    StoredAction,
    StoredEffect,
    StoredReason,
    StoredScore,
)
from retention.records.labels import EXIT, HIGH
from retention.store.batches import ACTIONS, BATCHES, EFFECTS, REASONS, SCORES
from retention.store.database import reading
from retention.store.tables import BATCH_COMPLETE


@dataclass(frozen=True)
class ListFilters:
    band: str | None = None
    region: str | None = None
    account_manager_id: str | None = None
    industry_code: str | None = None
    text: str | None = None  # the start of a customer id, or part of a name
    exclude_exit: bool = False  # the ranked list without the accounts in exit process


def _of_account(table: Table, order: Any | None = None) -> Any:
    """A table's rows of one account in one batch, built once (bound per call): the API's
    hottest read costs a third of building the statement anew each time."""
    query = select(table).where(
        table.c.batch_id == bindparam("batch_id"), table.c.customer_id == bindparam("customer_id")
    )
    return query if order is None else query.order_by(order)


_SCORE = _of_account(SCORES)
_REASONS = _of_account(REASONS, REASONS.c.rank)
_ACTIONS = _of_account(ACTIONS, ACTIONS.c.position)
_EFFECTS = _of_account(EFFECTS, EFFECTS.c.money_saved_cny.desc())


def account_risk(
    engine: Engine | Connection, batch_id: int, customer_id: str
) -> tuple[StoredScore, list[StoredReason], list[StoredAction]] | None:
    """An account's score, reasons and actions in a batch; None when it is not in it."""
    which = {"batch_id": batch_id, "customer_id": customer_id}
    with reading(engine) as connection:
        score = connection.execute(_SCORE, which).mappings().first()
        if score is None:
            return None
        reasons = [
            cast(StoredReason, dict(r)) for r in connection.execute(_REASONS, which).mappings()
        ]
        actions = [
            cast(StoredAction, dict(a)) for a in connection.execute(_ACTIONS, which).mappings()
        ]
    return cast(StoredScore, dict(score)), reasons, actions


def account_effects(
    engine: Engine | Connection, batch_id: int, customer_id: str
) -> list[StoredEffect]:
    """An account's expected effect of each eligible action in a batch, most money saved
    first (none without an effect model with enough evidence)."""
    which = {"batch_id": batch_id, "customer_id": customer_id}
    with reading(engine) as connection:
        rows = connection.execute(_EFFECTS, which).mappings()
        return [cast(StoredEffect, dict(r)) for r in rows]


def risk_list(
    engine: Engine,
    batch_id: int,
    filters: ListFilters,
    limit: int,
    offset: int,
    sort: str = "rank",
) -> tuple[list[StoredScore], int]:
    """A page of the batch's list in rank order (accounts in exit process last), and the
    number of accounts that match the filters."""
    where = [SCORES.c.batch_id == batch_id]
    for column, value in (
        ("band", filters.band),
        ("region", filters.region),
        ("account_manager_id", filters.account_manager_id),
        ("industry_code", filters.industry_code),
    ):
        if value is not None:
            where.append(SCORES.c[column] == value)
    if filters.exclude_exit:
        where.append(SCORES.c.band != EXIT)
    if filters.text:
        like = filters.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append(
            or_(
                SCORES.c.customer_id.like(f"{like}%", escape="\\"),
                SCORES.c.customer_name.like(f"%{like}%", escape="\\"),
            )
        )
    order = (
        (SCORES.c.probability.is_(None), SCORES.c.probability.desc(), SCORES.c.customer_id)
        if sort == "probability"
        else (SCORES.c.rank.is_(None), SCORES.c.rank, SCORES.c.customer_id)
    )
    with engine.connect() as connection:
        total = connection.execute(
            select(func.count()).select_from(SCORES).where(*where)
        ).scalar_one()
        rows = (
            connection.execute(
                select(SCORES).where(*where).order_by(*order).limit(limit).offset(offset)
            )
            .mappings()
            .all()
        )
    return [cast(StoredScore, dict(r)) for r in rows], int(total)


def high_band_floor(engine: Engine, batch_id: int) -> float | None:
    """The smallest money at risk in the batch's high band: an account scored on demand at
    or above it would have been among the team's top K."""
    with engine.connect() as connection:
        value = connection.execute(
            select(func.min(SCORES.c.money_at_risk_cny)).where(
                SCORES.c.batch_id == batch_id, SCORES.c.band == HIGH
            )
        ).scalar_one()
    return None if value is None else float(value)


def firsts(
    engine: Engine, batch_id: int, customer_ids: list[str]
) -> tuple[dict[str, StoredReason], dict[str, StoredAction]]:
    """Each account's top reason and first action in a batch (for a page of the list)."""
    if not customer_ids:
        return {}, {}

    def by_account(table: Table, first_column: Any) -> dict[str, dict[str, Any]]:
        query = select(table).where(
            table.c.batch_id == batch_id, first_column == 1, table.c.customer_id.in_(customer_ids)
        )
        with engine.connect() as connection:
            return {r["customer_id"]: dict(r) for r in connection.execute(query).mappings()}

    top = by_account(REASONS, REASONS.c.rank)
    first = by_account(ACTIONS, ACTIONS.c.position)
    return cast(dict[str, StoredReason], top), cast(dict[str, StoredAction], first)


def tariff_savings(engine: Engine, batch_id: int, customer_ids: list[str]) -> dict[str, float]:
    """The 12-month saving of each account's priced tariff_plan offer (for a page of the
    list); accounts without one are absent."""
    if not customer_ids:
        return {}
    query = select(ACTIONS.c.customer_id, ACTIONS.c.saving_cny).where(
        ACTIONS.c.batch_id == batch_id,
        ACTIONS.c.code == "tariff_plan",
        ACTIONS.c.saving_cny.is_not(None),
        ACTIONS.c.customer_id.in_(customer_ids),
    )
    with engine.connect() as connection:
        return {row.customer_id: row.saving_cny for row in connection.execute(query)}


def account_history(engine: Engine, customer_id: str) -> list[AccountInBatch]:
    """The account in every complete batch, oldest first: snapshot, probability, band."""
    query = (
        select(
            BATCHES.c.id,
            BATCHES.c.snapshot_date,
            SCORES.c.probability,
            SCORES.c.band,
            SCORES.c.money_at_risk_cny,
        )
        .join(SCORES, SCORES.c.batch_id == BATCHES.c.id)
        .where(BATCHES.c.status == BATCH_COMPLETE, SCORES.c.customer_id == customer_id)
        .order_by(BATCHES.c.snapshot_date, BATCHES.c.id)
    )
    with engine.connect() as connection:
        return [cast(AccountInBatch, dict(r)) for r in connection.execute(query).mappings()]
