"""monitoring reports: the drift and realised-churn summary of a batch, and the retrain signal

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monitoring_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("model_version", sa.String(length=20), nullable=False),
        sa.Column("retrain_recommended", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["scoring_batches.id"],
            name=op.f("fk_monitoring_reports_batch_id_scoring_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_monitoring_reports")),
    )
    with op.batch_alter_table("monitoring_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_monitoring_reports_batch_id"), ["batch_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("monitoring_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_monitoring_reports_batch_id"))
    op.drop_table("monitoring_reports")
