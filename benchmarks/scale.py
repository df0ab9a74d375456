"""Features beyond one process (issue 18), first version: one snapshot of a partitioned
dataset in one process against a Dask LocalCluster of worker processes, on the same data.

Simulates N accounts x 36 months as a partitioned Parquet dataset (or reads --data), then
times features for the month after the data: (1) one process loading the whole dataset and
`build_features` (in a child process, so its peak memory is its own); (2) `retention
features --local-cluster`'s path, `build_features_distributed`, on W single-threaded workers
with a memory limit each. Prints wall time and peak resident memory of the single process
and of each worker, and checks the two frames are identical. The issue's target (1M
accounts, 2 workers of 6 GB, features in at most 3 minutes) is for a later version; this one
runs at a size a loaded 2-core machine finishes in a few minutes.
Run: .venv/bin/python benchmarks/scale.py [--accounts N] [--partitions P] [--workers W]
     [--memory-limit 3GB] [--data DIR]
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from retention.data.simulator import SimulationConfig, simulate, write_result

MB = 1024  # ru_maxrss and VmHWM are in KiB on Linux


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
    """Start a worker's peak anew (Linux: "5" to clear_refs resets VmHWM), so its figure
    is the job's, not what the process held when it started."""
    Path("/proc/self/clear_refs").write_text("5")


def _snapshot(folder: Path) -> pd.Timestamp:
    months = pd.read_parquet(folder / "monthly_usage", columns=["month"])["month"]
    return pd.Timestamp(str(months.max()) + "-01") + pd.DateOffset(months=1)


def single(folder: Path, out: Path) -> None:
    """The child process: load the whole dataset, build one snapshot, report as JSON."""
    from retention.data.loading import load_dataset
    from retention.features.snapshot import build_features

    began, cpu = time.perf_counter(), _cpu_s()
    dataset = load_dataset(folder)
    loaded = time.perf_counter() - began
    frame = build_features(dataset, _snapshot(folder))
    total, cpu = time.perf_counter() - began, _cpu_s() - cpu
    frame.to_parquet(out)
    print(json.dumps({"load_s": loaded, "total_s": total, "cpu_s": cpu, "peak_mb": _peak_mb()}))


def cluster(folder: Path, workers: int, memory_limit: str) -> tuple[pd.DataFrame, dict]:
    """The same snapshot on a LocalCluster; wall time and each worker's peak memory."""
    from retention.features.distributed import build_features_distributed, cluster_client

    began = time.perf_counter()
    with cluster_client(local_workers=workers, memory_limit=memory_limit) as client:
        started = time.perf_counter() - began
        client.run(_reset_peak)
        cpu = client.run(_cpu_s)
        began, own = time.perf_counter(), _cpu_s()
        frame = build_features_distributed(client, folder, _snapshot(folder))
        took, own = time.perf_counter() - began, _cpu_s() - own
        peaks = client.run(_peak_mb)
        used = {w: s - cpu[w] for w, s in client.run(_cpu_s).items()}
    return frame, {
        "start_s": started,
        "total_s": took,
        "worker_peak_mb": peaks,
        "worker_cpu_s": used,
        "client_cpu_s": own,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=30_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--memory-limit", default="3GB", help="per worker")
    parser.add_argument("--data", type=Path, help="an existing partitioned dataset to use")
    parser.add_argument("--single", type=Path, help=argparse.SUPPRESS)  # the child's output
    args = parser.parse_args()
    if args.single is not None:
        single(args.data, args.single)
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data
        if folder is None:
            folder = Path(tmp) / "dataset"
            print(f"simulating {args.accounts:,} accounts x 36 months ...", flush=True)
            began = time.perf_counter()
            config = SimulationConfig(accounts=args.accounts, seed=1)
            write_result(simulate(config), folder, partitions=args.partitions)
            print(
                f"  simulated and written in {args.partitions} partitions: "
                f"{time.perf_counter() - began:.1f} s",
                flush=True,
            )
        out = Path(tmp) / "single.parquet"
        child = subprocess.run(
            [sys.executable, __file__, "--data", str(folder), "--single", str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        one = json.loads(child.stdout.strip().splitlines()[-1])
        frame, spread = cluster(folder, args.workers, args.memory_limit)
        reference = pd.read_parquet(out)
        pd.testing.assert_frame_equal(frame.loc[reference.index], reference)
    parts = (
        len(list((folder / "customers").glob("part-*.parquet"))) if args.data else args.partitions
    )
    print(
        f"one snapshot, {len(frame):,} active accounts x {frame.shape[1]} columns, "
        f"{parts} partitions; the two frames are identical"
    )
    print(
        f"  one process:  {one['total_s']:.1f} s wall (load and validate {one['load_s']:.1f} s), "
        f"{one['cpu_s']:.1f} CPU s, peak {one['peak_mb']:,.0f} MB"
    )
    peaks = ", ".join(f"{mb:,.0f} MB" for mb in spread["worker_peak_mb"].values())
    cpus = ", ".join(f"{s:.1f}" for s in spread["worker_cpu_s"].values())
    print(
        f"  LocalCluster: {spread['total_s']:.1f} s wall on {args.workers} workers "
        f"(limit {args.memory_limit} each; cluster start {spread['start_s']:.1f} s), "
        f"CPU s per worker {cpus} (client {spread['client_cpu_s']:.1f}), "
        f"peak per worker {peaks}"
    )


if __name__ == "__main__":
    main()
