"""Time to churn on a simulated portfolio: each horizon's test ROC AUC and PR AUC, and whether
the probabilities never decrease with the horizon on every row (issue 16, item 5).

Beside each shorter horizon's own probability it prints the main (6-month) probability's AUC
against the same shorter-horizon label: what the timing models add to telling the urgent risks
from the later ones. Monotonicity is checked on every row before the test, every test row and
every account scored at the snapshot after the data.
Run: .venv/bin/python benchmarks/horizons.py [--accounts N] [--seed S] [--horizon-months H]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from retention.data.dataset import Dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.features.catalogue import load_catalogue
from retention.model.registry import load_version
from retention.scoring.batch import score_snapshot
from retention.scoring.calendar import WorkingCalendar
from retention.scoring.playbook import load_playbook
from retention.training.config import load_config
from retention.training.horizons import churn_within, never_decreasing
from retention.training.pipeline import PART, fit_evaluate_log
from retention.training.rows import rows_from_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=5_000)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--horizon-months", type=int, default=None, help="default: the config's")
    args = parser.parse_args()
    config = load_config(horizon_months=args.horizon_months)
    horizon = config.churn.horizon_months
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dataset"
        simulation = simulate(SimulationConfig(accounts=args.accounts, seed=args.seed))
        write_result(simulation, folder)
        began = time.perf_counter()
        rows = rows_from_dataset(folder, config)
        result = fit_evaluate_log(rows, config, 200, f"sqlite:///{tmp}/mlflow.db", "horizons")
        trained = time.perf_counter()
        model = load_version(result.version)
        scored = score_snapshot(
            Dataset(**simulation.tables), model, load_catalogue(), load_playbook(),
            WorkingCalendar(), capacity=200,
        )  # fmt: skip
    frame = rows.frame
    test = frame[frame[PART] == "test"]
    chained = model.horizon_probabilities(model.matrix(test))
    before = model.horizon_probabilities(model.matrix(frame[frame[PART] != "test"]))
    print(
        f"accounts {args.accounts:,} x 36 months, seed {args.seed}; horizon {horizon} months; "
        f"{len(frame):,} rows, {len(test):,} test rows; timing models "
        f"{[(t.months, t.given_months) for t in model.timing]}; "
        f"training {trained - began:.0f} s"
    )
    print(
        f"{'within':>8s}{'churn':>8s}{'mean p':>8s}{'ROC AUC':>9s}{'PR AUC':>9s}"
        f"   {'main p on this label: ROC AUC':>31s}{'PR AUC':>9s}"
    )
    for months in sorted(chained):
        label = churn_within(test, months)
        p, main = chained[months], chained[horizon]
        print(
            f"{months:>6d} m{label.mean():8.4f}{p.mean():8.4f}"
            f"{roc_auc_score(label, p):9.4f}{average_precision_score(label, p):9.4f}"
            f"   {roc_auc_score(label, main):31.4f}{average_precision_score(label, main):9.4f}"
        )
    listed = scored.accounts
    scored_chain = {1: listed["probability_1m"].to_numpy(), 3: listed["probability_3m"].to_numpy()}
    scored_chain[horizon] = listed["probability"].to_numpy()
    checks = {
        f"never decreasing on all {len(before[horizon]):,} rows before the test": bool(
            never_decreasing(before).all()
        ),
        f"never decreasing on all {len(test):,} test rows": bool(never_decreasing(chained).all()),
        f"never decreasing on all {len(listed):,} accounts scored at "
        f"{scored.snapshot:%Y-%m-%d}": bool(never_decreasing(scored_chain).all()),
        "every horizon's AUC reported in the run": set(result.horizons) == set(chained)
        and all("roc_auc" in result.horizons[m] for m in chained),
    }
    print(
        f"scored list: mean churn within {' / '.join(map(str, sorted(scored_chain)))} months "
        + " / ".join(f"{np.mean(scored_chain[m]):.4f}" for m in sorted(scored_chain))
    )
    for name, ok in checks.items():
        print(f"  {'OK    ' if ok else 'MISSED'} {name}")


if __name__ == "__main__":
    main()
