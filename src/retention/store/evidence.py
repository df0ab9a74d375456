"""The effects evidence in the store: written whole by `retention effects`, one row per run;
read by GET /v1/effects, the effects page and the KPIs (which never import training)."""

from __future__ import annotations

from sqlalchemy import Engine, Table, insert, select

from retention.records.evidence import EffectEvidence
from retention.store.tables import EffectEvidenceRun

EVIDENCE: Table = EffectEvidenceRun.__table__  # type: ignore[assignment]


def save_evidence(engine: Engine, evidence: EffectEvidence) -> int:
    """Store one run's evidence in one insert; returns its id."""
    with engine.begin() as connection:
        return int(
            connection.execute(
                insert(EVIDENCE)
                .values(
                    created_at=evidence.created_at.replace(tzinfo=None),
                    dataset=evidence.dataset[:200],
                    horizon_months=evidence.horizon_months,
                    rows=evidence.rows,
                    estimable=evidence.estimable,
                    evidence=evidence.model_dump_json(),
                )
                .returning(EVIDENCE.c.id)
            ).scalar_one()
        )


def latest_evidence(engine: Engine) -> EffectEvidence | None:
    """The newest run's evidence, or None before the first effects run."""
    query = select(EVIDENCE.c.evidence).order_by(EVIDENCE.c.id.desc()).limit(1)
    with engine.connect() as connection:
        text = connection.execute(query).scalar_one_or_none()
    return None if text is None else EffectEvidence.model_validate_json(text)
