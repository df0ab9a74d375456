"""The tariff calculator on a large portfolio: every account's last 12 months recomputed from
the tariff tables and priced under each plan.

Issue 19's target (2 cores): 100,000 accounts x 12 months in at most 5 s. The input is a small
simulated portfolio replicated (new customer ids, their work orders too; a third of the
accounts billed by demand), so the values are the simulator's and the size is the issue's.
Setup is not timed; the figure is the best of three runs of compare_plans.
Run: .venv/bin/python benchmarks/tariff.py [--accounts N] [--seed-accounts N]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from retention.data.checks import validate_tables
from retention.data.simulator import SimulationConfig, simulate
from retention.tariffs.calculator import compare_plans
from retention.tariffs.tables import load_tariffs

TARGET_SECONDS = 5.0


def _replicated(accounts: int, seed_accounts: int) -> dict[str, pd.DataFrame]:
    """customers, monthly_usage, monthly_billing and work_orders of `accounts` accounts, copies
    of a simulated portfolio of `seed_accounts` under new ids."""
    report = validate_tables(simulate(SimulationConfig(accounts=seed_accounts, months=14)).tables)
    assert report.dataset is not None, report.to_text()
    data = report.dataset
    copies = -(-accounts // len(data.customers))
    out = {}
    for name in ("customers", "monthly_usage", "monthly_billing", "work_orders"):
        frame = data.table(name)
        assert frame is not None
        parts = [frame.assign(customer_id=frame["customer_id"] + f"-{k}") for k in range(copies)]
        out[name] = pd.concat(parts, ignore_index=True)
    customers = out["customers"].iloc[:accounts]
    rng = np.random.default_rng(19)
    mode = np.where(rng.random(len(customers)) < 1 / 3, "demand", "capacity")
    out["customers"] = customers.assign(basic_charge_mode=mode)
    kept = set(out["customers"]["customer_id"])
    for name in ("monthly_usage", "monthly_billing", "work_orders"):
        out[name] = out[name][out[name]["customer_id"].isin(kept)].reset_index(drop=True)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--accounts", type=int, default=100_000)
    parser.add_argument("--seed-accounts", type=int, default=2_000)
    args = parser.parse_args()

    print(f"simulating {args.seed_accounts:,} accounts, replicated to {args.accounts:,} ...")
    tables = _replicated(args.accounts, args.seed_accounts)
    tariffs = load_tariffs()
    usage = tables["monthly_usage"]
    end = usage["month"].max() + pd.DateOffset(months=1)
    in_window = (usage["month"] >= end - pd.DateOffset(months=12)).sum()
    times = []
    for _ in range(3):
        began = time.perf_counter()
        result = compare_plans(
            tables["customers"],
            usage,
            tables["monthly_billing"],
            tariffs,
            as_of=end,
            work_orders=tables["work_orders"],
        )
        times.append(time.perf_counter() - began)
    best = min(times)
    plans = result.accounts["best_plan"].value_counts().to_dict()
    print(
        f"compare_plans: {len(result.accounts):,} accounts, {in_window:,} account-months "
        f"({len(usage):,} usage rows read): {best:.2f} s (best of 3; runs "
        + ", ".join(f"{t:.2f}" for t in times)
        + f"); target <= {TARGET_SECONDS:g} s: {'met' if best <= TARGET_SECONDS else 'MISSED'}"
    )
    print(f"best plans: {plans}")


if __name__ == "__main__":
    main()
