"""assignments: each batch's randomised window at the capacity edge

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03

Issue 17, item 2: the accounts just above and below the team's cut are followed up or held
out as the control group at random (scoring/assignment.py); each keeps its assignment, its
action, its probability (propensity), the draw and the batch's seed, so the outcomes can be
compared without bias and the draw audited. Deleted with its batch.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "assignments",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("assignment", sa.String(length=16), nullable=False),
        sa.Column("action_code", sa.String(length=40), nullable=False),
        sa.Column("follow_up_probability", sa.Double(), nullable=False),
        sa.Column("action_probability", sa.Double(), nullable=True),
        sa.Column("assignment_probability", sa.Double(), nullable=False),
        sa.Column("draw", sa.Double(), nullable=False),
        sa.Column("seed", sa.BigInteger(), nullable=False),
        sa.CheckConstraint(
            "assignment IN ('followed_up', 'held_out')", name=op.f("ck_assignments_assignment")
        ),
        sa.CheckConstraint(
            "assignment_probability > 0 AND assignment_probability <= 1",
            name=op.f("ck_assignments_propensity"),
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["scoring_batches.id"],
            name=op.f("fk_assignments_batch_id_scoring_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "customer_id", name=op.f("pk_assignments")),
    )


def downgrade() -> None:
    op.drop_table("assignments")
