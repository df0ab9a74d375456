"""Training on a Dask cluster's training set against one process: the same rows, the same
model metrics; and `retention train --scheduler` end to end."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from retention.cli import app
from retention.data.partitioned import write_partitioned
from retention.data.simulator import SimulationResult
from retention.features.distributed import cluster_client
from retention.model.registry import configure, latest_version
from retention.training.config import TrainingConfig
from retention.training.pipeline import fit_evaluate_log
from retention.training.rows import rows_from_dataset

runner = CliRunner()


@pytest.fixture(scope="module")
def parted(simulation: SimulationResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("parted-training") / "dataset"
    write_partitioned(simulation.tables, folder, 3)
    return folder


@pytest.fixture
def own_tracking(tmp_path: Path, tracking_uri: str) -> Iterator[str]:
    """An MLflow store of this test's own (the session's registry keeps its versions)."""
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    yield uri
    configure(tracking_uri)


def test_the_cluster_training_set_fits_the_same_model(
    parted: Path, fast_config: TrainingConfig, own_tracking: str
) -> None:
    single = rows_from_dataset(parted, fast_config)
    with cluster_client(local_workers=2, processes=False) as client:
        spread = rows_from_dataset(parted, fast_config, client)
    pd.testing.assert_frame_equal(spread.frame, single.frame)
    assert spread.description == single.description
    assert (spread.features, spread.categorical) == (single.features, single.categorical)
    one = fit_evaluate_log(single, fast_config, 50, own_tracking, "single")
    two = fit_evaluate_log(spread, fast_config, 50, own_tracking, "cluster")
    assert one.version != two.version and one.rounds == two.rounds
    assert one.metrics.keys() == two.metrics.keys()
    for scorer, values in one.metrics.items():
        assert two.metrics[scorer] == pytest.approx(values, abs=1e-9), scorer
    assert one.metrics["model"]["roc_auc"] > 0.7  # a real model, not an empty one


def test_a_capped_training_set_is_the_same_sample_of_accounts_on_both_paths(
    parted: Path, fast_config: TrainingConfig
) -> None:
    # given a cap of half the rows the training set has
    whole = rows_from_dataset(parted, fast_config)
    cap = len(whole.frame) // 2
    capped = fast_config.model_copy(update={"max_training_rows": cap})
    # when both paths build the training rows under it
    single = rows_from_dataset(parted, capped)
    with cluster_client(local_workers=2, processes=False) as client:
        spread = rows_from_dataset(parted, capped, client)
    # then the same accounts are kept, whole, and the share is recorded with the run
    pd.testing.assert_frame_equal(spread.frame, single.frame)
    kept = set(single.frame["customer_id"])
    assert 0.3 < len(kept) / whole.frame["customer_id"].nunique() < 0.5
    assert len(single.frame) < 0.5 * len(whole.frame)
    assert 0.3 < float(single.description["sampled_accounts_share"]) < 0.5
    assert whole.description["sampled_accounts_share"] == "1.0000"


def test_train_runs_on_a_cluster_from_the_cli(
    parted: Path, tmp_path: Path, own_tracking: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import LocalCluster

    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", own_tracking)
    monkeypatch.setenv("RETENTION_WORK_DIR", str(tmp_path))
    config = tmp_path / "fast.yaml"
    config.write_text(
        "name: tests\nlightgbm:\n  learning_rate: 0.08\n  max_rounds: 600\n"
        "  early_stopping_rounds: 60\n",
        encoding="utf-8",
    )
    with LocalCluster(
        n_workers=2, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        args = ["train", str(parted), "--config", str(config)]
        result = runner.invoke(app, [*args, "--scheduler", cluster.scheduler_address])
    assert result.exit_code == 0, result.output
    assert "AUC" in result.output
    configure(own_tracking)
    assert latest_version() is not None
    refused = runner.invoke(app, ["train", str(tmp_path), "--local-cluster", "1"])
    assert refused.exit_code == 2 and "partitioned" in refused.output
