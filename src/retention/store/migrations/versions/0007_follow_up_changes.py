"""the history of every follow-up: who changed what when, before and after, append-only

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

REFUSE = "follow_up_changes is append-only: its entries are never changed or deleted"


def upgrade() -> None:
    op.create_table(
        "follow_up_changes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("follow_up_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("changed_at", sa.DateTime(), nullable=False),
        sa.Column("change", sa.String(length=16), nullable=False),
        sa.Column("changed_by", sa.Integer(), nullable=True),
        sa.Column("changed_by_user", sa.Integer(), nullable=True),
        sa.Column("changed_by_name", sa.String(length=200), nullable=True),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["follow_up_id"],
            ["follow_ups.id"],
            name=op.f("fk_follow_up_changes_follow_up_id_follow_ups"),
            ondelete="RESTRICT",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_up_changes")),
    )
    with op.batch_alter_table("follow_up_changes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_follow_up_changes_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_follow_up_changes_follow_up_id"), ["follow_up_id"], unique=False
        )
    # The database itself refuses to change or delete an entry, whatever code runs against it.
    # (A later SQLite migration that copies this table must create these triggers again.)
    if op.get_bind().dialect.name == "sqlite":
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER follow_up_changes_no_{event.lower()} BEFORE {event} "
                f"ON follow_up_changes BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END"
            )
    else:
        op.execute(
            "CREATE FUNCTION follow_up_changes_append_only() RETURNS trigger LANGUAGE plpgsql "
            f"AS $$ BEGIN RAISE EXCEPTION '{REFUSE}'; END $$"
        )
        op.execute(
            "CREATE TRIGGER follow_up_changes_append_only BEFORE UPDATE OR DELETE "
            "ON follow_up_changes FOR EACH ROW EXECUTE FUNCTION follow_up_changes_append_only()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for event in ("update", "delete"):
            op.execute(f"DROP TRIGGER follow_up_changes_no_{event}")
    else:
        op.execute("DROP TRIGGER follow_up_changes_append_only ON follow_up_changes")
        op.execute("DROP FUNCTION follow_up_changes_append_only()")
    with op.batch_alter_table("follow_up_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_up_changes_follow_up_id"))
        batch_op.drop_index(batch_op.f("ix_follow_up_changes_customer_id"))
    op.drop_table("follow_up_changes")
