"""Session-wide fixtures: one small simulated portfolio shared by every test that needs data."""

from __future__ import annotations

from pathlib import Path

import pytest

from retention.data.simulator import SimulationConfig, SimulationResult, simulate, write_result

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
