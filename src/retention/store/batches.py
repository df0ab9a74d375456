"""Scoring batches in the store: written whole or not at all, read back as frames.

A batch row is committed first as `running` (so an administrator sees a job at work); its
scores, reasons and actions and the flip to `complete` are then one transaction. Readers only
ever see complete batches, so a job killed half-way leaves the previous batch as the latest.
A batch holding a number that is not finite is refused (`failed`) before any row is written.
On PostgreSQL the rows go in by `COPY ... FROM STDIN` (psycopg 3, on the driver connection of
that same transaction); on SQLite by executemany.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, insert, select, update

from retention.records.batch import (
    ACTION_COLUMNS,
    ASSIGNMENT_COLUMNS,
    EFFECT_COLUMNS,
    NULLABLE_INTEGERS,
    PEER_COLUMNS,
    REASON_COLUMNS,
    SCORE_COLUMNS,
    ScoredList,
)
from retention.records.labels import EXIT
from retention.store.database import StoreError, reading
from retention.store.tables import (
    BATCH_ABANDONED,
    BATCH_COMPLETE,
    BATCH_FAILED,
    BATCH_RUNNING,
    Action,
    Assignment,
    ExpectedEffect,
    PeerMedian,
    Reason,
    Score,
    ScoringBatch,
    utc_now,
)

CHUNK_ROWS = 5_000
# Core tables: batches move as many rows at once, not as ORM objects.
BATCHES: Table = ScoringBatch.__table__  # type: ignore[assignment]
SCORES: Table = Score.__table__  # type: ignore[assignment]
REASONS: Table = Reason.__table__  # type: ignore[assignment]
ACTIONS: Table = Action.__table__  # type: ignore[assignment]
PEER_MEDIANS: Table = PeerMedian.__table__  # type: ignore[assignment]
EFFECTS: Table = ExpectedEffect.__table__  # type: ignore[assignment]
ASSIGNMENTS: Table = Assignment.__table__  # type: ignore[assignment]
Progress = Callable[[int, int], None]  # rows written so far, rows in all


class BatchNotFound(LookupError):
    """No such batch, or no complete batch yet."""


class BatchRefused(StoreError):
    """A scored list holding a number that is not finite: the store never keeps or serves one."""


# Numbers a listed (ranked) account must have. Elsewhere a missing number means missing (no
# bills, no probability for an account leaving) unless its column may not be null.
LISTED_NUMBERS = ("probability", "money_at_risk_cny")


@dataclass(frozen=True)
class BatchInfo:
    id: int
    snapshot_date: dt.date
    scored_on: dt.date
    model_name: str
    model_version: str
    capacity: int
    status: str
    accounts: int | None
    created_at: dt.datetime
    completed_at: dt.datetime | None
    horizon_months: int | None = None  # what the scores' probability is the churn within
    # What ranked the list and why (None: a batch scored before targeting), and the effect
    # model whose estimates the batch holds.
    list_mode: str | None = None
    list_reason: str | None = None
    effects_version: str | None = None

    @property
    def label(self) -> str:
        """How files and pages name the batch."""
        return f"batch-{self.id}-{self.snapshot_date:%Y%m%d}"


@dataclass(frozen=True)
class StoredBatch:
    """A complete batch as frames: scores (ranked, leaving accounts last), reasons, actions,
    and the randomised window's assignments (empty for a batch scored without the policy)."""

    info: BatchInfo
    scores: pd.DataFrame
    reasons: pd.DataFrame
    actions: pd.DataFrame
    # each account's expected effect of each eligible action (EFFECT_COLUMNS; empty without)
    effects: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=EFFECT_COLUMNS))
    assignments: pd.DataFrame = field(
        default_factory=lambda: pd.DataFrame(columns=ASSIGNMENT_COLUMNS)
    )


def score_rows(scored: ScoredList) -> pd.DataFrame:
    """The list, then the accounts leaving (by id), as one frame in the scores table's columns;
    the order `load_batch` reads back."""
    leaving = scored.leaving.sort_values("customer_id", kind="stable").assign(
        probability=np.nan, probability_1m=np.nan, probability_3m=np.nan,
        money_at_risk_cny=np.nan, band=EXIT,
    )  # fmt: skip
    frame = pd.concat([scored.accounts, leaving], ignore_index=True)
    frame["rank"] = frame["rank"].astype("Int64")  # the leaving have no rank
    # a list scored without targeting (on demand, older callers) has no effect columns, and
    # the leaving have no best action: missing as the store reads it back (None, not NaN)
    frame = frame.reindex(columns=SCORE_COLUMNS)
    best = frame["best_action"].astype(object)
    frame["best_action"] = best.where(best.notna(), None)
    return frame


def reason_rows(scored: ScoredList) -> pd.DataFrame:
    """Reasons with the feature's value split into a number or a text (categories)."""
    values = scored.reasons["value"]
    numeric = pd.to_numeric(values, errors="coerce")
    is_text = values.notna() & numeric.isna()
    frame = scored.reasons.assign(
        value_number=numeric.astype(float),
        value_text=values.where(is_text).astype(object),
    )
    return frame[REASON_COLUMNS]


