"""Watch runs of the connection applications (业扩报装) in the store: written whole or not at
all, read back as the record's rows (retention.records.applications).

A run is committed first as `running`; its applications, clocks, actions and KPIs and the flip
to `complete` are then one transaction, so a job killed half-way leaves the previous complete
run as the one readers see. Runs are kept; readers see the latest complete one. A run holding
a number that is not finite is refused (`failed`) before any of its rows is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final, Literal, cast

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, Table, and_, exists, func, insert, select, update

from retention.data.contract import STEP_CODES
from retention.records.applications import (
    APPLICATION_ACTION_COLUMNS,
    APPLICATION_COLUMNS,
    CLOCK_COLUMNS,
    KPI_COLUMNS,
    KPI_DIMENSIONS,
    ApplicationActionRow,
    ApplicationRow,
    ClockRow,
    KpiRow,
    WatchRun,
)
from retention.store.database import StoreError, reading
from retention.store.tables import (
    BATCH_ABANDONED,
    BATCH_COMPLETE,
    BATCH_FAILED,
    BATCH_RUNNING,
    ApplicationAction,
    ApplicationClock,
    ApplicationKpi,
    WatchedApplication,
    utc_now,
)
from retention.store.tables import WatchRun as WatchRunTable

CHUNK_ROWS = 5_000
RUNS: Table = WatchRunTable.__table__  # type: ignore[assignment]
APPLICATIONS: Table = WatchedApplication.__table__  # type: ignore[assignment]
CLOCKS: Table = ApplicationClock.__table__  # type: ignore[assignment]
APPLICATION_ACTIONS: Table = ApplicationAction.__table__  # type: ignore[assignment]
KPIS: Table = ApplicationKpi.__table__  # type: ignore[assignment]
# The clocks that still count: a step filter finds applications with one of these.
OPEN_STATES: Final = ("running", "overdue")
Sort = Literal["rank", "money", "probability", "overdue", "next_due"]
SORTS: Final[tuple[Sort, ...]] = ("rank", "money", "probability", "overdue", "next_due")
_STEP_ORDER = {code: i for i, code in enumerate(STEP_CODES)}


class WatchRunNotFound(LookupError):
    """No such watch run, or no complete watch run yet."""


class WatchRunRefused(StoreError):
    """A watch run holding a number that is not finite: never kept or served."""


@dataclass(frozen=True)
class WatchRunInfo:
    id: int
    as_of: dt.date
    period_start: dt.date
    period_end: dt.date
    model_version: str | None
    created_at: dt.datetime
    applications: int | None = None

    @property
    def label(self) -> str:
        """How files and pages name the run."""
        return f"watch-{self.id}-{self.as_of:%Y%m%d}"


@dataclass(frozen=True)
class ApplicationFilters:
    """The list's filters; None is no filter."""

    unit: str | None = None
    owner: str | None = None
    step: str | None = None  # has a clock of this step that is running or overdue
    overdue: bool | None = None  # has (True) or has not (False) an overdue step
    due_within: int | None = None  # a running clock with at most N working days left


def write_watch_run(engine: Engine, run: WatchRun) -> int:
    """Write a watch run; it becomes the latest only when all of it is in. Returns its id."""
    parts = [
        (APPLICATIONS, _rows(run.applications, APPLICATION_COLUMNS)),
        (CLOCKS, _rows(run.clocks, CLOCK_COLUMNS)),
        (APPLICATION_ACTIONS, _rows(run.actions, APPLICATION_ACTION_COLUMNS)),
        (KPIS, _rows(run.kpis, KPI_COLUMNS)),
    ]
    with engine.begin() as connection:
        run_id = connection.execute(
            insert(RUNS)
            .values(
                as_of=run.as_of,
                period_start=run.period_start,
                period_end=run.period_end,
                model_version=None if run.model_version is None else str(run.model_version),
                status=BATCH_RUNNING,
                created_at=utc_now(),
            )
            .returning(RUNS.c.id)
        ).scalar_one()
    try:
        _refuse_non_finite(parts)
        with engine.begin() as connection:
            for table, frame in parts:
                for records in _chunks(table, frame, run_id):
                    connection.execute(insert(table), records)
            # Runs that died before completing can never complete now: say so.
            connection.execute(
                update(RUNS)
                .where(RUNS.c.id < run_id, RUNS.c.status == BATCH_RUNNING)
                .values(status=BATCH_ABANDONED)
            )
            connection.execute(
                update(RUNS)
                .where(RUNS.c.id == run_id)
                .values(
                    status=BATCH_COMPLETE,
                    applications=len(run.applications),
                    completed_at=utc_now(),
                )
            )
    except BaseException as err:
        _mark_failed(engine, run_id, err)
        raise
    return int(run_id)


