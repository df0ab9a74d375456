"""Render times of the connection applications' pages with 20,000 open applications in the
store (target: p99 under 300 ms for the first page of /applications and a filtered one).

A synthetic watch run (20,000 open applications, their clocks, actions and KPI rows) is written
to a SQLite store; uvicorn serves the pages on 127.0.0.1 and one signed-in client times each.
Run: .venv/bin/python benchmarks/web_applications.py [--applications N] [--repeat R]
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import socket
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import uvicorn

from retention.data.contract import STEP_CODES
from retention.records.applications import (
    APPLICATION_ACTION_COLUMNS,
    APPLICATION_COLUMNS,
    CLOCK_COLUMNS,
    KPI_COLUMNS,
    WatchRun,
)
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.settings import Settings
from retention.store.applications import write_watch_run
from retention.store.database import open_store
from retention.store.users import create_user

AS_OF = dt.date(2026, 12, 2)
TARGET_MS = 300


def synthetic_run(n: int, seed: int = 11) -> WatchRun:
    """n open applications in 20 units and 300 managers, each with 1 to 5 clocked steps (the
    last running or overdue), one or two actions, and KPI rows by step and unit."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"YK{2026000000 + i}" for i in range(n)])
    steps_done = rng.integers(0, len(STEP_CODES) - 2, n)
    overdue = rng.random(n) < 0.2
    worst = np.where(overdue, rng.integers(1, 30, n), 0)
    probability = rng.beta(1.2, 8, n)
    revenue = rng.uniform(2e4, 3e6, n)
    next_due = pd.to_datetime(AS_OF) + pd.to_timedelta(rng.integers(0, 30, n), unit="D")
    applications = pd.DataFrame(
        {
            "application_id": ids,
            "rank": 0,
            "application_type": rng.choice(["new_connection", "capacity_increase"], n),
            "unit": rng.choice([f"unit-{u:02d}" for u in range(20)], n),
            "owner_id": rng.choice([f"AM{m:04d}" for m in range(300)], n),
            "channel": rng.choice(["online_app", "service_hall", "account_manager"], n),
            "voltage_kv": rng.choice([0.4, 10.0, 35.0, 110.0], n),
            "requested_capacity_kva": rng.uniform(100, 20_000, n).round(),
            "supply_type": rng.choice(["single", "dual"], n),
            "accepted_at": pd.to_datetime(AS_OF) - pd.to_timedelta(rng.integers(1, 200, n), "D"),
            "customer_id": None,
            "working_days_open": rng.integers(1, 140, n),
            "steps_overdue": overdue.astype(int),
            "worst_overdue_working_days": worst,
            "next_due_step": [STEP_CODES[s + 1] for s in steps_done],
            "next_due_date": next_due.where(~overdue),
            "document_requests": rng.integers(0, 4, n),
            "withdrawal_probability": probability,
            "revenue_at_stake_cny": revenue,
            "money_at_stake_cny": probability * revenue,
        }
    )
    applications = applications.sort_values(
        ["steps_overdue", "worst_overdue_working_days", "money_at_stake_cny"],
        ascending=False,
        ignore_index=True,
    )
    applications["rank"] = np.arange(1, n + 1)
    clocks = _clocks(applications, rng)
    actions = pd.DataFrame(
        {
            "application_id": ids,
            "position": 1,
            "code": "chase_step",
            "text_zh": "催办当前环节",
            "text_en": "chase the current step",
            "role": "connection_team",
            "owner_zh": "业扩报装班组",
            "owner_en": "connection (业扩) team",
            "due_date": AS_OF + dt.timedelta(days=2),
            "due_working_days": 2,
        }
    )
    kpis = pd.DataFrame(
        [("overall", "all")]
        + [("step", code) for code in STEP_CODES]
        + [("unit", f"unit-{u:02d}") for u in range(20)],
        columns=["dimension", "key"],
    ).assign(
        archived=120, archived_on_time=100, on_time_share=100 / 120,
        median_working_days_to_energise=38.0, p90_working_days_to_energise=61.0,
        open_now=n, open_overdue_now=int(overdue.sum()), withdrawn=15,
        withdrawn_capacity_kva=12_000.0, withdrawn_revenue_cny=2.4e6,
    )  # fmt: skip
    return WatchRun(
        AS_OF,
        AS_OF.replace(day=1),
        AS_OF,
        "1",
        applications[APPLICATION_COLUMNS],
        clocks[CLOCK_COLUMNS],
        actions[APPLICATION_ACTION_COLUMNS],
        kpis[KPI_COLUMNS],
    )