def save_batch(
    engine: Engine,
    scored: ScoredList,
    model_name: str,
    model_version: str,
    capacity: int,
    scored_on: dt.date,
    progress: Progress | None = None,
) -> int:
    """Write a scored list as a new batch; it becomes the latest only when all of it is in."""
    parts = [
        (SCORES, score_rows(scored)),
        (REASONS, reason_rows(scored)),
        (ACTIONS, scored.actions[ACTION_COLUMNS]),
        (PEER_MEDIANS, scored.peers.reindex(columns=PEER_COLUMNS)),
        (EFFECTS, scored.effects.reindex(columns=EFFECT_COLUMNS)),
        (ASSIGNMENTS, scored.assignments.reindex(columns=ASSIGNMENT_COLUMNS)),
    ]
    with engine.begin() as connection:
        batch_id = connection.execute(
            insert(BATCHES)
            .values(
                snapshot_date=scored.snapshot.date(),
                scored_on=scored_on,
                model_name=model_name,
                model_version=str(model_version),
                capacity=capacity,
                horizon_months=scored.horizon_months,
                list_mode=scored.list_mode,
                list_reason=scored.list_reason,
                effects_version=scored.effects_version,
                status=BATCH_RUNNING,
                created_at=utc_now(),
            )
            .returning(BATCHES.c.id)
        ).scalar_one()
    try:
        _refuse_non_finite(parts)
        with engine.begin() as connection:
            _write_rows(connection, parts, batch_id, progress)
            # Jobs that died before completing can never complete now: say so.
            connection.execute(
                update(BATCHES)
                .where(BATCHES.c.id < batch_id, BATCHES.c.status == BATCH_RUNNING)
                .values(status=BATCH_ABANDONED)
            )
            connection.execute(
                update(BATCHES)
                .where(BATCHES.c.id == batch_id)
                .values(
                    status=BATCH_COMPLETE,
                    accounts=len(scored.accounts) + len(scored.leaving),
                    completed_at=utc_now(),
                )
            )
    except BaseException as err:
        _mark_failed(engine, batch_id, err)
        raise
    return int(batch_id)


def _refuse_non_finite(parts: list[tuple[Table, pd.DataFrame]]) -> None:
    """Raise BatchRefused naming every number column that is infinite somewhere, or missing
    where it may not be, with how many rows and the first accounts."""
    faults = []
    for table, frame in parts:
        for column in frame.columns:
            if not pd.api.types.is_float_dtype(frame[column].dtype):
                continue
            values = frame[column].to_numpy(dtype=float, na_value=np.nan)
            bad = np.isinf(values)
            if not table.c[column].nullable:
                bad |= np.isnan(values)
            elif table is SCORES and column in LISTED_NUMBERS:
                bad |= np.isnan(values) & frame["rank"].notna().to_numpy()
            if bad.any():
                key = "customer_id" if "customer_id" in frame else "feature"  # peer medians
                first = ", ".join(map(str, frame[key].to_numpy()[bad][:3]))
                faults.append(
                    f"{table.name}.{column} is not a finite number in {int(bad.sum())} row(s) "
                    f"({key} {first})"
                )
    if faults:
        raise BatchRefused("; ".join(faults))


def _mark_failed(engine: Engine, batch_id: int, err: BaseException) -> None:
    # The type says what failed; a refusal also says where (columns and account ids, no names).
    error = f"{type(err).__name__}: {err}" if isinstance(err, BatchRefused) else type(err).__name__
    try:
        with engine.begin() as connection:
            connection.execute(
                update(BATCHES)
                .where(BATCHES.c.id == batch_id)
                .values(status=BATCH_FAILED, error=error)
            )
    except Exception:  # the store itself is gone; the batch stays `running`, never latest
        pass


def _write_rows(
    connection: Connection,
    parts: list[tuple[Table, pd.DataFrame]],
    batch_id: int,
    progress: Progress | None,
) -> None:
    """Every table's rows in the connection's transaction: PostgreSQL's COPY (one stream a
    table, no statement a row), else executemany; `progress` hears of every chunk."""
    total = sum(len(frame) for _, frame in parts)
    written = 0

    def advance(rows: int) -> None:
        nonlocal written
        written += rows
        if progress is not None:
            progress(written, total)

    copying = connection.dialect.name == "postgresql"
    for table, frame in parts:
        if copying:
            _copy_table(connection, table, frame, batch_id, advance)
            continue
        statement = insert(table)
        names = ["batch_id", *frame.columns]
        for rows in _chunks(frame, batch_id):
            connection.execute(statement, [dict(zip(names, row, strict=True)) for row in rows])
            advance(len(rows))


def _copy_table(
    connection: Connection,
    table: Table,
    frame: pd.DataFrame,
    batch_id: int,
    advance: Callable[[int], None],
) -> None:
    """A table's rows through `COPY ... FROM STDIN` on the driver's connection (psycopg 3),
    inside the transaction SQLAlchemy began: rolled back with it, never committed alone."""
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name),
        sql.SQL(", ").join(sql.Identifier(name) for name in ["batch_id", *frame.columns]),
    )
    driver = connection.connection.driver_connection
    assert driver is not None  # a live connection: SQLAlchemy began its transaction
    with driver.cursor() as cursor, cursor.copy(statement) as copy:
        for rows in _chunks(frame, batch_id):
            for row in rows:
                copy.write_row(row)
            advance(len(rows))


