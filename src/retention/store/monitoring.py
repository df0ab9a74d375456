"""Monitoring summaries in the store: written by `retention monitor`, read by the API and the
model page (which never import Evidently)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, Table, insert, select

from retention.store.tables import MonitoringReport, utc_now

REPORTS: Table = MonitoringReport.__table__  # type: ignore[assignment]


@dataclass(frozen=True)
class StoredReport:
    id: int
    batch_id: int
    created_at: dt.datetime
    model_version: str
    retrain_recommended: bool
    summary: dict[str, Any]


def save_report(engine: Engine, batch_id: int, model_version: str, summary: dict[str, Any]) -> int:
    """Store one monitoring run's summary; returns its id."""
    with engine.begin() as connection:
        return int(
            connection.execute(
                insert(REPORTS)
                .values(
                    batch_id=batch_id,
                    created_at=utc_now(),
                    model_version=str(model_version),
                    retrain_recommended=bool(summary["retrain_recommended"]),
                    summary=json.dumps(summary, ensure_ascii=False, allow_nan=False),
                )
                .returning(REPORTS.c.id)
            ).scalar_one()
        )


def latest_report(engine: Engine, batch_id: int | None = None) -> StoredReport | None:
    """The newest summary (of one batch, or of any), or None before the first monitor run."""
    query = select(REPORTS).order_by(REPORTS.c.id.desc()).limit(1)
    if batch_id is not None:
        query = query.where(REPORTS.c.batch_id == batch_id)
    return _read(engine, query)


def report_by_id(engine: Engine, report_id: int) -> StoredReport | None:
    return _read(engine, select(REPORTS).where(REPORTS.c.id == report_id))


def _read(engine: Engine, query: Any) -> StoredReport | None:
    with engine.connect() as connection:
        row = connection.execute(query).mappings().first()
    if row is None:
        return None
    return StoredReport(
        id=row["id"],
        batch_id=row["batch_id"],
        created_at=row["created_at"],
        model_version=row["model_version"],
        retrain_recommended=bool(row["retrain_recommended"]),
        summary=json.loads(row["summary"]),
    )
