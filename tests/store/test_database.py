"""The store's SQLite file holds password and API key hashes: it is its owner's only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from retention.store.database import open_store
from retention.store.users import create_user


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The usual umask (022): files are created world-readable unless the code says not."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.mark.usefixtures("open_umask")
def test_a_new_store_and_its_wal_files_are_its_owners_only(tmp_path: Path) -> None:
    db = tmp_path / "var" / "retention.db"
    engine = open_store(f"sqlite:///{db}")
    create_user(engine, "wu", "wu-pass-1234", "retention")
    with engine.connect() as connection:  # an open connection keeps the -wal and -shm files
        connection.execute(text("SELECT 1"))
        files = [db, *(db.with_name(db.name + end) for end in ("-wal", "-shm"))]
        assert all(p.exists() for p in files)
        assert {p.name: mode(p) for p in files} == {p.name: 0o600 for p in files}
    engine.dispose()


@pytest.mark.usefixtures("open_umask")
def test_an_existing_world_readable_store_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "retention.db"
    open_store(f"sqlite:///{db}").dispose()
    db.chmod(0o644)
    wal = db.with_name(db.name + "-wal")
    wal.touch()
    wal.chmod(0o664)
    open_store(f"sqlite:///{db}").dispose()
    assert mode(db) == 0o600
    assert not wal.exists() or mode(wal) == 0o600
