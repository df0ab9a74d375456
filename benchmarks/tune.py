"""`retention tune` on the demo portfolio: trials, best validation AUC, minutes; then the test
AUC of the tuned config next to the default one's.

Issue target: 30 trials on the 5,000-account demo portfolio in at most 10 minutes on 2 cores.
It runs what a user would: `retention simulate --out DIR --accounts 5000` (the demo's months,
start and seed), `retention tune DIR --trials 30`, then trains with training/default.yaml and
with the tuned YAML on the same rows and prints both test ROC AUCs (the test rows are never
seen by the search).
Run: .venv/bin/python benchmarks/tune.py [--accounts N] [--trials N] [--dataset DIR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from retention.settings import Settings
from retention.training.config import load_config
from retention.training.pipeline import fit_evaluate_log
from retention.training.rows import rows_from_dataset


def _retention(args: list[str], env: dict[str, str]) -> float:
    """Run a `retention` command; its minutes."""
    began = time.perf_counter()
    subprocess.run([sys.executable, "-m", "retention.cli", *args], env=env, check=True)
    return (time.perf_counter() - began) / 60


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=Settings().demo_accounts)
    parser.add_argument("--trials", type=int, default=30)
    parser.add_argument("--dataset", type=Path, help="an existing dataset folder to tune on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            **os.environ,
            "RETENTION_WORK_DIR": f"{tmp}/var",
            "RETENTION_MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlruns/mlflow.db",
        }
        folder = args.dataset or Path(tmp) / "demo"
        if args.dataset is None:
            _retention(["simulate", "--out", str(folder), "--accounts", str(args.accounts)], env)
        tuned = Path(tmp) / "tuned.yaml"
        minutes = _retention(
            ["tune", str(folder), "--trials", str(args.trials), "--out", str(tuned)], env
        )
        print(f"== tune: {args.trials} trials in {minutes:.1f} min (rows built included)")
        print(tuned.read_text(encoding="utf-8").split("\nname:")[0])
        default = load_config()
        rows = rows_from_dataset(folder, default)
        aucs = {}
        for name, config in (("default", default), ("tuned", load_config(tuned))):
            result = fit_evaluate_log(rows, config, 200, env["RETENTION_MLFLOW_TRACKING_URI"], name)
            model = result.metrics["model"]
            aucs[name] = model["roc_auc"]
            print(
                f"{name:8s} test ROC AUC {model['roc_auc']:.4f} · PR AUC {model['pr_auc']:.4f}"
                f" · {result.rounds} rounds"
            )
    print(f"tuned - default test ROC AUC: {aucs['tuned'] - aucs['default']:+.4f}")
    ok = minutes <= 10
    print(f"[{'ok' if ok else 'FAIL'}] {args.trials} trials in at most 10 minutes")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
