"""A scoring batch on a Dask cluster against one process, and a worker failing mid-batch."""

from __future__ import annotations

import datetime as dt
import functools
import threading
import time
from concurrent.futures import CancelledError
from pathlib import Path

import pandas as pd
import pytest
from distributed import KilledWorker, get_worker
from sqlalchemy import func, select

from retention.data.loading import load_dataset
from retention.data.partitioned import PART_FILE
from retention.features.catalogue import load_catalogue
from retention.features.distributed import cluster_client
from retention.model.registry import load_version
from retention.records.batch import ScoredList
from retention.scoring import distributed
from retention.scoring.batch import score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.distributed import score_distributed
from retention.scoring.job import run_scoring, run_scoring_on_cluster
from retention.scoring.playbook import load_playbook
from retention.settings import Settings
from retention.store.batches import SCORES, batch_info, list_batches
from retention.store.database import open_store
from retention.tariffs.tables import load_tariffs
from retention.training.pipeline import TrainResult

SCORED_ON = dt.date(2026, 11, 30)


def _both(
    dask_client: object, partitioned_dir: Path, trained: TrainResult
) -> tuple[ScoredList, ScoredList]:
    model, catalogue = load_version(trained.version), load_catalogue()
    common = {
        "capacity": 40,
        "scored_on": SCORED_ON,
        "tariffs": load_tariffs(),
        "snapshot": pd.Timestamp("2026-10-01"),
    }
    playbook, calendar = load_playbook(), WorkingCalendar()
    # one process on the same data: the partitions loaded whole, in part order
    single = score_snapshot(
        load_dataset(partitioned_dir), model, catalogue, playbook, calendar, **common
    )
    spread = score_distributed(
        dask_client, partitioned_dir, model, catalogue, playbook, calendar, **common
    )  # type: ignore[arg-type]
    return single, spread


def test_a_cluster_batch_equals_the_single_process_batch(
    dask_client: object, partitioned_dir: Path, trained: TrainResult
) -> None:
    single, spread = _both(dask_client, partitioned_dir, trained)
    assert len(single.accounts) > 500 and (single.accounts["band"] == "high").sum() == 40
    assert list(spread.accounts.columns) == list(single.accounts.columns)
    numbers = ["probability", "probability_1m", "probability_3m", "money_at_risk_cny"]
    pd.testing.assert_frame_equal(
        spread.accounts[numbers], single.accounts[numbers], check_exact=False, rtol=0, atol=1e-9
    )
    rest = [c for c in single.accounts.columns if c not in numbers]
    pd.testing.assert_frame_equal(spread.accounts[rest], single.accounts[rest])  # ranks, bands
    for name in ("reasons", "actions", "leaving", "peers"):
        pd.testing.assert_frame_equal(
            getattr(spread, name).reset_index(drop=True),
            getattr(single, name).reset_index(drop=True),
            check_exact=False,
            rtol=0,
            atol=1e-9,
            obj=name,
        )
    assert (spread.list_mode, spread.list_reason) == (single.list_mode, single.list_reason)
    assert spread.actions["code"].nunique() > 3  # bands and reasons reached the playbook


def test_a_failing_partition_leaves_the_previous_batch_the_latest(
    dask_client: object,
    partitioned_dir: Path,
    champion: str,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(work_dir=tmp_path, mlflow_tracking_uri=tracking_uri, capacity=40)
    engine = open_store(settings.store_url)
    before = run_scoring(settings, load_dataset(partitioned_dir), engine, scored_on=SCORED_ON).batch
    real = distributed._score_part
    third = set(pd.read_parquet(partitioned_dir / "customers" / PART_FILE.format(2))["customer_id"])

    def scorer(dataset, frame, **kwargs):  # type: ignore[no-untyped-def]
        if third & set(dataset.customers["customer_id"]):  # the third partition's task dies
            raise MemoryError("worker lost while scoring its partition / 分区评分时工作进程丢失")
        return real(dataset, frame, **kwargs)

    monkeypatch.setattr(distributed, "_score_part", scorer)
    with pytest.raises(MemoryError):
        run_scoring_on_cluster(settings, dask_client, partitioned_dir, engine, scored_on=SCORED_ON)  # type: ignore[arg-type]
    assert batch_info(engine).id == before.id
    assert [b.id for b in list_batches(engine)] == [before.id]  # no batch row at all
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(SCORES)).scalar_one()
    assert rows == before.accounts
    # and once the workers are well again, the next batch is whole and the latest
    monkeypatch.setattr(distributed, "_score_part", real)
    after = run_scoring_on_cluster(
        settings, dask_client, partitioned_dir, engine, scored_on=SCORED_ON
    ).batch  # type: ignore[arg-type]
    assert batch_info(engine).id == after.id > before.id and after.accounts == before.accounts


