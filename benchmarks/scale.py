"""Beyond one process (issue 18): features, training and a scoring batch of a partitioned
dataset on a Dask LocalCluster of worker processes, against one process on the same data.

Simulates N accounts x 36 months as a partitioned Parquet dataset, chunk by chunk straight
into the part files (`retention simulate --partitions P --chunk-accounts C`: memory bounded
by a chunk), or reads --data. Then times four steps, each on W single-threaded workers with a
memory limit each and (unless --no-single: the portfolio does not fit one process) in one
child process, so its peak memory is its own:
- one snapshot (the month after the data): `build_snapshots_distributed`, what `retention
  features --local-cluster` runs, against `load_dataset` + `build_snapshots`; reading and
  validating included on both sides;
- 12 snapshots (the 12 months to it), the same; on the cluster the frames stay on the
  workers (only their lengths cross) unless they are compared with one process's;
- training: what `retention train --local-cluster W` runs (the training set built on the
  cluster and gathered, the cluster closed, then the fit, calibration, metrics and MLflow
  logging in this process; MLflow in a SQLite file under the work folder), then the version
  made champion for the scoring;
- a scoring batch: what `retention score --local-cluster W` runs, into a SQLite store under
  the work folder.
Prints per step the wall time, CPU seconds (on a shared, loaded machine wall time says more
about the neighbours), the peak resident memory of each worker (their /proc VmHWM, reset at
the step's start) and of the client (this process), and whether a worker was replaced (a
worker over its limit is restarted by its nanny: spilling is fine, dying is not); checks the
feature frames are identical and compares the two models' test ROC AUC.
Run: .venv/bin/python benchmarks/scale.py [--accounts N] [--partitions P] [--workers W]
     [--memory-limit 6GB] [--chunk-accounts C] [--processes K] [--data DIR] [--work DIR]
     [--no-single] [--steps one,twelve,train,score] [--postgres URL]
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd

from support.postgres import fresh_schema

MB = 1024  # ru_maxrss and VmHWM are in KiB on Linux
STEPS = {"one": "one snapshot", "twelve": "12 snapshots", "train": "training", "score": "scoring"}


def _peak_mb() -> float:
    """This process's peak resident memory (since the last `_reset_peak`)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / MB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / MB


def _cpu_s() -> float:
    """CPU seconds this process has used (user + system): on a shared, loaded machine the
    wall time says more about the neighbours than about the job."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _reset_peak() -> None:
    """Start a process's peak anew (Linux: "5" to clear_refs resets VmHWM), so its figure
    is the step's, not what the process held before."""
    Path("/proc/self/clear_refs").write_text("5")


def _steps(folder: Path) -> dict[str, pd.DatetimeIndex]:
    """The feature steps' snapshots: the month after the data and the 12 months to it."""
    months = pd.read_parquet(folder / "monthly_usage", columns=["month"])["month"]
    end = pd.Timestamp(str(months.max()) + "-01") + pd.DateOffset(months=1)
    return {
        "one": pd.DatetimeIndex([end]),
        "twelve": pd.date_range(end - pd.DateOffset(months=11), end, freq="MS"),
    }


@contextmanager
def _measured(figures: dict[str, dict], step: str) -> Iterator[dict]:
    """Wall time, CPU seconds and peak memory of this process over a step."""
    gc.collect()
    _reset_peak()
    began, cpu = time.perf_counter(), _cpu_s()
    found: dict[str, Any] = {}
    yield found
    figures[step] = {
        "wall_s": time.perf_counter() - began,
        "cpu_s": _cpu_s() - cpu,
        "peak_mb": _peak_mb(),
        **found,
    }
    if step in STEPS:  # at once, on stderr: a run stopped later still leaves this step's
        print(f"  {STEPS[step]}: {_line(step, figures[step])}", file=sys.stderr, flush=True)


def single(folder: Path, out: Path, steps: list[str]) -> None:
    """The child process: each step as one process runs it, figures as JSON on stdout."""
    from retention.data.loading import load_dataset
    from retention.features.snapshot import build_snapshots

    figures: dict[str, dict] = {}
    dates = _steps(folder)
    if "one" in steps or "twelve" in steps:
        with _measured(figures, "load") as found:
            dataset = load_dataset(folder)
        for step in [s for s in ("one", "twelve") if s in steps]:
            with _measured(figures, step) as found:
                frame = build_snapshots(dataset, dates[step])
                found["rows"] = len(frame)
            for key in ("wall_s", "cpu_s"):  # each with the loading, as the cluster's steps
                figures[step][key] += figures["load"][key]
            figures[step]["peak_mb"] = max(figures[step]["peak_mb"], figures["load"]["peak_mb"])
            frame.to_parquet(out / f"{step}.parquet")
            del frame
        del dataset
    if "train" in steps:
        with _measured(figures, "train") as found:
            found.update(_train(folder, None))
    if "score" in steps:
        with _measured(figures, "score") as found:
            found.update(_score(lambda settings, engine: _score_one(settings, engine, folder)))
    print(json.dumps(figures))


