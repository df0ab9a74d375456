"""Batches of the test portfolio monitored end to end: two stable months, a matured month, and
a month after a designed shift (a tariff reform), in one SQLite store."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationResult, simulate
from retention.data.simulator.scenarios import Scenario
from retention.monitoring.job import MonitorRun, run_monitoring
from retention.scoring.job import run_scoring
from retention.settings import Settings
from retention.store.database import open_store

# Large-industry prices 30% dearer from May 2026: the shift the monitor must flag.
REFORM = Scenario("tariff_reform", "2026-05", "large_industry", 0.3)


@dataclass
class Monitored:
    settings: Settings
    engine: Engine
    dataset: Dataset
    runs: dict[str, MonitorRun]  # stable-2026-10, stable-2026-11, matured, shifted


@pytest.fixture(scope="module")
def shifted(simulation: SimulationResult) -> SimulationResult:
    """The test portfolio with the reform: the same accounts and history until May 2026."""
    return simulate(dataclasses.replace(simulation.config, scenarios=(REFORM,)))


@pytest.fixture(scope="module")
def monitored(
    champion: str,
    simulation: SimulationResult,
    shifted: SimulationResult,
    tracking_uri: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Monitored:
    folder = tmp_path_factory.mktemp("monitoring")
    settings = Settings(work_dir=Path(folder), mlflow_tracking_uri=tracking_uri, capacity=40)
    engine = open_store(settings.store_url)
    stable = Dataset(**simulation.tables)
    reformed = Dataset(**shifted.tables)
    runs = {}
    for name, dataset, snapshot in (
        ("matured", stable, "2026-04-01"),
        ("stable-2026-10", stable, "2026-10-01"),
        ("stable-2026-11", stable, "2026-11-01"),
        ("shifted", reformed, "2026-11-01"),
    ):
        batch = run_scoring(settings, dataset, engine, snapshot=pd.Timestamp(snapshot)).batch
        runs[name] = run_monitoring(settings, dataset, engine, batch_id=batch.id)
    return Monitored(settings, engine, stable, runs)
