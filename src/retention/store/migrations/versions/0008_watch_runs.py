"""the connection applications' watch runs (业扩报装), and follow-ups of an application

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02

A follow-up is of an account or of an application: follow_ups.customer_id becomes nullable,
follow_ups.application_id and watch_run_id are added, and a check keeps exactly one of
customer_id and application_id set. The history (follow_up_changes) names either too.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

REFUSE = "follow_up_changes is append-only: its entries are never changed or deleted"
ONE_SUBJECT = "(customer_id IS NULL) <> (application_id IS NULL)"


def _run_key(table: str) -> list[Any]:
    return [
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["watch_runs.id"], name=f"fk_{table}_run_id_watch_runs", ondelete="CASCADE"
        ),
    ]


def upgrade() -> None:
    op.create_table(
        "watch_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("as_of", sa.Date(), nullable=False),
        sa.Column("period_start", sa.Date(), nullable=False),
        sa.Column("period_end", sa.Date(), nullable=False),
        sa.Column("model_version", sa.String(length=20), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("applications", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_watch_runs")),
    )
    op.create_index("ix_watch_runs_status_id", "watch_runs", ["status", "id"], unique=False)
    op.create_table(
        "watched_applications",
        *_run_key("watched_applications"),
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("application_type", sa.String(length=32), nullable=False),
        sa.Column("unit", sa.String(length=100), nullable=False),
        sa.Column("owner_id", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=32), nullable=False),
        sa.Column("voltage_kv", sa.Double(), nullable=False),
        sa.Column("requested_capacity_kva", sa.Double(), nullable=False),
        sa.Column("supply_type", sa.String(length=16), nullable=False),
        sa.Column("accepted_at", sa.DateTime(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=True),
        sa.Column("working_days_open", sa.Integer(), nullable=False),
        sa.Column("steps_overdue", sa.Integer(), nullable=False),
        sa.Column("worst_overdue_working_days", sa.Integer(), nullable=False),
        sa.Column("next_due_step", sa.String(length=40), nullable=True),
        sa.Column("next_due_date", sa.Date(), nullable=True),
        sa.Column("document_requests", sa.Integer(), nullable=False),
        sa.Column("withdrawal_probability", sa.Double(), nullable=True),
        sa.Column("revenue_at_stake_cny", sa.Double(), nullable=False),
        sa.Column("money_at_stake_cny", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("run_id", "application_id", name=op.f("pk_watched_applications")),
    )
    for name, columns in (
        ("ix_watched_applications_run_rank", ["run_id", "rank"]),
        ("ix_watched_applications_run_unit", ["run_id", "unit"]),
        ("ix_watched_applications_run_owner", ["run_id", "owner_id"]),
    ):
        op.create_index(name, "watched_applications", columns, unique=False)
    op.create_table(
        "application_clocks",
        *_run_key("application_clocks"),
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("step_code", sa.String(length=40), nullable=False),
        sa.Column("owner_role", sa.String(length=40), nullable=False),
        sa.Column("limit_working_days", sa.Integer(), nullable=False),
        sa.Column("clock_start", sa.Date(), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("finished_date", sa.Date(), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("working_days_left", sa.Integer(), nullable=True),
        sa.Column("overdue_working_days", sa.Integer(), nullable=True),
        sa.Column("late_working_days", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint(
            "run_id", "application_id", "step_code", name=op.f("pk_application_clocks")
        ),
    )
    op.create_index(
        "ix_application_clocks_run_step_state",
        "application_clocks",
        ["run_id", "step_code", "state"],
        unique=False,
    )
    op.create_table(
        "application_actions",
        *_run_key("application_actions"),
        sa.Column("application_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text_zh", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("owner_zh", sa.String(length=100), nullable=False),
        sa.Column("owner_en", sa.String(length=100), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("due_working_days", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint(
            "run_id", "application_id", "code", name=op.f("pk_application_actions")
        ),
    )
    op.create_table(
        "application_kpis",
        *_run_key("application_kpis"),
        sa.Column("dimension", sa.String(length=16), nullable=False),
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("archived", sa.Integer(), nullable=False),
        sa.Column("archived_on_time", sa.Integer(), nullable=False),
        sa.Column("on_time_share", sa.Double(), nullable=True),
        sa.Column("median_working_days_to_energise", sa.Double(), nullable=True),
        sa.Column("p90_working_days_to_energise", sa.Double(), nullable=True),
        sa.Column("open_now", sa.Integer(), nullable=False),
        sa.Column("open_overdue_now", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("withdrawn_capacity_kva", sa.Double(), nullable=False),
        sa.Column("withdrawn_revenue_cny", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("run_id", "dimension", "key", name=op.f("pk_application_kpis")),
    )
    _follow_ups_of_applications()


def _follow_ups_of_applications() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("application_id", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("watch_run_id", sa.Integer(), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_follow_ups_application_id"), ["application_id"], unique=False
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_follow_ups_watch_run_id_watch_runs"),
            "watch_runs",
            ["watch_run_id"],
            ["id"],
            ondelete="SET NULL",
        )
        batch_op.create_check_constraint("one_subject", ONE_SUBJECT)
    sqlite = op.get_bind().dialect.name == "sqlite"
    with op.batch_alter_table("follow_up_changes", schema=None) as batch_op:
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=True)
        batch_op.add_column(sa.Column("application_id", sa.String(length=64), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_follow_up_changes_application_id"), ["application_id"], unique=False
        )
    if sqlite:  # SQLite copied the table, and its triggers went with the old one (0007)
        _append_only_on_sqlite()


def _append_only_on_sqlite() -> None:
    for event in ("UPDATE", "DELETE"):
        op.execute(f"DROP TRIGGER IF EXISTS follow_up_changes_no_{event.lower()}")
        op.execute(
            f"CREATE TRIGGER follow_up_changes_no_{event.lower()} BEFORE {event} "
            f"ON follow_up_changes BEGIN SELECT RAISE(ABORT, '{REFUSE}'); END"
        )


def downgrade() -> None:
    # Application follow-ups have no account: they cannot be kept in the older schema.
    op.execute("DELETE FROM follow_up_changes WHERE application_id IS NOT NULL")
    with op.batch_alter_table("follow_up_changes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_up_changes_application_id"))
        batch_op.drop_column("application_id")
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=False)
    op.execute("DELETE FROM follow_ups WHERE application_id IS NOT NULL")
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_constraint("one_subject", type_="check")
        batch_op.drop_constraint(
            batch_op.f("fk_follow_ups_watch_run_id_watch_runs"), type_="foreignkey"
        )
        batch_op.drop_index(batch_op.f("ix_follow_ups_application_id"))
        batch_op.drop_column("watch_run_id")
        batch_op.drop_column("application_id")
        batch_op.alter_column("customer_id", existing_type=sa.String(length=64), nullable=False)
    if op.get_bind().dialect.name == "sqlite":
        _append_only_on_sqlite()
    for table in ("application_kpis", "application_actions", "application_clocks"):
        op.drop_table(table)
    op.drop_table("watched_applications")
    op.drop_index("ix_watch_runs_status_id", table_name="watch_runs")
    op.drop_table("watch_runs")
