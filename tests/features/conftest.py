"""Fixtures for feature tests: the session's simulated portfolio as a typed Dataset."""

from __future__ import annotations

import pytest

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationResult
from retention.features.catalogue import Catalogue, load_catalogue
from retention.features.sources import Tables


@pytest.fixture(scope="session")
def dataset(simulation: SimulationResult) -> Dataset:
    return Dataset(**simulation.tables)


@pytest.fixture(scope="session")
def tables(dataset: Dataset) -> Tables:
    return Tables(dataset)


@pytest.fixture(scope="session")
def catalogue() -> Catalogue:
    return load_catalogue()
