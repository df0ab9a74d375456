"""The applicants' withdrawal model on a simulated portfolio, against its baselines and the
oracle (the simulator's hidden withdrawal probability).

Issue 15 targets: out-of-time ROC AUC and PR AUC above both baselines (the rule "any step
overdue" and a logistic regression); ROC AUC within 0.03 of the oracle's on the same rows.
The test window holds about 200 withdrawals, so the differences are also shown with a 90%
interval from BOOTSTRAP resamples of the test's applications (each with all its rows).
Several seeds print a table at the end (seed x model, logistic and rule ROC / PR AUC, the
oracle's ROC AUC, the gap, the test's withdrawals and the job's verdict against the logistic
regression: ahead, trails within the noise, worse beyond it).
Run: .venv/bin/python benchmarks/withdrawal.py [--accounts N] [--seed S [S ...]]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import average_precision_score, roc_auc_score

from retention.applications.clocks import load_service_clocks
from retention.applications.withdrawal import (
    CATEGORICAL,
    FEATURES,
    KEY,
    LABEL,
    NUMERIC,
    TIME,
    Applicants,
    applicants_of,
    snapshot_dates,
    training_rows,
)
from retention.data.loading import load_dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.model import registry
from retention.scoring.calendar import WorkingCalendar
from retention.training.baselines import as_object, logistic_regression
from retention.training.withdrawal import (
    WITHDRAWAL_MODEL,
    WithdrawalConfig,
    WithdrawalResult,
    simulator_oracle,
    split_rows,
    train_withdrawal,
)

BOOTSTRAP = 300


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=20_000)
    parser.add_argument("--seed", type=int, nargs="+", default=[20261129])
    args = parser.parse_args()
    table = [run(args.accounts, seed) for seed in args.seed]
    print(f"\n{args.accounts:,} accounts; ROC AUC / PR AUC on each seed's test window")
    header = ("seed", "model", "logistic", "rule", "oracle ROC", "gap", "withdrawals", "verdict")
    print(" | ".join(header))
    for line in table:
        print(" | ".join(line))


def run(accounts: int, seed: int) -> tuple[str, ...]:
    """One seed: simulate, train as the product does, print its figures; its table row."""
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "dataset"
        write_result(simulate(SimulationConfig(accounts=accounts, seed=seed)), folder)
        applicants = applicants_of(load_dataset(folder))  # validated against the contract
        uri = f"sqlite:///{tmp}/mlflow.db"
        began = time.perf_counter()
        oracle = simulator_oracle(folder)
        result = train_withdrawal(
            applicants, load_service_clocks(), WorkingCalendar(), uri, oracle=oracle
        )
        seconds = time.perf_counter() - began
        intervals = bootstrap(applicants, result, uri, oracle)
    print(f"seed {seed}: {len(applicants.applications):,} applications; rows {result.rows}; "
          f"{seconds:.1f} s")  # fmt: skip
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
    for name, (mean, low, high) in intervals.items():
        print(f"{name:34s} {mean:+.3f}  90% [{low:+.3f}, {high:+.3f}]")
    print(f"the job's verdict against the logistic regression: {result.against_logistic}")

    def pair(name: str) -> str:
        return f"{result.metrics[name]['roc_auc']:.3f} / {result.metrics[name]['pr_auc']:.3f}"

    oracle_roc = result.metrics.get("oracle", {}).get("roc_auc", float("nan"))
    return (
        str(seed), pair("model"), pair("logistic_regression"), pair("rule_any_step_overdue"),
        f"{oracle_roc:.3f}", f"{model.get('roc_auc_gap_to_oracle', float('nan')):.3f}",
        f"{model['positives']:.0f}", result.against_logistic,
    )  # fmt: skip


def bootstrap(
    applicants: Applicants, result: WithdrawalResult, uri: str, oracle: pd.DataFrame | None
) -> dict[str, tuple[float, float, float]]:
    """Mean and 90% interval, over resamples of the test's applications, of the registered
    model's ROC and PR AUC less the logistic regression's, and of the oracle's ROC AUC less
    the model's (the same rows and the same fits as the run)."""
    config = WithdrawalConfig()
    rows = training_rows(
        applicants, load_service_clocks(), WorkingCalendar(),
        snapshot_dates(applicants, config.horizon_months), config.horizon_months,
    )  # fmt: skip
    parts = split_rows(rows, config)
    test, learnt = parts["test"], parts["learning"]
    registry.configure(uri)
    scores = {"model": registry.load_version(result.version, WITHDRAWAL_MODEL).predict_proba(test)}
    lr = logistic_regression(NUMERIC, CATEGORICAL).fit(
        as_object(learnt[FEATURES], CATEGORICAL), learnt[LABEL].to_numpy(int)
    )
    scores["lr"] = lr.predict_proba(as_object(test[FEATURES], CATEGORICAL))[:, 1]
    if oracle is not None:
        truth = test[[KEY, TIME]].merge(oracle, on=[KEY, TIME], how="left")["probability"]
        scores["oracle"] = truth.fillna(truth.mean()).to_numpy(float)
    label = test[LABEL].to_numpy(int)
    by_application = list(test.groupby(KEY).indices.values())
    rng = np.random.default_rng(0)
    draws: dict[str, list[float]] = {}
    for _ in range(BOOTSTRAP):
        pick = np.concatenate(
            [by_application[i] for i in rng.integers(0, len(by_application), len(by_application))]
        )
        y, s = label[pick], {k: v[pick] for k, v in scores.items()}
        roc = {k: roc_auc_score(y, v) for k, v in s.items()}
        draws.setdefault("model - logistic ROC AUC", []).append(roc["model"] - roc["lr"])
        draws.setdefault("model - logistic PR AUC", []).append(
            average_precision_score(y, s["model"]) - average_precision_score(y, s["lr"])
        )
        if "oracle" in roc:
            draws.setdefault("oracle - model ROC AUC (gap)", []).append(
                roc["oracle"] - roc["model"]
            )
    return {
        name: (float(np.mean(v)), float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95)))
        for name, v in draws.items()
    }


if __name__ == "__main__":
    main()