def _chunks(frame: pd.DataFrame, batch_id: int) -> Iterator[list[tuple[Any, ...]]]:
    """Rows as tuples of plain Python values (None for missing), the batch id first,
    CHUNK_ROWS at a time."""
    for start in range(0, len(frame), CHUNK_ROWS):
        part = frame.iloc[start : start + CHUNK_ROWS].astype(object)
        part = part.where(part.notna(), None)
        # object columns keep numpy scalars where pandas made them (the drivers want Python's)
        yield [
            (batch_id, *(v.item() if isinstance(v, np.generic) else v for v in row))
            for row in part.itertuples(index=False, name=None)
        ]


def _info(row: Any) -> BatchInfo:
    return BatchInfo(
        id=row.id,
        snapshot_date=row.snapshot_date,
        scored_on=row.scored_on,
        model_name=row.model_name,
        model_version=row.model_version,
        capacity=row.capacity,
        status=row.status,
        accounts=row.accounts,
        created_at=row.created_at,
        completed_at=row.completed_at,
        horizon_months=row.horizon_months,
        list_mode=row.list_mode,
        list_reason=row.list_reason,
        effects_version=row.effects_version,
    )


def list_batches(engine: Engine, complete_only: bool = False) -> list[BatchInfo]:
    """Every batch, newest first (running and failed ones too, unless complete_only)."""
    query = select(BATCHES).order_by(BATCHES.c.id.desc())
    if complete_only:
        query = query.where(BATCHES.c.status == BATCH_COMPLETE)
    with engine.connect() as connection:
        return [_info(row) for row in connection.execute(query)]


_LATEST_COMPLETE = (
    select(BATCHES).where(BATCHES.c.status == BATCH_COMPLETE).order_by(BATCHES.c.id.desc()).limit(1)
)


def batch_info(engine: Engine | Connection, batch_id: int | None = None) -> BatchInfo:
    """A complete batch by id, or the latest complete one."""
    with reading(engine) as connection:
        if batch_id is None:  # every API call asks: a statement built once
            row = connection.execute(_LATEST_COMPLETE).first()
        else:
            query = select(BATCHES).where(
                BATCHES.c.status == BATCH_COMPLETE, BATCHES.c.id == batch_id
            )
            row = connection.execute(query).first()
    if row is None:
        raise BatchNotFound(
            "no complete scoring batch yet: run `retention score`"
            if batch_id is None
            else f"batch {batch_id} does not exist or is not complete"
        )
    return _info(row)


def load_batch(engine: Engine, batch_id: int | None = None) -> StoredBatch:
    """A complete batch (default: the latest) with its scores, reasons and actions."""
    info = batch_info(engine, batch_id)
    with engine.connect() as connection:
        scores = _frame(connection, SCORES, info.id, SCORE_COLUMNS)
        reasons = _frame(connection, REASONS, info.id, REASON_COLUMNS)
        actions = _frame(connection, ACTIONS, info.id, ACTION_COLUMNS)
        effects = _frame(connection, EFFECTS, info.id, EFFECT_COLUMNS)
        assignments = _frame(connection, ASSIGNMENTS, info.id, ASSIGNMENT_COLUMNS)
    listed = scores["rank"].notna()
    scores = pd.concat(
        [
            scores[listed].sort_values("rank", kind="stable"),
            scores[~listed].sort_values("customer_id", kind="stable"),
        ],
        ignore_index=True,
    )
    reasons = reasons.sort_values(["customer_id", "rank"], ignore_index=True)
    actions = actions.sort_values(["customer_id", "position"], ignore_index=True)
    effects = effects.sort_values(["customer_id", "code"], ignore_index=True)
    assignments = assignments.sort_values("rank", ignore_index=True)
    return StoredBatch(
        info=info,
        scores=scores,
        reasons=reasons,
        actions=actions,
        effects=effects,
        assignments=assignments,
    )


def _frame(connection: Connection, table: Table, batch_id: int, columns: list[str]) -> pd.DataFrame:
    query = select(*(table.c[name] for name in columns)).where(table.c.batch_id == batch_id)
    rows = connection.execute(query).all()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    for name in columns:
        if name in NULLABLE_INTEGERS:
            frame[name] = frame[name].astype("Int64")
        elif table.c[name].type.python_type is float:
            frame[name] = frame[name].astype(float)
    return frame


def load_peer_medians(engine: Engine, batch_id: int) -> pd.DataFrame:
    """The batch's peer medians (industry_code, feature, median, peers)."""
    with engine.connect() as connection:
        return _frame(connection, PEER_MEDIANS, batch_id, PEER_COLUMNS)


def batch_scores(engine: Engine, batch_id: int, columns: list[str]) -> pd.DataFrame:
    """Some columns of a batch's scores (every account, exit band included), unordered."""
    with engine.connect() as connection:
        return _frame(connection, SCORES, batch_id, columns)
