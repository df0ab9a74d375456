"""A small simulated portfolio with past retention campaigns, shared by the effect tests."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from retention.data.checks import validate_tables
from retention.data.dataset import Dataset
from retention.data.simulator import SimulationConfig, SimulationResult, simulate, write_result
from retention.data.simulator.campaigns import CampaignPolicy

CAMPAIGNS = SimulationConfig(accounts=3000, months=36, seed=3, campaigns=CampaignPolicy())


@pytest.fixture(scope="session")
def campaign_simulation() -> SimulationResult:
    """3,000 accounts over three years with the default campaign policy (about 3 s)."""
    return simulate(CAMPAIGNS)


@pytest.fixture(scope="session")
def campaign_dataset(campaign_simulation: SimulationResult) -> Dataset:
    report = validate_tables(campaign_simulation.tables)
    assert report.dataset is not None, [p.to_dict() for p in report.problems]
    return report.dataset


@pytest.fixture(scope="session")
def campaign_dir(
    campaign_simulation: SimulationResult, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    """The same portfolio as a Parquet dataset folder, with its _truth/."""
    folder = tmp_path_factory.mktemp("campaigns") / "dataset"
    write_result(campaign_simulation, folder, fmt="parquet")
    return folder


@pytest.fixture(scope="session")
def campaign_rows(campaign_dataset: Dataset) -> pd.DataFrame:
    """The campaign portfolio's randomised assignments with matured outcomes (effects.py)."""
    from retention.training.effects import EffectsConfig, assignment_rows

    return assignment_rows(campaign_dataset, EffectsConfig())
