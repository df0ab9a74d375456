"""Session-wide fixtures: one small simulated portfolio, and one small model trained on it
(tracked in a temporary MLflow store), shared by every test that needs them."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from retention.data.dataset import Dataset
from retention.data.partitioned import write_partitioned
from retention.data.simulator import SimulationConfig, SimulationResult, simulate, write_result
from retention.features.catalogue import load_catalogue
from retention.features.distributed import cluster_client
from retention.model.registry import MODEL_NAME, configure, load_version
from retention.records.batch import ScoredList
from retention.scoring.batch import score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook
from retention.serving.model import ServingModel
from retention.store.batches import save_batch
from retention.store.database import open_store
from retention.store.keys import create_key
from retention.tariffs.tables import load_tariffs
from retention.training.config import LightGBMConfig, TrainingConfig
from retention.training.pipeline import TrainingRows, TrainResult, fit_evaluate_log
from retention.training.promotion import promote
from retention.training.rows import rows_from_dataset

SMALL = SimulationConfig(accounts=1500, months=36, start="2023-11", seed=7)


@pytest.fixture(scope="session")
def simulation() -> SimulationResult:
    """A small simulated portfolio in memory (about a second to make)."""
    return simulate(SMALL)


@pytest.fixture(scope="session")
def simulated_dir(simulation: SimulationResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The same portfolio written as a Parquet dataset folder, with its _truth/."""
    folder = tmp_path_factory.mktemp("simulated") / "dataset"
    write_result(simulation, folder, fmt="parquet")
    return folder


# Faster than training/default.yaml, same shape: the tests check behaviour, the benchmark quality.
FAST = TrainingConfig(
    name="tests",
    lightgbm=LightGBMConfig(learning_rate=0.08, max_rounds=600, early_stopping_rounds=60),
)


@pytest.fixture(scope="session")
def fast_config() -> TrainingConfig:
    return FAST


@pytest.fixture(scope="session")
def tracking_uri(tmp_path_factory: pytest.TempPathFactory) -> str:
    uri = f"sqlite:///{tmp_path_factory.mktemp('mlruns') / 'mlflow.db'}"
    configure(uri)
    return uri


@pytest.fixture(scope="session")
def training_rows(simulated_dir: Path) -> TrainingRows:
    return rows_from_dataset(simulated_dir, FAST)


@pytest.fixture(scope="session")
def trained(training_rows: TrainingRows, tracking_uri: str) -> TrainResult:
    return fit_evaluate_log(
        training_rows, FAST, capacity=50, tracking_uri=tracking_uri, run_name="tests"
    )


@pytest.fixture(scope="session")
def champion(trained: TrainResult) -> str:
    """The tests' model as champion (tests that move the alias put it back)."""
    promote(trained.version, force=True)
    return trained.version


@pytest.fixture(scope="session")
def score_portfolio(
    trained: TrainResult, simulation: SimulationResult
) -> Callable[..., ScoredList]:
    """The small portfolio scored at the month after its data by the tests' model, team
    capacity 40, with more of `score_snapshot`'s options (effects, list mode) where given."""

    def score(**options: Any) -> ScoredList:
        return score_snapshot(
            Dataset(**simulation.tables),
            load_version(trained.version),
            load_catalogue(),
            load_playbook(),
            WorkingCalendar(),
            capacity=40,
            tariffs=load_tariffs(),
            **options,
        )

    return score


@pytest.fixture(scope="session")
def scored(score_portfolio: Callable[..., ScoredList]) -> ScoredList:
    """The small portfolio scored at the month after its data, team capacity 40."""
    return score_portfolio()


@pytest.fixture(scope="session")
def served_model(trained: TrainResult) -> ServingModel:
    """The tests' model as the server holds it."""
    return ServingModel(MODEL_NAME, trained.version, load_version(trained.version))


@pytest.fixture(scope="session")
def stocked(scored: ScoredList, trained: TrainResult):  # type: ignore[no-untyped-def]
    """stocked(url, *roles): the store at `url` (migrated) holding the tests' batch and an
    API key per role; returns role -> key."""

    def stock(url: str, *roles: str) -> dict[str, str]:
        engine = open_store(url)
        save_batch(engine, scored, MODEL_NAME, trained.version, 40, dt.date(2026, 11, 30))
        keys = {role: create_key(engine, role, f"tests-{role}")[0] for role in roles}
        engine.dispose()
        return keys

    return stock


