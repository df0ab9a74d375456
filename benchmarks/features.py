"""Feature-building speed on a large portfolio: read, one snapshot, 12 stacked snapshots.

Issue targets (100,000 accounts x 36 months, 2 cores): one snapshot at most 3x the read time;
12 stacked snapshots at most 3x one snapshot. Reading validates: a dataset that breaks the
contract (the simulator's own included) ends the run with its report and exit status 1.
Run: .venv/bin/python benchmarks/features.py [--accounts N] [--data DIR]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

from retention.data.loading import InvalidDatasetError, load_dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.features.catalogue import load_catalogue
from retention.features.snapshot import build_features, build_snapshots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--data", type=Path, help="an existing dataset folder to use instead")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        folder = args.data
        if folder is None:
            folder = Path(tmp) / "dataset"
            print(f"simulating {args.accounts:,} accounts x 36 months ...", flush=True)
            write_result(simulate(SimulationConfig(accounts=args.accounts, seed=1)), folder)
        catalogue = load_catalogue()

        began = time.perf_counter()
        try:
            dataset = load_dataset(folder)
        except InvalidDatasetError as err:
            print(err, file=sys.stderr)
            sys.exit(f"{folder}: the dataset breaks the data contract")
        read = time.perf_counter() - began

        end = pd.Timestamp(dataset.monthly_usage["month"].max()) + pd.DateOffset(months=1)
        began = time.perf_counter()
        one = build_features(dataset, end, catalogue)
        single = time.perf_counter() - began

        dates = pd.date_range(end - pd.DateOffset(months=11), end, freq="MS")
        began = time.perf_counter()
        many = build_snapshots(dataset, dates, catalogue)
        stacked = time.perf_counter() - began

    tickets = 0 if dataset.service_tickets is None else len(dataset.service_tickets)
    print(
        f"rows: usage {len(dataset.monthly_usage):,}, tickets {tickets:,}; one snapshot "
        f"{len(one):,} accounts, 12 snapshots {len(many):,} rows x {many.shape[1]} columns"
    )
    print(f"read + validate tables   {read:6.1f} s")
    print(
        f"one snapshot             {single:6.1f} s   ratio to read {single / read:4.2f} "
        f"(target <= 3)"
    )
    print(
        f"12 stacked snapshots     {stacked:6.1f} s   ratio to one  {stacked / single:4.2f} "
        f"(target <= 3)"
    )
    ok = single <= 3 * read and stacked <= 3 * single
    print(f"verdict                  {'OK' if ok else 'MISSED'}")


if __name__ == "__main__":
    main()