def _train(folder: Path, cluster: Callable[[], Any] | None) -> dict[str, Any]:
    """`retention train` on the folder (rows built on the cluster when one is given, the
    cluster closed before the fit), the version made champion; its figures."""
    from retention.settings import Settings
    from retention.training.config import load_config
    from retention.training.pipeline import fit_evaluate_log
    from retention.training.promotion import promote
    from retention.training.rows import rows_from_dataset

    settings = Settings()
    training = load_config(None, settings.horizon_months)
    found: dict[str, Any] = {}
    began = time.perf_counter()
    if cluster is None:
        rows = rows_from_dataset(folder, training)
    else:
        with cluster() as client:
            before = set(client.scheduler_info()["workers"])
            client.run(_reset_peak)
            cpu = client.run(_cpu_s)
            try:
                rows = rows_from_dataset(folder, training, client)
            finally:
                found.update(_worker_figures(client, before, cpu))
    found["rows_s"] = time.perf_counter() - began
    found["rows"] = len(rows.frame)
    result = fit_evaluate_log(rows, training, settings.capacity, settings.tracking_uri, "scale")
    found["test_roc_auc"] = result.metrics["model"]["roc_auc"]
    promote(result.version, force=True)  # the scoring step scores with this version
    return found


def _score_one(settings: Any, engine: Any, folder: Path) -> tuple[Any, dict[str, Any]]:
    """`retention score` in one process: the folder loaded whole, then the batch."""
    from retention.data.loading import load_dataset
    from retention.scoring.job import run_scoring

    return run_scoring(settings, load_dataset(folder), engine), {}


def _score(run: Callable[[Any, Any], tuple[Any, dict[str, Any]]]) -> dict[str, Any]:
    """A scoring batch stored in the work folder's store with the champion; its figures."""
    from retention.model.registry import configure
    from retention.settings import Settings
    from retention.store.database import open_store

    settings = Settings()
    configure(settings.tracking_uri)
    batch, extra = run(settings, open_store(settings.store_url))
    return {"rows": batch.batch.accounts, "batch": batch.batch.id, **extra}


def _worker_figures(client: Any, before: set[str], cpu: dict[str, float]) -> dict[str, Any]:
    """The workers' peak memory and CPU seconds since the step began, and how many of the
    workers the step started with are gone (killed over their limit and replaced)."""
    now = client.run(_cpu_s)
    return {
        "worker_peak_mb": list(client.run(_peak_mb).values()),
        "worker_cpu_s": [s - cpu.get(w, 0.0) for w, s in now.items()],
        "workers_replaced": len(before - set(now)),
    }


def cluster(
    folder: Path, workers: int, memory_limit: str, steps: list[str], keep: bool
) -> tuple[dict[str, pd.DataFrame], dict]:
    """The steps on LocalClusters (one for the features, one per job as the CLI starts
    them); `keep`: the feature frames gathered, to compare with one process's."""
    from retention.features.distributed import (
        build_snapshots_distributed,
        cluster_client,
        snapshots_on_workers,
    )

    def started() -> Any:
        return cluster_client(local_workers=workers, memory_limit=memory_limit)

    frames: dict[str, pd.DataFrame] = {}
    figures: dict[str, dict] = {}
    dates = _steps(folder)
    began = time.perf_counter()
    with started() as client:
        figures["start"] = {"wall_s": time.perf_counter() - began}
        for step in [s for s in ("one", "twelve") if s in steps]:
            before = set(client.scheduler_info()["workers"])
            client.run(_reset_peak)
            cpu = client.run(_cpu_s)
            with _measured(figures, step) as found:
                if keep or step == "one":
                    frames[step] = build_snapshots_distributed(client, folder, dates[step])
                    found["rows"] = len(frames[step])
                else:  # left on the workers: 12 snapshots of 1M accounts are ~10 GB
                    spread = snapshots_on_workers(client, folder, dates[step])
                    found["rows"] = sum(client.gather(client.map(len, spread.frames)))
                    del spread
                found.update(_worker_figures(client, before, cpu))
            if not keep:
                frames.pop(step, None)
    if "train" in steps:
        with _measured(figures, "train") as found:
            try:
                found.update(_train(folder, started))
            except ValueError as err:  # the in-memory fit's gate: the rows would not fit
                found["refused"] = str(err)
    if "score" in steps:

        def on_cluster(settings: Any, engine: Any) -> tuple[Any, dict[str, Any]]:
            from retention.scoring.job import run_scoring_on_cluster

            with started() as client:
                before = set(client.scheduler_info()["workers"])
                client.run(_reset_peak)
                cpu = client.run(_cpu_s)
                batch = run_scoring_on_cluster(settings, client, folder, engine)
                return batch, _worker_figures(client, before, cpu)

        with _measured(figures, "score") as found:
            try:
                found.update(_score(on_cluster))
            except Exception as err:  # a worker lost for good: the batch failed, say how
                found["failed"] = f"{type(err).__name__}: {err}"
    return frames, figures


