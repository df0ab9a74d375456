"""scores keep the probability of churn within 1 and 3 months; batches their model's horizon

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-03

Time to churn: beside `probability` (churn within the model's horizon), nullable
`probability_1m` and `probability_3m` from the model's timing models (None for batches
scored before, or by a model without them), and `scoring_batches.horizon_months`, so a
reader knows which horizon `probability` is (None for earlier batches).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("probability_1m", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("probability_3m", sa.Double(), nullable=True))
    with op.batch_alter_table("scoring_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("horizon_months", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("scoring_batches", schema=None) as batch_op:
        batch_op.drop_column("horizon_months")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_column("probability_3m")
        batch_op.drop_column("probability_1m")