POSTGRES = os.environ.get(
    "RETENTION_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def _postgres_schema() -> Iterator[str]:
    """A fresh schema in the PostgreSQL at 127.0.0.1:5432 (database test), dropped after."""
    schema = f"retention_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES)
    with admin.begin() as connection:
        connection.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_schema():  # type: ignore[no-untyped-def]
    """A context manager giving a URL to a fresh PostgreSQL schema, for wider scopes."""
    return _postgres_schema


@pytest.fixture
def postgres_url() -> Iterator[str]:
    with _postgres_schema() as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty store: a SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
    else:
        with _postgres_schema() as url:
            yield url


@contextmanager
def _running(app) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """The app on a real uvicorn server on 127.0.0.1, in a thread; yields its base URL."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the server did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def running():  # type: ignore[no-untyped-def]
    """running(app): a context manager serving the app on 127.0.0.1 (yields the base URL)."""
    return _running


# A watch run of the connection applications from a few rows: each row names only what a test
# is about; the rest are the defaults below (see retention.records.applications).
APPLICATION_ROW: dict[str, object] = {
    "application_type": "new_connection",
    "unit": "unit-01",
    "owner_id": "AM0001",
    "channel": "service_hall",
    "voltage_kv": 10.0,
    "requested_capacity_kva": 800.0,
    "supply_type": "single",
    "accepted_at": dt.datetime(2026, 11, 2, 9, 30),
    "customer_id": None,
    "working_days_open": 20,
    "steps_overdue": 0,
    "worst_overdue_working_days": 0,
    "next_due_step": None,
    "next_due_date": None,
    "document_requests": 0,
    "withdrawal_probability": 0.1,
    "revenue_at_stake_cny": 100_000.0,
    "money_at_stake_cny": 10_000.0,
}
CLOCK_ROW: dict[str, object] = {
    "owner_role": "connection_team",
    "limit_working_days": 15,
    "clock_start": dt.date(2026, 11, 2),
    "due_date": dt.date(2026, 11, 23),
    "finished_date": None,
    "state": "running",
    "working_days_left": 5,
    "overdue_working_days": None,
    "late_working_days": None,
}
ACTION_ROW: dict[str, object] = {
    "position": 1,
    "code": "chase_supply_plan",
    "text_zh": "催办供电方案答复",
    "text_en": "chase the supply plan reply",
    "role": "connection_team",
    "owner_zh": "业扩报装班组",
    "owner_en": "connection (业扩) team",
    "due_date": dt.date(2026, 12, 4),
    "due_working_days": 2,
}
KPI_ROW: dict[str, object] = {
    "dimension": "overall",
    "key": "all",
    "archived": 10,
    "archived_on_time": 8,
    "on_time_share": 0.8,
    "median_working_days_to_energise": 30.0,
    "p90_working_days_to_energise": 45.0,
    "open_now": 3,
    "open_overdue_now": 1,
    "withdrawn": 1,
    "withdrawn_capacity_kva": 630.0,
    "withdrawn_revenue_cny": 80_000.0,
}


def watch_run(
    applications: list[dict[str, object]],
    clocks: list[dict[str, object]] = (),  # type: ignore[assignment]
    actions: list[dict[str, object]] = (),  # type: ignore[assignment]
    kpis: list[dict[str, object]] = ({},),  # type: ignore[assignment]
    as_of: dt.date = dt.date(2026, 12, 2),
    model_version: str | None = "3",
):  # type: ignore[no-untyped-def]
    """A WatchRun whose frames have the record's columns (ranks in the given order unless
    a row names its own); clocks, actions and KPI rows take the defaults above."""
    import pandas as pd

    from retention.records.applications import (
        APPLICATION_ACTION_COLUMNS,
        APPLICATION_COLUMNS,
        CLOCK_COLUMNS,
        KPI_COLUMNS,
        WatchRun,
    )

    def frame(rows, defaults, columns):  # type: ignore[no-untyped-def]
        return pd.DataFrame([defaults | row for row in rows], columns=columns)

    ranked = [{"rank": i + 1} | row for i, row in enumerate(applications)]
    return WatchRun(
        as_of=as_of,
        period_start=as_of.replace(day=1),
        period_end=as_of,
        model_version=model_version,
        applications=frame(ranked, APPLICATION_ROW, APPLICATION_COLUMNS),
        clocks=frame(list(clocks), CLOCK_ROW, CLOCK_COLUMNS),
        actions=frame(list(actions), ACTION_ROW, APPLICATION_ACTION_COLUMNS),
        kpis=frame(list(kpis), KPI_ROW, KPI_COLUMNS),
    )


@pytest.fixture(scope="session")
def make_watch_run():  # type: ignore[no-untyped-def]
    """make_watch_run(applications, clocks, actions, kpis, as_of=...): a small WatchRun."""
    return watch_run


@pytest.fixture(scope="module")
def partitioned_dir(simulation: SimulationResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's portfolio as a partitioned dataset of 4 parts (the Dask jobs' input)."""
    folder = tmp_path_factory.mktemp("partitioned") / "dataset"
    write_partitioned(simulation.tables, folder, 4)
    return folder


@pytest.fixture(scope="module")
def dask_client() -> Iterator[object]:
    """A LocalCluster of 2 threaded workers in this process, for one test module."""
    with cluster_client(local_workers=2, processes=False) as client:
        yield client