def test_score_runs_on_a_cluster_from_the_cli(
    partitioned_dir: Path,
    champion: str,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from distributed import LocalCluster
    from typer.testing import CliRunner

    from retention.cli import app

    monkeypatch.setenv("RETENTION_MLFLOW_TRACKING_URI", tracking_uri)
    monkeypatch.setenv("RETENTION_WORK_DIR", str(tmp_path))
    runner = CliRunner()
    with LocalCluster(
        n_workers=2, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        monkeypatch.setenv("RETENTION_DASK_SCHEDULER", cluster.scheduler_address)
        result = runner.invoke(app, ["score", str(partitioned_dir)])
    assert result.exit_code == 0, result.output
    assert "批次 / batch 1" in result.output
    engine = open_store(Settings().store_url)
    batch = batch_info(engine)
    assert batch.accounts > 500 and batch.snapshot_date == dt.date(2026, 11, 1)
    monkeypatch.delenv("RETENTION_DASK_SCHEDULER")
    refused = runner.invoke(app, ["score", str(tmp_path), "--local-cluster", "1"])
    assert refused.exit_code == 2 and "partitioned" in refused.output


# The scorer that loses its worker: at module level, so the cluster pickles it by reference
# and the flag is this module's own (a closure would be copied, with its flag, into the task).
_REAL_SCORER = distributed._score_part
_GONE = threading.Event()


def _losing_its_worker(dataset, frame, **kwargs):  # type: ignore[no-untyped-def]
    """The first partition's worker is closed while it scores; the rest score as usual."""
    if not _GONE.is_set():
        _GONE.set()
        worker = get_worker()
        worker.loop.add_callback(functools.partial(worker.close, executor_wait=False))
        time.sleep(3)
    return _REAL_SCORER(dataset, frame, **kwargs)


def test_a_worker_dying_mid_batch_stores_the_batch_whole_or_not_at_all(
    partitioned_dir: Path,
    champion: str,
    tracking_uri: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = Settings(work_dir=tmp_path, mlflow_tracking_uri=tracking_uri, capacity=40)
    engine = open_store(settings.store_url)
    before = run_scoring(settings, load_dataset(partitioned_dir), engine, scored_on=SCORED_ON).batch
    monkeypatch.setattr(distributed, "_score_part", _losing_its_worker)
    with cluster_client(local_workers=2, processes=False) as dask_client:
        try:
            after = run_scoring_on_cluster(
                settings, dask_client, partitioned_dir, engine, scored_on=SCORED_ON
            )
        except (KilledWorker, CancelledError, OSError):  # the batch failed
            assert [b.id for b in list_batches(engine)] == [before.id]  # no batch row at all
            assert batch_info(engine).id == before.id
        else:  # the lost partitions were scored again on the other worker: the batch whole
            assert len(dask_client.scheduler_info()["workers"]) == 1
            assert batch_info(engine).id == after.batch.id > before.id
            assert after.batch.accounts == before.accounts
    assert _GONE.is_set()  # a worker did go away mid-batch
    with engine.connect() as connection:
        rows = connection.execute(select(func.count()).select_from(SCORES)).scalar_one()
    assert rows == sum(b.accounts for b in list_batches(engine))  # no batch half-written
