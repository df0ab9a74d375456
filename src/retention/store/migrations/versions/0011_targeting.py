"""batches keep what ranked the list and each account's expected effect of each action

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03

Issue 17, item 4 (targeting): a batch records its list mode (`money_at_risk` or
`money_saved`), why (Chinese first) and the effect model's version; each score its best
eligible action with the churn it averts and the money it saves; `expected_effects` holds
every eligible action's estimate. Nullable: batches scored before, and batches without an
effect model with enough evidence, have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scoring_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("list_mode", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("list_reason", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("effects_version", sa.String(length=20), nullable=True))
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("best_action", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("churn_averted", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("money_saved_cny", sa.Double(), nullable=True))
    op.create_table(
        "expected_effects",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("churn_averted", sa.Double(), nullable=False),
        sa.Column("money_saved_cny", sa.Double(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["scoring_batches.id"],
            name=op.f("fk_expected_effects_batch_id_scoring_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "batch_id", "customer_id", "code", name=op.f("pk_expected_effects")
        ),
    )


def downgrade() -> None:
    op.drop_table("expected_effects")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_column("money_saved_cny")
        batch_op.drop_column("churn_averted")
        batch_op.drop_column("best_action")
    with op.batch_alter_table("scoring_batches", schema=None) as batch_op:
        batch_op.drop_column("effects_version")
        batch_op.drop_column("list_reason")
        batch_op.drop_column("list_mode")
