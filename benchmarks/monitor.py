"""Monitoring time for a batch of a large portfolio, step by step.

Issue target (100,000 accounts): `retention monitor` on one batch in at most 60 s. The
reference is the sample logged with the model (at most 20,000 training rows, the same number
from every snapshot), whatever the portfolio's size; the batch is compared whole.
The model is trained on a separate smaller portfolio (training time is benchmarks/train.py's).
Run: .venv/bin/python benchmarks/monitor.py [--accounts N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import resource
import tempfile
import time
from pathlib import Path

import pandas as pd

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.monitoring.job import run_monitoring
from retention.scoring.job import run_scoring
from retention.settings import Settings
from retention.store.database import open_store
from retention.training.config import load_config
from retention.training.pipeline import fit_evaluate_log
from retention.training.promotion import promote
from retention.training.rows import rows_from_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--train-accounts", type=int, default=8_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            work_dir=Path(tmp), mlflow_tracking_uri=f"sqlite:///{tmp}/mlflow.db", capacity=200
        )
        print(f"training a model on {args.train_accounts:,} accounts ...", flush=True)
        folder = Path(tmp) / "train"
        write_result(simulate(SimulationConfig(accounts=args.train_accounts, seed=11)), folder)
        config = load_config()
        result = fit_evaluate_log(
            rows_from_dataset(folder, config), config, 200, settings.tracking_uri, "bench"
        )
        promote(result.version, force=True)

        print(f"simulating {args.accounts:,} accounts x 36 months and scoring ...", flush=True)
        dataset = Dataset(**simulate(SimulationConfig(accounts=args.accounts)).tables)
        engine = open_store(settings.store_url)
        batch = run_scoring(settings, dataset, engine, scored_on=dt.date(2026, 11, 30)).batch
        matured = run_scoring(settings, dataset, engine, snapshot=pd.Timestamp("2026-04-01")).batch

        for label, batch_id in (("latest", batch.id), ("matured 2026-04", matured.id)):
            began = time.perf_counter()
            run = run_monitoring(settings, dataset, engine, batch_id=batch_id)
            seconds = time.perf_counter() - began
            s = run.summary
            print(
                f"\n{label}: batch {batch_id}, {s.current_rows:,} accounts against "
                f"{s.reference.rows:,} reference rows"
            )
            print("  " + " · ".join(f"{k} {v:.1f}s" for k, v in run.seconds.items()))
            print(f"  whole monitor run: {seconds:.1f} s (target <= 60 s)")
            drift = s.drift
            print(
                f"  drifted features {len(drift.drifted)}/{drift.features_compared}, "
                f"score PSI {drift.score_psi:.3f}, retrain: {s.retrain_recommended}"
            )
            if s.realised:
                r = s.realised
                print(
                    f"  realised {r.realised_rate:.2%} vs predicted {r.predicted_rate:.2%}, "
                    f"ROC AUC {r.roc_auc:.3f} (test {s.test_roc_auc:.3f})"
                )
            sizes = ", ".join(
                f"{k} {p.stat().st_size / 1e6:.1f} MB" for k, p in run.reports.items()
            )
            print(f"  reports: {sizes}")
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"\npeak memory of the whole benchmark process: {peak:,.0f} MB")


if __name__ == "__main__":
    main()