def _clocks(applications: pd.DataFrame, rng: np.random.Generator) -> pd.DataFrame:
    """Finished steps on time, then the current one running (or overdue)."""
    rows = []
    for app in applications.itertuples():
        current = STEP_CODES.index(app.next_due_step)
        for i, code in enumerate(STEP_CODES[: current + 1]):
            start = AS_OF - dt.timedelta(days=10 * (current + 1 - i))
            running = i == current
            state = ("overdue" if app.steps_overdue else "running") if running else "on_time"
            rows.append(
                (app.application_id, code, "connection_team", 5, start,
                 start + dt.timedelta(days=7), None if running else start + dt.timedelta(days=5),
                 state, int(rng.integers(0, 6)) if state == "running" else None,
                 app.worst_overdue_working_days if state == "overdue" else None, None)
            )  # fmt: skip
    return pd.DataFrame(rows, columns=CLOCK_COLUMNS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applications", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        print("writing the watch run ...", flush=True)
        run = synthetic_run(args.applications)
        url = f"sqlite:///{work / 'store.db'}"
        engine = open_store(url)
        began = time.perf_counter()
        write_watch_run(engine, run)
        print(f"{len(run.applications):,} applications, {len(run.clocks):,} clocks written "
              f"in {time.perf_counter() - began:.1f} s")  # fmt: skip
        create_user(engine, "bench", "bench-password", "admin")
        # The pages of the applications use no churn model: a stand-in keeps start-up short.
        app = create_app(
            Settings(database_url=url, work_dir=work),
            load_model=lambda: ServingModel("bench", "0", None),  # type: ignore[arg-type]
        )
        results = _time_pages(app, _pages(run), args.repeat)

    print(f"\n{args.applications:,} open applications; {args.repeat} requests per page, one client")
    print(f"{'page':46s}{'p50 ms':>9s}{'p99 ms':>9s}{'max ms':>9s}")
    for name, values in results.items():
        print(
            f"{name:46s}{np.percentile(values, 50):9.1f}{np.percentile(values, 99):9.1f}"
            f"{values.max():9.1f}"
        )
    listed = [np.percentile(v, 99) for k, v in results.items() if k.startswith("/applications?")]
    worst = max(listed)
    verdict = "ok" if worst < TARGET_MS else "MISSED"
    print(f"[{verdict}] /applications p99 under {TARGET_MS} ms (worst {worst:.0f} ms)")


def _pages(run: WatchRun) -> dict[str, str]:
    unit = str(run.applications["unit"].iloc[0])
    first = str(run.applications["application_id"].iloc[0])
    return {
        "/applications? (first page)": "/applications",
        "/applications?unit=…&step=…&due_within=5": (
            f"/applications?unit={unit}&step=design_review&due_within=5"
        ),
        "/applications?overdue=yes&sort=money&page=3": (
            "/applications?overdue=yes&sort=money&page=3"
        ),
        "/applications?sort=next_due&page=200": "/applications?sort=next_due&page=200",
        "/applications/{id}": f"/applications/{first}",
        "/assessment/applications": "/assessment/applications",
    }


def _time_pages(app, pages: dict[str, str], repeat: int) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    results = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120) as client:
        login = client.get("/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', login).group(1)  # type: ignore[union-attr]
        client.post(
            "/login", data={"username": "bench", "password": "bench-password", "csrf": csrf}
        )
        for name, path in pages.items():
            client.get(path)  # warm: templates compiled, statements cached
            times = []
            for _ in range(repeat):
                began = time.perf_counter()
                response = client.get(path)
                times.append(time.perf_counter() - began)
                assert response.status_code == 200, (path, response.status_code)
            results[name] = np.array(times) * 1000
    server.should_exit = True
    thread.join(timeout=30)
    return results


if __name__ == "__main__":
    main()
