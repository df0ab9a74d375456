"""Features beyond one process (issue 18), first version: a partitioned dataset in one
process against a Dask LocalCluster of worker processes, on the same data.

Simulates N accounts x 36 months as a partitioned Parquet dataset (or reads --data), then
times two steps: one snapshot (the month after the data) and the 12 stacked snapshots to it.
Each step in one process (a child process, so its peak memory is its own: `load_dataset` of
the whole folder, then `build_snapshots`) and on W single-threaded workers with a memory
limit each (`build_snapshots_distributed`, what `retention features --local-cluster` runs);
both include reading and validating. Prints wall time, CPU seconds (on a shared, loaded
machine wall time says more about the neighbours) and peak resident memory of the single
process and of each worker, and checks every frame is identical. The issue's target (1M
accounts, 2 workers of 6 GB, one snapshot in at most 3 minutes) is for a later version;
the default size finishes in a few minutes on a loaded 2-core machine.
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


def _steps(folder: Path) -> dict[str, pd.DatetimeIndex]:
    """The steps timed: one snapshot (the month after the data) and the 12 months to it."""
    months = pd.read_parquet(folder / "monthly_usage", columns=["month"])["month"]
    end = pd.Timestamp(str(months.max()) + "-01") + pd.DateOffset(months=1)
    return {
        "one snapshot": pd.DatetimeIndex([end]),
        "12 snapshots": pd.date_range(end - pd.DateOffset(months=11), end, freq="MS"),
    }


def single(folder: Path, out: Path) -> None:
    """The child process: load the whole dataset, build each step's snapshots, report."""
    from retention.data.loading import load_dataset
    from retention.features.snapshot import build_snapshots

    began, cpu = time.perf_counter(), _cpu_s()
    dataset = load_dataset(folder)
    load_wall, load_cpu = time.perf_counter() - began, _cpu_s() - cpu
    figures: dict[str, dict] = {}
    for k, (step, dates) in enumerate(_steps(folder).items()):
        began, cpu = time.perf_counter(), _cpu_s()
        frame = build_snapshots(dataset, dates)
        figures[step] = {  # each with the loading, as the cluster's steps (a job pays both)
            "wall_s": time.perf_counter() - began + load_wall,
            "cpu_s": _cpu_s() - cpu + load_cpu,
            "peak_mb": _peak_mb(),
        }
        frame.to_parquet(out / f"{k}.parquet")
    print(json.dumps(figures))


def cluster(folder: Path, workers: int, memory_limit: str) -> tuple[list[pd.DataFrame], dict]:
    """The same steps on a LocalCluster: wall time, CPU and peak memory of each worker."""
    from retention.features.distributed import build_snapshots_distributed, cluster_client

    began = time.perf_counter()
    frames, figures = [], {}
    with cluster_client(local_workers=workers, memory_limit=memory_limit) as client:
        figures["start"] = {"wall_s": time.perf_counter() - began}
        for step, dates in _steps(folder).items():
            client.run(_reset_peak)
            cpu = client.run(_cpu_s)
            began, own = time.perf_counter(), _cpu_s()
            frames.append(build_snapshots_distributed(client, folder, dates))
            figures[step] = {
                "wall_s": time.perf_counter() - began,
                "client_cpu_s": _cpu_s() - own,
                "worker_peak_mb": list(client.run(_peak_mb).values()),
                "worker_cpu_s": [s - cpu[w] for w, s in client.run(_cpu_s).items()],
            }
    return frames, figures


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
        out = Path(tmp)
        child = subprocess.run(
            [sys.executable, __file__, "--data", str(folder), "--single", str(out)],
            capture_output=True,
            text=True,
            check=True,
        )
        one = json.loads(child.stdout.strip().splitlines()[-1])
        frames, spread = cluster(folder, args.workers, args.memory_limit)
        for k, frame in enumerate(frames):
            reference = pd.read_parquet(out / f"{k}.parquet")
            pd.testing.assert_frame_equal(frame.loc[reference.index], reference)
    print(
        f"{args.workers} workers of {args.memory_limit} (cluster start "
        f"{spread['start']['wall_s']:.1f} s); each step includes reading and validating; "
        "every frame identical to one process's"
    )
    for k, step in enumerate(list(_STEP_NAMES)):
        a, b = one[step], spread[step]
        peaks = ", ".join(f"{mb:,.0f}" for mb in b["worker_peak_mb"])
        cpus = ", ".join(f"{s:.1f}" for s in b["worker_cpu_s"])
        print(
            f"  {step} ({len(frames[k]):,} rows): one process {a['wall_s']:.1f} s wall, "
            f"{a['cpu_s']:.1f} CPU s, peak {a['peak_mb']:,.0f} MB | cluster "
            f"{b['wall_s']:.1f} s wall, CPU s per worker {cpus} (client "
            f"{b['client_cpu_s']:.1f}), peak MB per worker {peaks}"
        )


_STEP_NAMES = ("one snapshot", "12 snapshots")


if __name__ == "__main__":
    main()
