"""assignments.complied: a held-out account followed up all the same

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-03

Issue 17's leftovers: an account held out as the control group (对照组) has no follow-up due,
but the team may log one anyway (a manager who did not read the page, a call the customer
made). The follow-up is stored; its assignment is marked as not complied with, so the API,
the page and the export can say so. Existing assignments were complied with as far as the
store knows (true).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.add_column(sa.Column("complied", sa.Boolean(), nullable=False, server_default="1"))


def downgrade() -> None:
    with op.batch_alter_table("assignments") as batch_op:
        batch_op.drop_column("complied")
