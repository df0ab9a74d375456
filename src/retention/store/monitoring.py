"""Monitoring summaries in the store: written by `retention monitor`, read by the API and the
model page (which never import Evidently)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, insert, select

from retention.records.monitoring import MonitoringSummary
from retention.store.tables import MonitoringReport, ScoringBatch, utc_now

REPORTS: Table = MonitoringReport.__table__  # type: ignore[assignment]
BATCHES: Table = ScoringBatch.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class StoredReport:
    id: int
    batch_id: int
    created_at: dt.datetime
    model_version: str
    retrain_recommended: bool
    summary: MonitoringSummary


def save_report(
    engine: Engine, batch_id: int, model_version: str, summary: MonitoringSummary
) -> int:
    """Store one monitoring run's summary; returns its id."""
    with engine.begin() as connection:
        return int(
            connection.execute(
                insert(REPORTS)
                .values(
                    batch_id=batch_id,
                    created_at=utc_now(),
                    model_version=str(model_version),
                    retrain_recommended=summary.retrain_recommended,
                    summary=summary.model_dump_json(),
                )
                .returning(REPORTS.c.id)
            ).scalar_one()
        )


def latest_report(engine: Engine, batch_id: int | None = None) -> StoredReport | None:
    """The newest summary of a batch, or of the monitored batch with the latest snapshot
    (a matured batch monitored later does not take the headline); None before the first
    monitor run."""
    query = (
        select(REPORTS)
        .join(BATCHES, BATCHES.c.id == REPORTS.c.batch_id)
        .order_by(BATCHES.c.snapshot_date.desc(), BATCHES.c.id.desc(), REPORTS.c.id.desc())
        .limit(1)
    )
    if batch_id is not None:
        query = query.where(REPORTS.c.batch_id == batch_id)
    return _read(engine, query)


def report_by_id(engine: Engine, report_id: int) -> StoredReport | None:
    return _read(engine, select(REPORTS).where(REPORTS.c.id == report_id))


def _read(engine: Engine, query: Any) -> StoredReport | None:
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    return None if row is None else _stored(row)


def _stored(row: Any) -> StoredReport:
    return StoredReport(
        id=row["id"],
        batch_id=row["batch_id"],
        created_at=row["created_at"],
        model_version=row["model_version"],
        retrain_recommended=bool(row["retrain_recommended"]),
        summary=MonitoringSummary.model_validate_json(row["summary"]),
    )


def report_history(engine: Engine, batches: int = 24) -> list[StoredReport]:
    """The newest summary of each of the latest `batches` monitored batches, the latest
    snapshot first: drift and, once matured, realised churn over time."""
    query = select(REPORTS).order_by(REPORTS.c.batch_id.desc(), REPORTS.c.id.desc())
    out: list[StoredReport] = []
    seen: set[int] = set()
    with engine.connect() as connection:
        for row in connection.execute(query).mappings():
            if row["batch_id"] in seen:
                continue
            seen.add(row["batch_id"])
            out.append(_stored(row))
            if len(out) == batches:
                break
    return sorted(out, key=lambda r: (r.summary.snapshot_date, r.batch_id), reverse=True)
