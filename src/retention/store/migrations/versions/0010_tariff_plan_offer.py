"""actions keep the tariff_plan action's computed best plan, saving and alternatives

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-03

Issue 19: the `tariff_plan` action carries the plan the tariff tables say would have cost
least over the last 12 months (`plan_code`), what it would have saved (`saving_cny`) and every
plan's bill with the recomputed-versus-billed check (`plan_detail`, JSON text). Nullable: other
actions, batches scored before, and accounts the tables cannot price have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("plan_code", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("saving_cny", sa.Double(), nullable=True))
        batch_op.add_column(sa.Column("plan_detail", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("actions", schema=None) as batch_op:
        batch_op.drop_column("plan_detail")
        batch_op.drop_column("saving_cny")
        batch_op.drop_column("plan_code")