def _rows(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    missing = [name for name in columns if name not in frame.columns]
    if missing:
        raise WatchRunRefused(f"the watch run's frame lacks the columns {missing}")
    return frame[columns]


def _refuse_non_finite(parts: list[tuple[Table, pd.DataFrame]]) -> None:
    """Raise WatchRunRefused naming every number column infinite somewhere, or missing where
    its column may not be null, with how many rows and the first applications (ids only)."""
    faults = []
    for table, frame in parts:
        for column in frame.columns:
            if not pd.api.types.is_numeric_dtype(frame[column].dtype):
                continue
            values = frame[column].to_numpy(dtype=float, na_value=np.nan)
            bad = np.isinf(values)
            if not table.c[column].nullable:
                bad |= np.isnan(values)
            if bad.any():
                key = "application_id" if "application_id" in frame else "key"
                first = ", ".join(map(str, frame[key].to_numpy()[bad][:3]))
                faults.append(
                    f"{table.name}.{column} is not a finite number in {int(bad.sum())} row(s) "
                    f"({key} {first})"
                )
    if faults:
        raise WatchRunRefused("; ".join(faults))


def _mark_failed(engine: Engine, run_id: int, err: BaseException) -> None:
    error = (
        f"{type(err).__name__}: {err}" if isinstance(err, WatchRunRefused) else type(err).__name__
    )
    try:
        with engine.begin() as connection:
            connection.execute(
                update(RUNS).where(RUNS.c.id == run_id).values(status=BATCH_FAILED, error=error)
            )
    except Exception:  # the store itself is gone; the run stays `running`, never latest
        pass


def _plain(value: Any, kind: type) -> Any:
    """A frame's value as the column's Python type (None for missing)."""
    if value is None or value is pd.NaT or (not isinstance(value, str) and pd.isna(value)):
        return None
    if kind is dt.date:
        return pd.Timestamp(value).date()
    if kind is dt.datetime:
        return pd.Timestamp(value).to_pydatetime().replace(tzinfo=None)
    if isinstance(value, np.generic):
        return value.item()
    return value


def _chunks(table: Table, frame: pd.DataFrame, run_id: int) -> Iterator[list[dict[str, Any]]]:
    """Plain Python records of the table's types (None for missing), CHUNK_ROWS at a time."""
    kinds = {name: table.c[name].type.python_type for name in frame.columns}
    for start in range(0, len(frame), CHUNK_ROWS):
        part = frame.iloc[start : start + CHUNK_ROWS]
        columns = {name: [_plain(v, kinds[name]) for v in part[name].tolist()] for name in kinds}
        yield [{"run_id": run_id, **{c: columns[c][i] for c in kinds}} for i in range(len(part))]


_LATEST_COMPLETE = (
    select(RUNS).where(RUNS.c.status == BATCH_COMPLETE).order_by(RUNS.c.id.desc()).limit(1)
)


def latest_watch_run(engine: Engine | Connection) -> WatchRunInfo:
    """The latest complete watch run (raises WatchRunNotFound when there is none)."""
    with reading(engine) as connection:
        row = connection.execute(_LATEST_COMPLETE).first()
    if row is None:
        raise WatchRunNotFound(
            "还没有业扩报装监测结果 / no complete watch run of the connection applications yet: "
            "run `retention applications`"
        )
    return WatchRunInfo(
        id=row.id,
        as_of=row.as_of,
        period_start=row.period_start,
        period_end=row.period_end,
        model_version=row.model_version,
        created_at=row.created_at,
        applications=row.applications,
    )


def _where(run_id: int, filters: ApplicationFilters) -> list[Any]:
    where = [APPLICATIONS.c.run_id == run_id]
    if filters.unit is not None:
        where.append(APPLICATIONS.c.unit == filters.unit)
    if filters.owner is not None:
        where.append(APPLICATIONS.c.owner_id == filters.owner)
    if filters.overdue is True:
        where.append(APPLICATIONS.c.steps_overdue > 0)
    elif filters.overdue is False:
        where.append(APPLICATIONS.c.steps_overdue == 0)
    own_clock = and_(
        CLOCKS.c.run_id == run_id, CLOCKS.c.application_id == APPLICATIONS.c.application_id
    )
    if filters.step is not None:
        where.append(
            exists().where(
                own_clock, CLOCKS.c.step_code == filters.step, CLOCKS.c.state.in_(OPEN_STATES)
            )
        )
    if filters.due_within is not None:
        # with a step filter too, it is that step that is due within N working days
        step = [] if filters.step is None else [CLOCKS.c.step_code == filters.step]
        where.append(
            exists().where(
                own_clock,
                CLOCKS.c.state == "running",
                CLOCKS.c.working_days_left <= filters.due_within,
                *step,
            )
        )
    return where


def _order(sort: Sort) -> tuple[Any, ...]:
    a = APPLICATIONS.c
    first = {
        "rank": (),
        "money": (a.money_at_stake_cny.is_(None), a.money_at_stake_cny.desc()),
        "probability": (a.withdrawal_probability.is_(None), a.withdrawal_probability.desc()),
        "overdue": (a.worst_overdue_working_days.desc(),),
        "next_due": (a.next_due_date.is_(None), a.next_due_date),
    }[sort]
    return (*first, a.rank)


def list_applications(
    engine: Engine | Connection,
    run_id: int,
    filters: ApplicationFilters,
    sort: Sort = "rank",
    limit: int = 50,
    offset: int = 0,
) -> tuple[list[ApplicationRow], int]:
    """A page of the run's applications in the chosen order, and how many match."""
    where = _where(run_id, filters)
    columns = [APPLICATIONS.c[name] for name in APPLICATION_COLUMNS]
    with reading(engine) as connection:
        total = connection.execute(
            select(func.count()).select_from(APPLICATIONS).where(*where)
        ).scalar_one()
        rows = connection.execute(
            select(*columns).where(*where).order_by(*_order(sort)).limit(limit).offset(offset)
        ).mappings()
        return [cast(ApplicationRow, dict(r)) for r in rows], int(total)


def application_detail(
    engine: Engine | Connection, run_id: int, application_id: str
) -> tuple[ApplicationRow, list[ClockRow], list[ApplicationActionRow]] | None:
    """An application's summary, its clocks in process order and its actions in the run;
    None when it is not in the run."""
    with reading(engine) as connection:
        row = (
            connection.execute(
                select(*(APPLICATIONS.c[n] for n in APPLICATION_COLUMNS)).where(
                    APPLICATIONS.c.run_id == run_id,
                    APPLICATIONS.c.application_id == application_id,
                )
            )
            .mappings()
            .first()
        )
        if row is None:
            return None
        clocks = connection.execute(
            select(*(CLOCKS.c[n] for n in CLOCK_COLUMNS)).where(
                CLOCKS.c.run_id == run_id, CLOCKS.c.application_id == application_id
            )
        ).mappings()
        actions = connection.execute(
            select(*(APPLICATION_ACTIONS.c[n] for n in APPLICATION_ACTION_COLUMNS))
            .where(
                APPLICATION_ACTIONS.c.run_id == run_id,
                APPLICATION_ACTIONS.c.application_id == application_id,
            )
            .order_by(APPLICATION_ACTIONS.c.position)
        ).mappings()
        in_order = sorted(
            (cast(ClockRow, dict(c)) for c in clocks),
            key=lambda c: _STEP_ORDER.get(c["step_code"], len(_STEP_ORDER)),
        )
        return (
            cast(ApplicationRow, dict(row)),
            in_order,
            [cast(ApplicationActionRow, dict(a)) for a in actions],
        )


def recommended_action(
    engine: Engine | Connection, run_id: int, application_id: str, code: str
) -> ApplicationActionRow | None:
    """One recommended action of an application in a run."""
    query = select(*(APPLICATION_ACTIONS.c[n] for n in APPLICATION_ACTION_COLUMNS)).where(
        APPLICATION_ACTIONS.c.run_id == run_id,
        APPLICATION_ACTIONS.c.application_id == application_id,
        APPLICATION_ACTIONS.c.code == code,
    )
    with reading(engine) as connection:
        row = connection.execute(query).mappings().first()
    return None if row is None else cast(ApplicationActionRow, dict(row))


def run_kpis(engine: Engine | Connection, run_id: int) -> list[KpiRow]:
    """The run's KPI rows: overall first, then by step (process order), unit, owner, channel
    and voltage (by key)."""
    query = select(*(KPIS.c[n] for n in KPI_COLUMNS)).where(KPIS.c.run_id == run_id)
    with reading(engine) as connection:
        rows = [cast(KpiRow, dict(r)) for r in connection.execute(query).mappings()]
    dimension = {name: i for i, name in enumerate(KPI_DIMENSIONS)}

    def order(row: KpiRow) -> tuple[int, int, str]:
        step = _STEP_ORDER.get(row["key"], len(_STEP_ORDER)) if row["dimension"] == "step" else 0
        return dimension.get(row["dimension"], len(dimension)), step, row["key"]

    return sorted(rows, key=order)
