"""Batch scoring time for a large portfolio, step by step, and predict throughput.

Issue targets (100,000 accounts): the whole batch (features, predict, reasons, actions, store)
at most 3 minutes; our predict at least 0.5 of a bare `Booster.predict` on the same matrix.
The model is trained on a separate smaller portfolio (training time is benchmarks/train.py's).
Run: .venv/bin/python benchmarks/score.py [--accounts N] [--database-url URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.features.catalogue import load_catalogue
from retention.features.snapshot import build_features
from retention.features.sources import Tables
from retention.model.registry import load_version
from retention.scoring.batch import score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook
from retention.store.batches import save_batch
from retention.store.database import open_store
from retention.tariffs.tables import load_tariffs
from retention.training.config import load_config
from retention.training.pipeline import fit_evaluate_log
from retention.training.rows import rows_from_dataset


def best_of(runs: int, work) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        work()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--train-accounts", type=int, default=8_000)
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(f"training a model on {args.train_accounts:,} accounts ...", flush=True)
        folder = Path(tmp) / "train"
        write_result(simulate(SimulationConfig(accounts=args.train_accounts, seed=11)), folder)
        config = load_config()
        result = fit_evaluate_log(
            rows_from_dataset(folder, config), config, 200, f"sqlite:///{tmp}/mlflow.db", "bench"
        )
        model = load_version(result.version)

        print(f"simulating {args.accounts:,} accounts x 36 months ...", flush=True)
        tables = Tables(Dataset(**simulate(SimulationConfig(accounts=args.accounts)).tables))
        engine = open_store(args.database_url or f"sqlite:///{tmp}/store.db")
        catalogue, playbook, calendar = load_catalogue(), load_playbook(), WorkingCalendar()

        print("scoring ...", flush=True)
        scored = score_snapshot(
            tables, model, catalogue, playbook, calendar, capacity=200, tariffs=load_tariffs()
        )
        began = time.perf_counter()
        save_batch(engine, scored, "bench", result.version, 200, dt.date.today())
        seconds = {**scored.seconds, "store": time.perf_counter() - began}

        # Throughput: our predict (frame -> matrix -> raw score -> calibrated probability)
        # against a bare Booster.predict on the matrix it builds, on the same rows.
        frame = build_features(tables, scored.snapshot, catalogue)
        rows = frame[~frame["in_exit_process"].to_numpy(dtype=bool)]
        matrix = model.matrix(rows)
        ours = best_of(3, lambda: model.predict_proba(rows))
        bare = best_of(3, lambda: model.booster.predict(matrix))

    total = sum(seconds.values())
    listed = len(scored.accounts) + len(scored.leaving)
    print(
        f"\n{listed:,} accounts scored at {scored.snapshot:%Y-%m-%d}; "
        f"{len(scored.reasons):,} reasons, {len(scored.actions):,} actions stored"
    )
    for step, value in seconds.items():
        print(f"  {step:10s}{value:8.1f} s")
    print(f"  {'total':10s}{total:8.1f} s")
    print(
        f"predict {len(rows):,} rows: ours {ours:.3f} s ({len(rows) / ours:,.0f} rows/s), "
        f"bare Booster.predict {bare:.3f} s ({len(rows) / bare:,.0f} rows/s); "
        f"ratio {bare / ours:.2f}"
    )
    checks = {
        "whole batch at most 180 s": total <= 180,
        "predict ratio at least 0.5": bare / ours >= 0.5,
    }
    print("  ".join(f"[{'ok' if ok else 'MISSED'}] {name}" for name, ok in checks.items()))


if __name__ == "__main__":
    main()
