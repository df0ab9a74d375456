"""A served champion for the HTTP benchmarks: a simulated portfolio, a model trained on it and
promoted, a scored batch in a SQLite store, a CRM key, and uvicorn serving all of it in a
process of its own on 127.0.0.1."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from retention.data.loading import load_dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.scoring.job import run_scoring
from retention.serving.score_input import body_from_dataset
from retention.settings import Settings
from retention.store.database import open_store
from retention.store.keys import create_key
from retention.training.config import load_config
from retention.training.pipeline import fit_evaluate_log
from retention.training.promotion import promote
from retention.training.rows import rows_from_dataset


@dataclass(frozen=True)
class Served:
    base: str  # http://127.0.0.1:PORT
    key: str  # a CRM key
    customer: str  # the batch's first account
    body: dict[str, Any]  # a POST /v1/score body for that account, all its rows
    pid: int  # the server process
    ready_seconds: float


@contextmanager
def served(
    accounts: int = 3000, env: dict[str, str] | None = None, database_url: str | None = None
) -> Iterator[Served]:
    """Prepare everything, start the server, yield where it is; stop it at the end.

    `database_url`: the store (default SQLite in a temporary folder), e.g. an empty
    PostgreSQL schema."""
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "data"
        print(f"preparing: {accounts:,} accounts, a champion, a scored batch ...", flush=True)
        write_result(simulate(SimulationConfig(accounts=accounts)), data)
        settings = Settings(
            work_dir=work,
            data_dir=data,
            mlflow_tracking_uri=f"sqlite:///{work}/mlflow.db",
            database_url=database_url,
        )
        config = load_config()
        result = fit_evaluate_log(
            rows_from_dataset(data, config), config, 200, settings.tracking_uri, "bench"
        )
        promote(result.version)
        engine = open_store(settings.store_url)
        dataset = load_dataset(data)
        run = run_scoring(settings, dataset, engine)
        key = create_key(engine, "crm", "benchmark")[0]
        engine.dispose()
        customer = str(run.scored.accounts["customer_id"].iloc[0])
        body = body_from_dataset(dataset, [customer])

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        environment = {
            **os.environ,
            "RETENTION_WORK_DIR": str(work),
            "RETENTION_MLFLOW_TRACKING_URI": settings.tracking_uri,
            "RETENTION_DATABASE_URL": settings.store_url,
            **(env or {}),
        }
        began = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "retention.serving.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=environment,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            while True:
                try:
                    if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.perf_counter() - began > 120:
                    raise SystemExit("the server did not start")
                time.sleep(0.1)
            ready = time.perf_counter() - began
            # the first scoring call waits for the worker processes to be up
            headers = {"Authorization": f"Bearer {key}"}
            httpx.post(f"{base}/v1/score", json=body, headers=headers, timeout=120)
            yield Served(base, key, customer, body, server.pid, ready)
        finally:
            server.terminate()
            server.wait(timeout=60)


def tree_rss_mb(pid: int) -> float:
    """Resident memory of a process and all its descendants (the scoring workers), in MB."""
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/statm") as statm:
                total += int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
            with open(f"/proc/{current}/task/{current}/children") as children:
                todo += [int(c) for c in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            continue
    return total / 1e6
