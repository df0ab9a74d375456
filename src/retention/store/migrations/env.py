"""Alembic environment: runs on the connection `retention.store.database.migrate` hands over."""

from __future__ import annotations

from alembic import context

from retention.store.tables import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite alters tables by copying them
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
