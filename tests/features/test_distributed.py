"""Features on a Dask cluster against the single-process path: every column identical."""

from __future__ import annotations

import shutil
import threading
import time
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from retention.cli import app
from retention.data.dataset import Dataset
from retention.data.loading import InvalidDatasetError
from retention.data.partitioned import PART_FILE
from retention.features.catalogue import Catalogue
from retention.features.distributed import (
    build_features_distributed,
    build_training_set_distributed,
)
from retention.features.snapshot import build_features, build_training_set, sampled_accounts

runner = CliRunner()


@pytest.mark.parametrize("snapshot", ["2025-03-01", "2026-09-01"])
def test_features_on_a_cluster_equal_one_process(
    dask_client: object,
    partitioned_dir: Path,
    dataset: Dataset,
    catalogue: Catalogue,
    snapshot: str,
) -> None:
    single = build_features(dataset, snapshot, catalogue)
    spread = build_features_distributed(dask_client, partitioned_dir, snapshot, catalogue)  # type: ignore[arg-type]
    assert spread.index.is_unique and set(spread.index) == set(single.index)
    assert list(spread.columns) == list(single.columns)
    spread = spread.loc[single.index]
    for column in single.columns:
        pd.testing.assert_series_equal(spread[column], single[column], obj=column)
    # the features against the industry were compared (with the medians of every partition)
    peer = [f.name for f in catalogue.features if f.peer_of is not None]
    assert peer and spread[peer].notna().to_numpy().mean() > 0.5


def test_the_training_set_on_a_cluster_equals_one_process(
    dask_client: object, partitioned_dir: Path, dataset: Dataset, catalogue: Catalogue
) -> None:
    single = build_training_set(dataset, catalogue)
    built = build_training_set_distributed(dask_client, partitioned_dir, catalogue)  # type: ignore[arg-type]
    spread = built.frame
    assert built.share == 1.0 and built.whole_rows == len(single)
    assert single.index.get_level_values("snapshot_date").nunique() >= 12
    assert spread.index.is_unique and len(spread) == len(single)
    assert list(spread.columns) == list(single.columns)
    spread = spread.loc[single.index]
    for column in single.columns:
        pd.testing.assert_series_equal(spread[column], single[column], obj=column)


def test_a_training_set_over_its_rows_is_sampled_by_account_as_in_one_process(
    dask_client: object, partitioned_dir: Path, dataset: Dataset, catalogue: Catalogue
) -> None:
    # given a budget of a third of the rows
    whole = build_training_set(dataset, catalogue)
    budget = len(whole) // 3
    # when the cluster builds the training set under it
    built = build_training_set_distributed(  # type: ignore[arg-type]
        dask_client, partitioned_dir, catalogue, max_rows=budget
    )
    # then about a third of the accounts are kept, each with all of its rows or none,
    # and they are the rows one process keeps with the same share
    ids = whole.index.get_level_values("customer_id")
    kept = built.frame.index.get_level_values("customer_id")
    assert built.share == pytest.approx(budget / len(whole))
    assert 0.25 < kept.nunique() / ids.nunique() < 0.42
    assert (whole[ids.isin(kept.unique())].shape[0]) == len(built.frame)
    single = sampled_accounts(whole, built.share)
    pd.testing.assert_index_equal(built.frame.index.sort_values(), single.index.sort_values())
    # and no row crosses twice
    assert built.frame.index.is_unique


def test_an_invalid_partition_stops_the_job_naming_its_file(
    dask_client: object, partitioned_dir: Path, tmp_path: Path
) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(partitioned_dir, copy)
    path = copy / "monthly_usage" / PART_FILE.format(3)
    usage = pq.read_table(path).to_pandas()
    usage.loc[0, "kwh_total"] = -1.0
    usage.to_parquet(path, index=False)
    with pytest.raises(InvalidDatasetError) as raised:
        build_features_distributed(dask_client, copy, "2026-09-01")  # type: ignore[arg-type]
    problems = raised.value.report.problems
    assert {(p.file, p.column) for p in problems} >= {
        (f"monthly_usage/{PART_FILE.format(3)}", "kwh_total")
    }
    assert {p.file for p in problems} == {f"monthly_usage/{PART_FILE.format(3)}"}


def test_every_task_of_a_cluster_job_is_counted_as_it_finishes(
    dask_client: object, partitioned_dir: Path, catalogue: Catalogue
) -> None:
    # Given a progress callback that records what it hears (from the client's threads)
    heard: list[tuple[int, int]] = []
    lock = threading.Lock()

    def progress(done: int, submitted: int) -> None:
        with lock:
            heard.append((done, submitted))

    # when a snapshot's features are built on the cluster
    build_features_distributed(
        dask_client,  # type: ignore[arg-type]
        partitioned_dir,
        "2026-09-01",
        catalogue,
        task_progress=progress,
    )
    deadline = time.monotonic() + 10  # the last callbacks may trail the gathered result
    while time.monotonic() < deadline and heard[-1][0] < heard[-1][1]:
        time.sleep(0.05)
    # then every step's tasks were submitted (one a partition) and every one finished,
    # the counts only ever growing
    parts = len(list((partitioned_dir / "customers").iterdir()))
    done, submitted = heard[-1]
    assert done == submitted and submitted % parts == 0 and submitted >= 3 * parts
    assert all(d <= s for d, s in heard)
    assert [d for d, _ in heard] == sorted(d for d, _ in heard)
    assert [s for _, s in heard] == sorted(s for _, s in heard)


def test_the_scheduler_option_and_variable_run_the_cli_on_a_cluster(
    partitioned_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import LocalCluster

    single, spread = tmp_path / "single.parquet", tmp_path / "spread.parquet"
    common = ["features", str(partitioned_dir), "--snapshot", "2026-09-01", "--out"]
    assert runner.invoke(app, [*common, str(single)]).exit_code == 0
    with LocalCluster(
        n_workers=2, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        monkeypatch.setenv("RETENTION_DASK_SCHEDULER", cluster.scheduler_address)
        result = runner.invoke(app, [*common, str(spread)])
        assert result.exit_code == 0, result.output
        by_option = tmp_path / "option.parquet"
        monkeypatch.delenv("RETENTION_DASK_SCHEDULER")
        option = ["--scheduler", cluster.scheduler_address]
        assert runner.invoke(app, [*common, str(by_option), *option]).exit_code == 0
    pd.testing.assert_frame_equal(pd.read_parquet(spread), pd.read_parquet(single))
    pd.testing.assert_frame_equal(pd.read_parquet(by_option), pd.read_parquet(single))


def test_a_cluster_needs_a_partitioned_dataset(simulated_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "f.parquet"
    result = runner.invoke(
        app,
        [
            "features",
            str(simulated_dir),
            "--snapshot",
            "2026-09-01",
            "--out",
            str(out),
            "--local-cluster",
            "2",
        ],
    )
    assert result.exit_code == 2 and "partition" in result.output
    assert not out.exists()
