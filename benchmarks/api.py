"""API throughput and latency: uvicorn on 127.0.0.1, driven from other processes.

Issue 13 targets on 2 cores: POST /v1/score for one account p99 at most 60 ms with one
caller; with 4 callers scoring, a fifth client's GET /v1/accounts/{id}/risk p99 under 50 ms;
GET .../risk throughput at least 0.5 of /healthz's (and its p99 at most 50 ms).
Run: .venv/bin/python benchmarks/api.py [--seconds S] [--concurrency C] [--accounts N]
     [--postgres postgresql+psycopg://postgres@127.0.0.1:5432/test]
"""

from __future__ import annotations

import argparse
import multiprocessing
import threading
import time
from typing import Any

import httpx
import numpy as np

from support.postgres import fresh_schema
from support.server import served


def drive(url: str, method: str, headers: dict, body, seconds: float, threads: int, out) -> None:  # type: ignore[no-untyped-def]
    """In a driver process: `threads` clients in a closed loop for `seconds`."""
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


Load = tuple[str, str, Any, int]  # method, url, body, clients


def measure(loads: list[Load], headers: dict, seconds: float) -> list[dict[str, float]]:
    """Run every load at once, each from its own process; their figures in order."""
    queues: list[multiprocessing.Queue] = []
    processes = []
    for method, url, body, threads in loads:
        queue: multiprocessing.Queue = multiprocessing.Queue()
        process = multiprocessing.Process(
            target=drive, args=(url, method, headers, body, seconds, threads, queue)
        )
        queues.append(queue)
        processes.append(process)
    for process in processes:
        process.start()
    results = []
    for queue in queues:
        latencies, errors, elapsed = queue.get()
        values = np.array(latencies) * 1000
        results.append(
            {
                "rps": len(values) / elapsed,
                "p50": float(np.percentile(values, 50)),
                "p99": float(np.percentile(values, 99)),
                "n": len(values),
                "errors": errors,
            }
        )
    for process in processes:
        process.join()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=15)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--accounts", type=int, default=3000)
    parser.add_argument(
        "--postgres",
        metavar="URL",
        help="serve from a fresh schema of this PostgreSQL (e.g. "
        "postgresql+psycopg://postgres@127.0.0.1:5432/test) instead of SQLite",
    )
    args = parser.parse_args()
    c = args.concurrency
    with fresh_schema(args.postgres) as url, served(args.accounts, database_url=url) as server:
        headers = {"Authorization": f"Bearer {server.key}"}
        health = ("GET", f"{server.base}/healthz", None, c)
        risk = ("GET", f"{server.base}/v1/accounts/{server.customer}/risk", None, c)
        score = ("POST", f"{server.base}/v1/score", server.body, 1)
        scoring = ("POST", f"{server.base}/v1/score", server.body, c)
        one_risk = ("GET", risk[1], None, 1)
        results = {
            "GET /healthz": measure([health], headers, args.seconds)[0],
            "GET /v1/accounts/{id}/risk": measure([risk], headers, args.seconds)[0],
            "POST /v1/score (1 account)": measure([score], headers, args.seconds)[0],
        }
        both = measure([scoring, one_risk], headers, args.seconds)
        results[f"POST /v1/score, {c} callers"] = both[0]
        results["  meanwhile GET .../risk"] = both[1]

    store = "PostgreSQL" if args.postgres else "SQLite"
    ready = server.ready_seconds
    print(f"\n{store}; server ready in {ready:.1f} s; {c} clients x {args.seconds:.0f} s")
    print(f"{'':32s}{'req/s':>9s}{'p50 ms':>9s}{'p99 ms':>9s}{'errors':>8s}")
    for name, r in results.items():
        print(f"{name:32s}{r['rps']:9.0f}{r['p50']:9.1f}{r['p99']:9.1f}{r['errors']:8d}")
    health_r, risk_r = results["GET /healthz"], results["GET /v1/accounts/{id}/risk"]
    score_r, meanwhile = results["POST /v1/score (1 account)"], results["  meanwhile GET .../risk"]
    checks = {
        "score p99 <= 60 ms": score_r["p99"] <= 60,
        f"risk p99 < 50 ms while {c} callers score": meanwhile["p99"] < 50,
        "risk >= 0.5 x healthz throughput": risk_r["rps"] >= 0.5 * health_r["rps"],
        "risk p99 <= 50 ms": risk_r["p99"] <= 50,
        "no errors": all(r["errors"] == 0 for r in results.values()),
    }
    print(f"risk / healthz throughput: {risk_r['rps'] / health_r['rps']:.2f}")
    print("  ".join(f"[{'ok' if ok else 'MISSED'}] {name}" for name, ok in checks.items()))


if __name__ == "__main__":
    main()
