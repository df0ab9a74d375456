"""The chunked simulator: a portfolio simulated chunk by chunk straight into partition files
is a valid partitioned dataset with the portfolio's own ids, and the same from the same seed."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from retention.cli import app
from retention.data.loading import validate_partitioned
from retention.data.simulator import TRUTH_DIR, SimulationConfig, SimulationSummary
from retention.data.simulator.campaigns import CampaignPolicy
from retention.data.simulator.chunked import chunk_sizes, simulate_partitioned

ACCOUNTS, CHUNK, PARTS = 300, 110, 3
runner = CliRunner()


@pytest.fixture(scope="module")
def chunked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SimulationSummary]:
    folder = tmp_path_factory.mktemp("chunked") / "dataset"
    config = SimulationConfig(accounts=ACCOUNTS, seed=5, campaigns=CampaignPolicy())
    return folder, simulate_partitioned(config, folder, PARTS, chunk_accounts=CHUNK)


def test_chunks_are_as_even_as_possible_and_none_above_the_size() -> None:
    assert chunk_sizes(300, 110) == [100, 100, 100]
    assert chunk_sizes(25, 10) == [9, 8, 8]
    assert chunk_sizes(10, 50) == [10]
    with pytest.raises(ValueError, match="at least 10"):
        chunk_sizes(100, 9)


def test_a_chunked_portfolio_is_a_valid_partitioned_dataset(
    chunked: tuple[Path, SimulationSummary],
) -> None:
    # given a portfolio simulated in three chunks with campaigns
    folder, summary = chunked
    # when the partitioned dataset is validated partition by partition
    report = validate_partitioned(folder)
    # then it passes, with every account and every table's rows the summary counted
    assert report.ok, [p.to_dict() for p in report.problems]
    assert not report.warnings
    assert report.dataset is not None
    for name, count in summary.rows.items():
        frame = report.dataset.table(name)
        assert frame is not None and len(frame) == count, name
    assert summary.rows["customers"] == ACCOUNTS
    assert len(list((folder / "customers").glob("part-*.parquet"))) == PARTS


@pytest.mark.parametrize(
    ("table", "column"),
    [
        ("customers", "customer_id"),
        ("service_tickets", "ticket_id"),
        ("work_orders", "order_id"),
        ("interventions", "intervention_id"),
        ("applications", "application_id"),
    ],
)
def test_ids_are_the_portfolios_not_repeated_across_chunks(
    chunked: tuple[Path, SimulationSummary], table: str, column: str
) -> None:
    folder, _ = chunked
    ids = pd.read_parquet(folder / table, columns=[column])[column]
    assert len(ids) > 0 and ids.is_unique


def test_the_truth_names_the_datasets_accounts(chunked: tuple[Path, SimulationSummary]) -> None:
    folder, summary = chunked
    accounts = set(pd.read_parquet(folder / "customers", columns=["customer_id"])["customer_id"])
    truth = pd.read_parquet(folder / TRUTH_DIR / "accounts.parquet")
    oracle = pd.read_parquet(folder / TRUTH_DIR / "churn_probability.parquet")
    assert set(truth["customer_id"]) == accounts
    assert set(oracle["customer_id"]) <= accounts
    assert summary.churn_rate_6m == pytest.approx(oracle["probability"].mean())


def test_the_same_seed_and_chunk_size_give_the_same_dataset(tmp_path: Path) -> None:
    config = SimulationConfig(accounts=40, months=14, seed=11)
    for name in ("a", "b"):
        simulate_partitioned(config, tmp_path / name, 2, chunk_accounts=20)
    for table in ("customers", "monthly_usage", "service_tickets"):
        for part in ("part-00000.parquet", "part-00001.parquet"):
            pd.testing.assert_frame_equal(
                pd.read_parquet(tmp_path / "a" / table / part),
                pd.read_parquet(tmp_path / "b" / table / part),
            )


@settings(
    max_examples=6,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    seed=st.integers(0, 2**32 - 1),
    accounts=st.integers(20, 80),
    chunk=st.integers(10, 40),
    parts=st.integers(1, 4),
    months=st.integers(13, 24),
)
def test_every_chunked_dataset_passes_the_contract(
    tmp_path_factory: pytest.TempPathFactory,
    seed: int,
    accounts: int,
    chunk: int,
    parts: int,
    months: int,
) -> None:
    """Any seed, size, chunk size and partition count gives a dataset its contract accepts."""
    folder = tmp_path_factory.mktemp("any") / "dataset"
    config = SimulationConfig(accounts=accounts, months=months, seed=seed)
    simulate_partitioned(config, folder, parts, chunk_accounts=chunk)
    report = validate_partitioned(folder, keep=False)
    assert report.ok, [p.to_dict() for p in report.problems]
    assert not report.warnings


def test_simulate_chunk_accounts_needs_partitions(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["simulate", "--out", str(tmp_path / "x"), "--chunk-accounts", "20"]
    )
    assert result.exit_code == 2 and "--partitions" in result.output
    assert not (tmp_path / "x").exists()


def test_simulate_chunk_accounts_writes_a_partitioned_dataset(tmp_path: Path) -> None:
    out = tmp_path / "x"
    args = ["simulate", "--out", str(out), "--accounts", "30", "--months", "13"]
    result = runner.invoke(app, [*args, "--partitions", "2", "--chunk-accounts", "15"])
    assert result.exit_code == 0, result.output
    assert validate_partitioned(out, keep=False).ok
