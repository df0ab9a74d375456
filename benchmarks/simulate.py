"""Wall time and peak memory of simulating a large portfolio and writing it as Parquet; then
the written dataset is validated (the simulator must write what its contract accepts: exit 1
with the report when it does not).

Issue target: 100,000 accounts x 36 months in at most 90 s and 6 GB on 2 cores.
Run: .venv/bin/python benchmarks/simulate.py [--accounts N] [--months M]
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

from retention.data.loading import validate_dataset
from retention.data.simulator import SimulationConfig, simulate, write_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--format", default="parquet", choices=["parquet", "csv"])
    args = parser.parse_args()

    config = SimulationConfig(accounts=args.accounts, months=args.months, seed=1)
    with tempfile.TemporaryDirectory() as tmp:
        began = time.perf_counter()
        result = simulate(config)
        simulated = time.perf_counter()
        files = write_result(result, Path(tmp) / "dataset", fmt=args.format)
        written = time.perf_counter()
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        # Timed apart: the target is for simulating and writing.
        report = validate_dataset(Path(tmp) / "dataset")
        validated = time.perf_counter()

    peak_gb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    rows = sum(len(frame) for frame in result.tables.values())
    total = written - began
    print(f"accounts x months     {args.accounts:,} x {args.months}")
    print(f"rows written          {rows:,} ({size_mb:,.0f} MB {args.format})")
    print(f"simulate              {simulated - began:6.1f} s")
    print(f"write                 {written - simulated:6.1f} s")
    print(f"total wall time       {total:6.1f} s   (target <= 90 s)")
    print(f"peak memory (RSS)     {peak_gb:6.2f} GB  (target <= 6 GB)")
    verdict = "valid" if report.ok else "INVALID"
    print(f"validate              {validated - written:6.1f} s   ({verdict})")
    print(f"verdict               {'OK' if total <= 90 and peak_gb <= 6 else 'MISSED'}")
    if not report.ok:
        print(report.to_text(), file=sys.stderr)
        sys.exit("the simulated dataset breaks the data contract")


if __name__ == "__main__":
    main()
