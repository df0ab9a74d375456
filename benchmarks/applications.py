"""The applicants' watch list at scale (issue 15): 20,000 open applications with 200,000 steps
in at most 10 s.

Builds typed frames in the data contract's columns synthetically (no simulator): 37,200
applications accepted over two years, 20,000 of them open at the watch date, and their steps
in process order, each started when the one before finished. Prints the time of the watch list
and of the per-application summary.
Run: .venv/bin/python benchmarks/applications.py [--open N] [--closed N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time

import numpy as np
import pandas as pd

from retention.applications.clocks import STEP_CODES, load_service_clocks
from retention.applications.watch import application_summary, watch_list
from retention.scoring.calendar import WorkingCalendar

AS_OF = dt.date(2026, 6, 1)
TARGET_SECONDS = 10.0


def applications_frame(rng: np.random.Generator, n_open: int, n_closed: int) -> pd.DataFrame:
    """`n_open` applications open at AS_OF (accepted in the 8 months before it) and
    `n_closed` closed before it."""
    n = n_open + n_closed
    as_of = np.datetime64(AS_OF, "s")
    back = np.where(
        np.arange(n) < n_open, rng.integers(1, 240 * 86400, n), rng.integers(300, 700, n) * 86400
    )
    accepted = as_of - back.astype("timedelta64[s]")
    closed = accepted + rng.integers(60, 280, n).astype("timedelta64[D]")
    closed = np.where(np.arange(n) < n_open, np.datetime64("NaT"), closed)
    closed = np.minimum(closed, as_of - np.timedelta64(1, "D"))  # NaT stays NaT
    kind = rng.choice(["new_connection", "capacity_increase"], n)
    return pd.DataFrame(
        {
            "application_id": pd.Series([f"YK{i:08d}" for i in range(n)], dtype="str"),
            "applicant_name": pd.Series([f"applicant {i}" for i in range(n)], dtype="str"),
            "application_type": pd.Series(kind, dtype="str"),
            "customer_id": pd.Series(
                np.where(kind == "capacity_increase", [f"C{i:07d}" for i in range(n)], None),
                dtype="str",
            ),
            "industry_code": pd.Series(rng.choice(["C26", "C30", "D44", "I65"], n), dtype="str"),
            "region": pd.Series(rng.choice([f"unit-{i:02d}" for i in range(13)], n), dtype="str"),
            "voltage_kv": rng.choice([0.4, 10.0, 35.0, 110.0], n, p=[0.2, 0.6, 0.15, 0.05]),
            "requested_capacity_kva": rng.uniform(100, 40_000, n).round(0),
            "supply_type": pd.Series(rng.choice(["single", "dual"], n, p=[0.8, 0.2]), dtype="str"),
            "channel": pd.Series(
                rng.choice(["online_app", "service_hall", "account_manager"], n), dtype="str"
            ),
            "accepted_at": pd.Series(accepted).astype("datetime64[us]"),
            "status": pd.Series(np.where(np.isnat(closed), "open", "connected"), dtype="str"),
            "closed_at": pd.Series(closed).astype("datetime64[us]"),
            "owner_id": pd.Series([f"AM{i % 400:04d}" for i in range(n)], dtype="str"),
        }
    )


def steps_frame(rng: np.random.Generator, applications: pd.DataFrame) -> pd.DataFrame:
    """Steps in process order, each started when the one before finished; an open
    application stops at a random step, still running or finished late in the data."""
    n = len(applications)
    is_open = applications["closed_at"].isna().to_numpy()
    reached = np.where(is_open, rng.integers(1, len(STEP_CODES) + 1, n), len(STEP_CODES))
    clock = applications["accepted_at"].to_numpy().astype("datetime64[s]")
    parts = []
    for i, code in enumerate(STEP_CODES):
        has = reached > i
        took = rng.gamma(2.0, 3.0, n) * 86400
        finished = clock + took.astype("timedelta64[s]")
        finished = np.where(is_open & (reached == i + 1), np.datetime64("NaT"), finished)
        parts.append(
            pd.DataFrame(
                {
                    "application_id": applications["application_id"][has],
                    "step_code": code,
                    "started_at": pd.Series(clock[has]).astype("datetime64[us]").to_numpy(),
                    "finished_at": pd.Series(finished[has]).astype("datetime64[us]").to_numpy(),
                    "document_requests": pd.array(rng.poisson(0.3, int(has.sum())), "Int64"),
                    "handled_by": pd.Series(["S0001"] * int(has.sum()), dtype="str").to_numpy(),
                }
            )
        )
        clock = np.where(np.isnat(finished), clock, finished)
    steps = pd.concat(parts, ignore_index=True)
    return steps.astype({"step_code": "str", "handled_by": "str"})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=20_000)
    parser.add_argument("--closed", type=int, default=17_200)
    args = parser.parse_args()
    rng = np.random.default_rng(15)
    applications = applications_frame(rng, args.open, args.closed)
    steps = steps_frame(rng, applications)
    clocks = load_service_clocks()
    calendar = WorkingCalendar()
    started = time.perf_counter()
    watch = watch_list(applications, steps, clocks, calendar, AS_OF)
    watched = time.perf_counter() - started
    summary = application_summary(applications, steps, watch, calendar, AS_OF)
    total = time.perf_counter() - started
    print(
        f"{len(summary):,} open applications of {len(applications):,}, {len(steps):,} steps: "
        f"watch list {len(watch):,} clocks in {watched:.2f} s, with the summary {total:.2f} s "
        f"(target {TARGET_SECONDS:.0f} s); states {watch['state'].value_counts().to_dict()}"
    )
    if total > TARGET_SECONDS:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
