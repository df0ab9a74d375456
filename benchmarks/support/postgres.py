"""A fresh PostgreSQL schema for the benchmarks that measure the PostgreSQL store."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import create_engine, make_url, text


@contextmanager
def fresh_schema(postgres: str | None, prefix: str = "bench") -> Iterator[str | None]:
    """An empty schema of the PostgreSQL at `postgres` (dropped after), or None: SQLite."""
    if postgres is None:
        yield None
        return
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(make_url(postgres))
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{postgres}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()
