"""The applicants' withdrawal model on a simulated portfolio, against its baselines and the
oracle (the simulator's hidden withdrawal probability).

Issue 15 targets: out-of-time ROC AUC and PR AUC above both baselines (the rule "any step
overdue" and a logistic regression); ROC AUC within 0.03 of the oracle's on the same rows.
Run: .venv/bin/python benchmarks/withdrawal.py [--accounts N] [--seed S]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from retention.applications.clocks import load_service_clocks
from retention.applications.withdrawal import applicants_of
from retention.data.loading import load_dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.scoring.calendar import WorkingCalendar
from retention.training.withdrawal import simulator_oracle, train_withdrawal


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261129)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dataset"
        write_result(simulate(SimulationConfig(accounts=args.accounts, seed=args.seed)), folder)
        applicants = applicants_of(load_dataset(folder))
        began = time.perf_counter()
        result = train_withdrawal(
            applicants,
            load_service_clocks(),
            WorkingCalendar(),
            f"sqlite:///{tmp}/mlflow.db",
            oracle=simulator_oracle(folder),
        )
        seconds = time.perf_counter() - began
    print(f"{len(applicants.applications):,} applications; rows {result.rows}; {seconds:.1f} s")
    print(f"{'':26s}{'ROC AUC':>9s}{'PR AUC':>9s}")
    for name, values in result.metrics.items():
        print(f"{name:26s}{values['roc_auc']:9.3f}{values['pr_auc']:9.3f}")
    model = result.metrics["model"]
    baselines = ("rule_any_step_overdue", "logistic_regression")
    checks = {
        "ROC AUC above both baselines": all(
            model["roc_auc"] > result.metrics[b]["roc_auc"] for b in baselines
        ),
        "PR AUC above both baselines": all(
            model["pr_auc"] > result.metrics[b]["pr_auc"] for b in baselines
        ),
        "gap to the oracle <= 0.03": model.get("roc_auc_gap_to_oracle", 1.0) <= 0.03,
    }
    print(f"ROC AUC gap to the oracle: {model.get('roc_auc_gap_to_oracle', float('nan')):.3f}")
    print("  ".join(f"[{'ok' if ok else 'MISSED'}] {name}" for name, ok in checks.items()))


if __name__ == "__main__":
    main()
