"""the effects runs' evidence: each action's effect with its interval, by segment

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03

Issue 17, item 5: `retention effects` writes one row per run (its time, dataset, horizon,
how many randomised outcomes, whether they were enough) with the evidence as JSON
(records.evidence.EffectEvidence); GET /v1/effects, the effects page and the KPIs read the
newest.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "effect_evidence",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("dataset", sa.String(length=200), nullable=False),
        sa.Column("horizon_months", sa.Integer(), nullable=False),
        sa.Column("rows", sa.Integer(), nullable=False),
        sa.Column("estimable", sa.Boolean(), nullable=False),
        sa.Column("evidence", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_effect_evidence")),
    )


def downgrade() -> None:
    op.drop_table("effect_evidence")
