"""MLflow's local SQLite store (runs, the registry) is created its owner's only."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from retention.model.registry import configure


@pytest.fixture
def elsewhere(tracking_uri: str) -> Iterator[None]:
    """Point MLflow somewhere else for one test, with the usual umask (022), then back."""
    before = os.umask(0o022)
    yield
    os.umask(before)
    configure(tracking_uri)


@pytest.mark.usefixtures("elsewhere")
def test_a_new_tracking_store_is_its_owners_only(tmp_path: Path) -> None:
    db = tmp_path / "mlruns" / "mlflow.db"
    configure(f"sqlite:///{db}")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert db.stat().st_size > 0  # MLflow made its tables in the file created for it


@pytest.mark.usefixtures("elsewhere")
def test_an_existing_world_readable_tracking_store_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "mlflow.db"
    configure(f"sqlite:///{db}")
    db.chmod(0o644)
    configure(f"sqlite:///{db}")
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
