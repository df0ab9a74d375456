"""Opening the store and bringing its schema up to date (Alembic migrations, run in-process).

SQLite by default (a file under the work folder); PostgreSQL when RETENTION_DATABASE_URL says
so. Every job calls `open_store`, which migrates to the newest schema before anything reads.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url

from retention.private_files import private_file

MIGRATIONS = Path(__file__).parent / "migrations"


class StoreError(RuntimeError):
    """The store cannot be opened or is not at a schema this code knows."""


def engine_for(url: str) -> Engine:
    """An engine for the URL; SQLite gets WAL (readers never wait for a scoring job's write),
    enforced foreign keys and its parent folder."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql" and parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() != "sqlite":
        return create_engine(parsed, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        database = Path(parsed.database).expanduser()
        database.parent.mkdir(parents=True, exist_ok=True)
        private_file(database)  # password and API key hashes
    engine = create_engine(parsed, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    return engine


@contextmanager
def reading(bind: Engine | Connection) -> Iterator[Connection]:
    """A connection to read with: the one given (a request that reads several things asks
    for one connection, not one per query: on PostgreSQL each checkout is a round trip or
    two), or a new one from the engine."""
    if isinstance(bind, Connection):
        yield bind
    else:
        with bind.connect() as connection:
            yield connection


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def migrate(engine: Engine, revision: str = "head") -> None:
    """Upgrade the schema to `revision` (idempotent: nothing happens when it is there)."""
    config = _alembic_config()
    with engine.connect() as connection:
        sqlite = connection.dialect.name == "sqlite"
        if sqlite:
            # SQLite alters a table by copying it and dropping the old one, which the foreign
            # keys pointing at it refuse (0008 alters follow_ups); the pragma only works
            # outside a transaction, and the keys are checked before the migration commits.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, revision)
                if sqlite and connection.exec_driver_sql("PRAGMA foreign_key_check").first():
                    raise StoreError("the migration left rows whose foreign keys do not hold")
        finally:
            if sqlite:
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()


def open_store(url: str) -> Engine:
    """An engine on a store at the newest schema."""
    try:
        engine = engine_for(url)
    except OSError as err:  # a folder that cannot be created or written
        raise StoreError(f"cannot open the store at {safe_url(url)}: {err}") from err
    try:
        migrate(engine)
    except Exception as err:  # a server that is down, a read-only file, an unknown revision
        engine.dispose()
        raise StoreError(f"cannot open the store at {safe_url(url)}: {err}") from err
    return engine


def safe_url(url: str) -> str:
    """The URL without its password (URLs end up in messages and logs)."""
    return make_url(url).render_as_string(hide_password=True)
