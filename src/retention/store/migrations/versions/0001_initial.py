"""initial schema: batches, scores, reasons, actions, peer medians, users, api keys, follow-ups

Revision ID: 0001
Revises:
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scoring_batches",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("snapshot_date", sa.Date(), nullable=False),
        sa.Column("scored_on", sa.Date(), nullable=False),
        sa.Column("model_name", sa.String(length=100), nullable=False),
        sa.Column("model_version", sa.String(length=20), nullable=False),
        sa.Column("capacity", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("accounts", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("completed_at", sa.DateTime(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scoring_batches")),
    )
    with op.batch_alter_table("scoring_batches", schema=None) as batch_op:
        batch_op.create_index("ix_scoring_batches_status_id", ["status", "id"], unique=False)

    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_users")),
        sa.UniqueConstraint("username", name=op.f("uq_users_username")),
    )
    op.create_table(
        "actions",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("code", sa.String(length=40), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("text_zh", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.Column("role", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=False),
        sa.Column("owner_zh", sa.String(length=100), nullable=False),
        sa.Column("owner_en", sa.String(length=100), nullable=False),
        sa.Column("due_date", sa.Date(), nullable=False),
        sa.Column("due_working_days", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["scoring_batches.id"],
            name=op.f("fk_actions_batch_id_scoring_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "customer_id", "code", name=op.f("pk_actions")),
    )
    op.create_table(
        "api_keys",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("key_hash", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("revoked_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_api_keys_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_api_keys")),
        sa.UniqueConstraint("key_hash", name=op.f("uq_api_keys_key_hash")),
    )
    op.create_table(
        "peer_medians",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("industry_code", sa.String(length=16), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("median", sa.Double(), nullable=True),
        sa.Column("peers", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["scoring_batches.id"],
            name=op.f("fk_peer_medians_batch_id_scoring_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "batch_id", "industry_code", "feature", name=op.f("pk_peer_medians")
        ),
    )
    op.create_table(
        "reasons",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("group", sa.String(length=32), nullable=False),
        sa.Column("contribution", sa.Double(), nullable=False),
        sa.Column("feature", sa.String(length=64), nullable=False),
        sa.Column("value_number", sa.Double(), nullable=True),
        sa.Column("value_text", sa.String(length=100), nullable=True),
        sa.Column("text_zh", sa.Text(), nullable=False),
        sa.Column("text_en", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["scoring_batches.id"],
            name=op.f("fk_reasons_batch_id_scoring_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "customer_id", "rank", name=op.f("pk_reasons")),
    )
    op.create_table(
        "scores",
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=True),
        sa.Column("band", sa.String(length=8), nullable=False),
        sa.Column("probability", sa.Double(), nullable=True),
        sa.Column("expected_revenue_cny", sa.Double(), nullable=True),
        sa.Column("money_at_risk_cny", sa.Double(), nullable=True),
        sa.Column("customer_name", sa.String(length=200), nullable=True),
        sa.Column("industry_code", sa.String(length=16), nullable=True),
        sa.Column("region", sa.String(length=100), nullable=True),
        sa.Column("account_manager_id", sa.String(length=64), nullable=True),
        sa.Column("contract_capacity_kva", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["scoring_batches.id"],
            name=op.f("fk_scores_batch_id_scoring_batches"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("batch_id", "customer_id", name=op.f("pk_scores")),
    )
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.create_index("ix_scores_batch_rank", ["batch_id", "rank"], unique=False)

    op.create_table(
        "follow_ups",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("customer_id", sa.String(length=64), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("action_code", sa.String(length=40), nullable=False),
        sa.Column("owner", sa.String(length=64), nullable=True),
        sa.Column("due_date", sa.Date(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("contacted_at", sa.DateTime(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.Column("created_by", sa.Integer(), nullable=True),
        sa.Column("idempotency_key", sa.String(length=160), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(
            ["batch_id"],
            ["scoring_batches.id"],
            name=op.f("fk_follow_ups_batch_id_scoring_batches"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"],
            ["api_keys.id"],
            name=op.f("fk_follow_ups_created_by_api_keys"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_follow_ups")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_follow_ups_idempotency_key")),
    )
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_follow_ups_customer_id"), ["customer_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_follow_ups_owner"), ["owner"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("follow_ups", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_follow_ups_owner"))
        batch_op.drop_index(batch_op.f("ix_follow_ups_customer_id"))

    op.drop_table("follow_ups")
    with op.batch_alter_table("scores", schema=None) as batch_op:
        batch_op.drop_index("ix_scores_batch_rank")

    op.drop_table("scores")
    op.drop_table("reasons")
    op.drop_table("peer_medians")
    op.drop_table("api_keys")
    op.drop_table("actions")
    op.drop_table("users")
    with op.batch_alter_table("scoring_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_scoring_batches_status_id")

    op.drop_table("scoring_batches")
