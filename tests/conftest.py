"""Session-wide fixtures: one small simulated portfolio, and one small model trained on it
(tracked in a temporary MLflow store), shared by every test that needs them."""

from __future__ import annotations

from pathlib import Path

import pytest

from retention.data.simulator import SimulationConfig, SimulationResult, simulate, write_result
from retention.training.config import LightGBMConfig, TrainingConfig
from retention.training.pipeline import TrainingRows, TrainResult, fit_evaluate_log
from retention.training.registry import configure
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