def simulated(args: argparse.Namespace, tmp: Path) -> Path:
    """The dataset: --data, or N accounts simulated in chunks into P partitions."""
    if args.data is not None:
        return Path(args.data)
    from retention.data.simulator import SimulationConfig
    from retention.data.simulator.chunked import simulate_partitioned

    folder = tmp / "dataset"
    print(f"simulating {args.accounts:,} accounts x 36 months ...", flush=True)
    began = time.perf_counter()
    config = SimulationConfig(accounts=args.accounts, seed=1)
    simulate_partitioned(config, folder, args.partitions, args.chunk_accounts, None, args.processes)
    print(
        f"  simulated in chunks of {args.chunk_accounts:,} accounts ({args.processes} "
        f"processes) and written in {args.partitions} partitions: "
        f"{time.perf_counter() - began:.1f} s",
        flush=True,
    )
    return folder


def _line(step: str, figures: dict[str, Any]) -> str:
    """One side of a step: wall, CPU, peaks, and what went wrong."""
    text = f"{figures['wall_s']:.1f} s wall"
    if "worker_peak_mb" in figures:
        peaks = ", ".join(f"{mb:,.0f}" for mb in figures["worker_peak_mb"])
        cpus = ", ".join(f"{s:.1f}" for s in figures["worker_cpu_s"])
        text += (
            f", CPU s per worker {cpus} (client {figures['cpu_s']:.1f}), peak MB per worker "
            f"{peaks}, client {figures['peak_mb']:,.0f}"
        )
        if figures["workers_replaced"]:
            text += f", WORKERS REPLACED {figures['workers_replaced']}"
    else:
        text += f", {figures['cpu_s']:.1f} CPU s, peak {figures['peak_mb']:,.0f} MB"
    if "rows_s" in figures:
        text += f" (rows {figures['rows_s']:.1f} s, then the fit; test ROC AUC "
        text += f"{figures['test_roc_auc']:.4f})"
    for problem in ("refused", "failed"):
        if problem in figures:
            text += f", {problem.upper()}: {figures[problem]}"
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=30_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="6GB", help="per worker")
    parser.add_argument("--chunk-accounts", type=int, default=50_000)
    parser.add_argument("--processes", type=int, default=1, help="simulating chunks")
    parser.add_argument("--data", type=Path, help="an existing partitioned dataset to use")
    parser.add_argument("--work", type=Path, help="MLflow and store (default: a tmp folder)")
    parser.add_argument("--no-single", action="store_true", help="only the cluster")
    parser.add_argument(
        "--postgres",
        help="store the batches in a fresh schema of this PostgreSQL (COPY), e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test (default: SQLite in the work folder)",
    )
    parser.add_argument("--steps", default="one,twelve,train,score")
    parser.add_argument("--single", type=Path, help=argparse.SUPPRESS)  # the child's output
    args = parser.parse_args()
    steps = [s for s in args.steps.split(",") if s]
    if unknown := set(steps) - set(STEPS):
        parser.error(f"unknown steps {sorted(unknown)}; choose from {list(STEPS)}")
    if args.single is not None:
        single(args.data, args.single, steps)
        return
    logging.basicConfig(level=logging.WARNING)
    with tempfile.TemporaryDirectory() as tmp, fresh_schema(args.postgres, "bench_scale") as pg:
        work = (args.work or Path(tmp) / "work").resolve()
        work.mkdir(parents=True, exist_ok=True)
        os.environ.update(
            RETENTION_WORK_DIR=str(work),
            RETENTION_MLFLOW_TRACKING_URI=f"sqlite:///{work / 'mlflow.db'}",
            RETENTION_DATABASE_URL=pg or f"sqlite:///{work / 'store.db'}",
        )
        folder = simulated(args, Path(tmp))
        one: dict[str, dict] = {}
        if not args.no_single:
            out = Path(tmp)
            command = [sys.executable, __file__, "--data", str(folder), "--single", str(out)]
            child = subprocess.run(
                [*command, "--steps", args.steps], capture_output=True, text=True, check=False
            )
            if child.returncode:
                sys.exit(f"one process failed:\n{child.stderr[-3000:]}")
            one = json.loads(child.stdout.strip().splitlines()[-1])
            for step in steps:  # at once: a cluster step that fails leaves these figures
                print(f"  {STEPS[step]}, one process: {_line(step, one[step])}", flush=True)
        frames, spread = cluster(folder, args.workers, args.memory_limit, steps, bool(one))
        for step, frame in frames.items():
            reference = pd.read_parquet(Path(tmp) / f"{step}.parquet")
            pd.testing.assert_frame_equal(frame.loc[reference.index], reference)
    print(
        f"{args.workers} workers of {args.memory_limit} (cluster start "
        f"{spread['start']['wall_s']:.1f} s); the feature steps include reading and "
        "validating" + ("; every feature frame identical to one process's" if frames else "")
    )
    for step in steps:
        rows = spread[step].get("rows", one.get(step, {}).get("rows", 0))
        print(f"  {STEPS[step]} ({rows:,} rows):")
        if step in one:
            print(f"    one process: {_line(step, one[step])}")
        print(f"    cluster:     {_line(step, spread[step])}")


if __name__ == "__main__":
    main()
