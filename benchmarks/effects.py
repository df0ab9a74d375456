"""The effect models of the retention actions (issue 17, item 3) on the simulator: per action,
the Qini coefficient of the model against the oracle's (ranking by the true effects), both on
the randomised outcomes of the test months, the true churn averted by each ranking, and the
correlation of the estimated effects with the true ones; the spread over seeds.

Run: .venv/bin/python benchmarks/effects.py [--accounts N] [--months M] [--seeds 1 2 3]
     [--min-treated 200] [--min-controls 200] [--learner shared_base|t_learner]
"""

from __future__ import annotations

import argparse
import time

import pandas as pd

from retention.data.checks import validate_tables
from retention.data.simulator import SimulationConfig, simulate
from retention.data.simulator.campaigns import CampaignPolicy
from retention.training import effects

COLUMNS = {
    "treated": "treated",
    "test_treated": "test_treated",
    "qini_model": "qini_model",
    "qini_oracle": "qini_oracle",
    "true_qini_model": "true_qini_model",
    "true_qini_oracle": "true_qini_oracle",
    "correlation_true": "corr",
    "mean_effect_estimated": "mean_est",
    "mean_effect_true": "mean_true",
}


def one_seed(accounts: int, months: int, seed: int, config: effects.EffectsConfig) -> pd.DataFrame:
    """One simulation with campaigns, its effect models, a row per action modelled."""
    began = time.perf_counter()
    result = simulate(
        SimulationConfig(accounts=accounts, months=months, seed=seed, campaigns=CampaignPolicy())
    )
    report = validate_tables(result.tables)
    assert report.dataset is not None
    rows = effects.assignment_rows(report.dataset, config)
    truth = effects.as_truth(result.truth["action_effects"])
    actions, _ = effects.estimate_effects(rows, config, truth)
    took = time.perf_counter() - began
    print(f"seed {seed}: {len(rows):,} randomised rows, {took:.1f} s")
    table = pd.DataFrame(
        [
            {"seed": seed, "action": a.action, "status": a.status, "treated": a.treated} | a.metrics
            for a in actions
            if a.treated
        ]
    )
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    parser.add_argument("--min-treated", type=int, default=effects.MIN_TREATED)
    parser.add_argument("--min-controls", type=int, default=effects.MIN_CONTROLS)
    parser.add_argument("--learner", choices=["shared_base", "t_learner"], default="shared_base")
    args = parser.parse_args()
    config = effects.EffectsConfig(
        min_treated=args.min_treated, min_controls=args.min_controls, learner=args.learner
    )
    pd.set_option("display.width", 200)
    pd.set_option("display.max_columns", 20)
    every = pd.concat(
        [one_seed(args.accounts, args.months, seed, config) for seed in args.seeds],
        ignore_index=True,
    )
    shown = every.set_index(["action", "seed"])[["status", *COLUMNS]].rename(columns=COLUMNS)
    print(shown.sort_index().round(4).to_string())
    modelled = every[every["status"] == effects.MODELLED]
    if modelled.empty:
        print("no action with enough evidence / 证据不足")
        return
    spread = modelled.groupby("action")[list(COLUMNS)[2:7]].agg(["mean", "std"])
    print("\nover seeds (modelled only), mean and sd:")
    print(spread.round(4).to_string())
    beats = (modelled["true_qini_model"] > 0).mean()
    print(f"\nshare of modelled action-seeds ranking better than random in truth: {beats:.2f}")


if __name__ == "__main__":
    main()
