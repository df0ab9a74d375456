"""API throughput and latency: uvicorn on 127.0.0.1, driven from a second process.

Issue targets on 2 cores: GET /v1/accounts/{id}/risk p99 at most 50 ms and at least 0.3 of
the /healthz throughput; POST /v1/score with one account p99 at most 150 ms.
Run: .venv/bin/python benchmarks/api.py [--seconds S] [--concurrency C]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx
import numpy as np

from retention.data.io import load_dataset
from retention.data.simulator import SimulationConfig, simulate, write_result
from retention.scoring.job import run_scoring
from retention.serving.score_input import body_from_dataset
from retention.settings import Settings
from retention.store.database import open_store
from retention.store.keys import create_key
from retention.training.config import load_config
from retention.training.pipeline import fit_evaluate_log
from retention.training.registry import promote
from retention.training.rows import rows_from_dataset


def drive(url: str, method: str, headers: dict, body, seconds: float, threads: int, out) -> None:  # type: ignore[no-untyped-def]
    """In the driver process: `threads` clients in a closed loop for `seconds`."""
    latencies: list[float] = []
    errors = [0]
    lock = threading.Lock()
    stop = time.perf_counter() + seconds

    def client_loop() -> None:
        mine, bad = [], 0
        with httpx.Client(headers=headers, timeout=30) as client:
            while time.perf_counter() < stop:
                began = time.perf_counter()
                response = client.request(method, url, json=body)
                mine.append(time.perf_counter() - began)
                bad += response.status_code >= 400
        with lock:
            latencies.extend(mine)
            errors[0] += bad

    began = time.perf_counter()
    workers = [threading.Thread(target=client_loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((latencies, errors[0], time.perf_counter() - began))


def measure(url: str, method: str, headers: dict, body, seconds: float, threads: int):  # type: ignore[no-untyped-def]
    queue: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(
        target=drive, args=(url, method, headers, body, seconds, threads, queue)
    )
    process.start()
    latencies, errors, elapsed = queue.get()
    process.join()
    values = np.array(latencies) * 1000
    return {
        "rps": len(values) / elapsed,
        "p50": float(np.percentile(values, 50)),
        "p99": float(np.percentile(values, 99)),
        "n": len(values),
        "errors": errors,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--accounts", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = work / "data"
        print(f"preparing: {args.accounts:,} accounts, a champion, a scored batch ...", flush=True)
        write_result(simulate(SimulationConfig(accounts=args.accounts)), data)
        settings = Settings(
            work_dir=work, data_dir=data, mlflow_tracking_uri=f"sqlite:///{work}/mlflow.db"
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
        customer = str(run.scored.accounts["customer_id"].iloc[0])
        body = body_from_dataset(dataset, [customer])

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        env = {
            **os.environ,
            "RETENTION_WORK_DIR": str(work),
            "RETENTION_MLFLOW_TRACKING_URI": settings.tracking_uri,
        }
        began = time.perf_counter()
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "retention.serving.app:create_app", "--factory",
             "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"],
            env=env,
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
            headers = {"Authorization": f"Bearer {key}"}
            c = args.concurrency
            # The score target is a latency: one CRM call while a manager is on the phone;
            # its throughput under `c` concurrent callers is printed beside it.
            scenarios = {
                "GET /healthz": ("GET", f"{base}/healthz", None, c),
                "GET /v1/accounts/{id}/risk": (
                    "GET",
                    f"{base}/v1/accounts/{customer}/risk",
                    None,
                    c,
                ),
                "POST /v1/score (1 account)": ("POST", f"{base}/v1/score", body, 1),
                f"POST /v1/score, {c} callers": ("POST", f"{base}/v1/score", body, c),
            }
            results = {}
            for name, (method, url, payload, threads) in scenarios.items():
                results[name] = measure(url, method, headers, payload, args.seconds, threads)
        finally:
            server.terminate()
            server.wait(timeout=30)

    print(
        f"\nserver ready in {ready:.1f} s; {args.concurrency} clients x {args.seconds:.0f} s each"
    )
    print(f"{'':30s}{'req/s':>9s}{'p50 ms':>9s}{'p99 ms':>9s}{'errors':>8s}")
    for name, r in results.items():
        print(f"{name:30s}{r['rps']:9.0f}{r['p50']:9.1f}{r['p99']:9.1f}{r['errors']:8d}")
    health, risk = results["GET /healthz"], results["GET /v1/accounts/{id}/risk"]
    score = results["POST /v1/score (1 account)"]
    checks = {
        "risk p99 <= 50 ms": risk["p99"] <= 50,
        "risk >= 0.3 x healthz throughput": risk["rps"] >= 0.3 * health["rps"],
        "score p99 <= 150 ms": score["p99"] <= 150,
        "no errors": all(r["errors"] == 0 for r in results.values()),
    }
    print(f"risk / healthz throughput: {risk['rps'] / health['rps']:.2f}")
    print("  ".join(f"[{'ok' if ok else 'MISSED'}] {name}" for name, ok in checks.items()))


if __name__ == "__main__":
    main()
