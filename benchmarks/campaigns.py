"""The simulator's past retention campaigns (issue 17): the true effect of each action by
hidden driver and by hidden state, and what the randomised edge of the team's capacity shows
(control minus followed-up churn over 6 months, against the mean true effect), per seed.

Run: .venv/bin/python benchmarks/campaigns.py [--accounts N] [--months M] [--seeds 1 2 3]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from retention.data.simulator import SimulationConfig, SimulationResult, simulate
from retention.data.simulator.campaigns import CampaignPolicy

HORIZON = pd.DateOffset(months=6)


def effects_by_driver(result: SimulationResult) -> pd.DataFrame:
    """Mean true effect (churn probability points) of each action by driver, every active
    account-snapshot, and the same among accounts weakening or leaving (W, L)."""
    effects = result.truth["action_effects"].merge(
        result.truth["accounts"][["customer_id", "driver"]], on="customer_id"
    )
    states = result.truth["churn_probability"][["customer_id", "snapshot_date", "hidden_state"]]
    effects = effects.merge(states, on=["customer_id", "snapshot_date"])
    every = effects.pivot_table(index="action_code", columns="driver", values="effect")
    troubled = effects[effects["hidden_state"].isin(["W", "L"])]
    in_trouble = troubled.pivot_table(index="action_code", columns="driver", values="effect")
    return pd.concat({"all": every, "W or L": in_trouble}, axis=1)


def randomised_edge(result: SimulationResult) -> dict[str, float]:
    """The edge's realised difference in 6-month churn and the mean true effect given."""
    a = result.truth["campaign_assignments"]
    edge = a[a["randomised"] & (a["snapshot_date"] + HORIZON <= result.config.extract_date)]
    first = result.truth["churn_events"].groupby("customer_id")["event_date"].min()
    event = edge["customer_id"].map(first)
    churned = (event >= edge["snapshot_date"]) & (event < edge["snapshot_date"] + HORIZON)
    control, followed = churned[edge["arm"] == "control"], churned[edge["arm"] == "followed_up"]
    given = edge[edge["arm"] == "followed_up"]
    effect = result.truth["action_effects"].set_index(
        ["customer_id", "snapshot_date", "action_code"]
    )["effect"]
    keys = pd.MultiIndex.from_frame(given[["customer_id", "snapshot_date", "action_code"]])
    true = effect.reindex(keys).to_numpy() * given["contacted"].to_numpy()
    return {
        "control": len(control),
        "followed_up": len(followed),
        "churn_control": control.mean(),
        "churn_followed": followed.mean(),
        "difference": control.mean() - followed.mean(),
        "se": float(np.sqrt(control.var() / len(control) + followed.var() / len(followed))),
        "true_mean_effect": float(true.mean()),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=5000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1])
    args = parser.parse_args()
    pd.set_option("display.width", 160)
    for seed in args.seeds:
        began = time.perf_counter()
        config = SimulationConfig(
            accounts=args.accounts, months=args.months, seed=seed, campaigns=CampaignPolicy()
        )
        result = simulate(config)
        took = time.perf_counter() - began
        outcomes = result.tables["interventions"]["outcome"].value_counts().to_dict()
        print(f"seed {seed}: {args.accounts:,} accounts x {args.months} months in {took:.1f} s")
        print(f"  interventions: {len(result.tables['interventions']):,} {outcomes}")
        print("  mean true effect (6-month churn probability averted) by action and driver:")
        print((effects_by_driver(result) * 100).round(2).to_string())
        edge = randomised_edge(result)
        print(
            f"  randomised edge: {edge['control']:,} control, {edge['followed_up']:,} followed "
            f"up; churn {edge['churn_control']:.3f} vs {edge['churn_followed']:.3f}; "
            f"difference {edge['difference']:.4f} (se {edge['se']:.4f}), mean true effect "
            f"given {edge['true_mean_effect']:.4f}"
        )


if __name__ == "__main__":
    main()
