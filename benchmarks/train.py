"""Training quality and time on a simulated portfolio, against baselines and the oracle.

Issue targets: test ROC AUC within 0.03 of the oracle's on the same rows; expected calibration
error at most 0.02; PR AUC above both baselines; ROC AUC at least a plain default LightGBM's
(issue 16); training at most 3 minutes for 20,000 accounts x 36 months on 2 cores.
`--no-refit --calibration-folds 0` measures the training as it was before issue 16.
Run: .venv/bin/python benchmarks/train.py [--accounts N] [--seed S]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.training.config import load_config
from retention.training.pipeline import fit_evaluate_log
from retention.training.rows import rows_from_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, default=20261129)
    parser.add_argument("--no-refit", action="store_true", help="keep the early-stopping booster")
    parser.add_argument("--calibration-folds", type=int, default=None)
    args = parser.parse_args()
    config = load_config()
    changes: dict[str, object] = {"refit": not args.no_refit}
    if args.calibration_folds is not None:
        changes["calibration_folds"] = args.calibration_folds
    config = config.model_validate({**config.model_dump(), **changes})
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dataset"
        write_result(simulate(SimulationConfig(accounts=args.accounts, seed=args.seed)), folder)
        began = time.perf_counter()
        rows = rows_from_dataset(folder, config)
        built = time.perf_counter()
        result = fit_evaluate_log(rows, config, 200, f"sqlite:///{tmp}/mlflow.db", "benchmark")
        done = time.perf_counter()
    m = result.metrics
    model, oracle = m["model"], m["oracle"]
    lr, rule = m["logistic_regression"], m["rule_consumption_down_30pct"]
    default = m["lightgbm_default"]
    gap = model["roc_auc_gap_to_oracle"]
    print(
        f"accounts {args.accounts:,} x 36 months, seed {args.seed}; "
        f"{len(rows.frame):,} training rows"
    )
    print(f"{'':28s}{'ROC AUC':>9s}{'PR AUC':>9s}{'ECE':>9s}")
    for name, values in (
        ("model (calibrated)", model),
        ("LightGBM, default parameters", default),
        ("logistic regression", lr),
        ("rule: kWh -30% yoy", rule),
        ("oracle", oracle),
    ):
        ece = f"{values['ece']:9.4f}" if "ece" in values else f"{'-':>9s}"
        print(f"{name:28s}{values['roc_auc']:9.4f}{values['pr_auc']:9.4f}{ece}")
    total = done - began
    checks = {
        "AUC within 0.03 of the oracle": gap <= 0.03,
        "ECE at most 0.02": model["ece"] <= 0.02,
        "PR AUC above both baselines": model["pr_auc"] > max(lr["pr_auc"], rule["pr_auc"]),
        "ROC AUC at least the default LightGBM's": model["roc_auc"] >= default["roc_auc"],
        "training at most 180 s": total <= 180,
    }
    print(
        f"gap to oracle {gap:.4f}; rows {built - began:.0f} s + fit, evaluate, log "
        f"{done - built:.0f} s = {total:.0f} s ({result.rounds} rounds)"
    )
    if result.fitted is not None:
        print(result.fitted.text())
    for name, ok in checks.items():
        print(f"  {'OK    ' if ok else 'MISSED'} {name}")


if __name__ == "__main__":
    main()
