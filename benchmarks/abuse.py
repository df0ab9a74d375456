"""One abusive client must not stall the server or swell its memory (issue 13).

For 30 s one client sends oversize and pathological bodies, with and without a key, one after
another, while a second client keeps asking GET /healthz and GET /v1/accounts/{id}/risk.
Targets: the second client's p99 under 100 ms on both, no request of it fails, and the server's
peak resident memory (the server process and its scoring workers) within 1.5x of its idle.
Loopback only; the abusive bodies are at most a few tens of MB each.
Run: .venv/bin/python benchmarks/abuse.py [--seconds S]
"""

from __future__ import annotations

import argparse
import http.client
import multiprocessing
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

import httpx
import numpy as np

from support.server import served, tree_rss_mb


def attacks(base: str, key: str, customer: str) -> list[tuple[str, Callable[[], int]]]:
    """Each abusive request, by name: a function that sends it and returns the status."""
    where = urlsplit(base)
    crm = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    nobody = {"Content-Type": "application/json"}

    def post(path: str, content: bytes | Iterator[bytes], headers: dict[str, str]) -> int:
        return httpx.post(base + path, content=content, headers=headers, timeout=60).status_code

    def declared(length: int, headers: dict[str, str], path: str = "/v1/score") -> int:
        # The head declares the bytes; they never come.
        connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
        try:
            connection.putrequest("POST", path)
            for name, value in {**headers, "Content-Length": str(length)}.items():
                connection.putheader(name, value)
            connection.endheaders()
            return connection.getresponse().status
        finally:
            connection.close()

    def stream() -> Iterator[bytes]:
        yield b'{"accounts": ['
        for _ in range(25_000):  # 30 MB if it were all read
            yield b"{}," * 400

    empties = b'{"accounts": [' + b",".join([b"{}"] * 1_300_000) + b"]}"  # ~4 MB
    nested = b"[" * 30_000 + b"]" * 30_000
    many_keys = (
        b'{"accounts": [{"customer": {'
        + b",".join(b'"k%d": 1' % i for i in range(300_000))
        + b"}}]}"
    )
    rows = b",".join([b'{"month": "2024-01", "kwh_total": 1}'] * 110_000)
    tiny_rows = b'{"accounts": [{"customer": {}, "monthly_usage": [' + rows + b"]}]}"
    follow_ups = f"/v1/accounts/{customer}/follow-ups"
    return [
        ("200 MB declared, CRM key", lambda: declared(200_000_000, crm)),
        ("200 MB declared, no key", lambda: declared(200_000_000, nobody)),
        ("30 MB streamed, CRM key", lambda: post("/v1/score", stream(), crm)),
        ("4 MB of empty accounts, CRM key", lambda: post("/v1/score", empties, crm)),
        ("4 MB of empty accounts, no key", lambda: post("/v1/score", empties, nobody)),
        ("300,000 unknown fields, CRM key", lambda: post("/v1/score", many_keys, crm)),
        ("110,000 tiny rows, CRM key", lambda: post("/v1/score", tiny_rows, crm)),
        ("nested 30,000 deep, follow-up", lambda: post(follow_ups, nested, crm)),
        ("not UTF-8, follow-up", lambda: post(follow_ups, b'{"note": "\xff"}', crm)),
        ("1 MB follow-up, no key", lambda: declared(1_000_000, nobody, follow_ups)),
    ]


def abuse(base: str, key: str, customer: str, seconds: float, out) -> None:  # type: ignore[no-untyped-def]
    statuses: Counter[str] = Counter()
    spent: Counter[str] = Counter()
    stop = time.perf_counter() + seconds
    plan = attacks(base, key, customer)
    while time.perf_counter() < stop:
        for name, send in plan:
            began = time.perf_counter()
            try:
                outcome = str(send())
            except (httpx.TransportError, OSError) as err:  # the server may close early
                outcome = type(err).__name__
            statuses[f"{name}: {outcome}"] += 1
            spent[f"{name}: {outcome}"] += time.perf_counter() - began
    out.put({line: (count, spent[line] / count) for line, count in statuses.items()})


def watch(base: str, key: str, customer: str, seconds: float, out) -> None:  # type: ignore[no-untyped-def]
    latencies: dict[str, list[float]] = {"GET /healthz": [], "GET .../risk": []}
    failures = 0
    urls = {"GET /healthz": "/healthz", "GET .../risk": f"/v1/accounts/{customer}/risk"}
    stop = time.perf_counter() + seconds
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
        while time.perf_counter() < stop:
            for name, path in urls.items():
                began = time.perf_counter()
                try:
                    ok = client.get(path, timeout=10).status_code == 200
                except httpx.TransportError:
                    ok = False
                latencies[name].append(time.perf_counter() - began)
                failures += not ok
            time.sleep(0.005)
    out.put((latencies, failures))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--accounts", type=int, default=3000)
    args = parser.parse_args()
    with served(args.accounts) as server:
        time.sleep(2)
        idle = max(tree_rss_mb(server.pid) for _ in range(5))
        peak = [idle]
        sampling = threading.Event()

        def sample() -> None:
            while not sampling.is_set():
                peak.append(tree_rss_mb(server.pid))
                time.sleep(0.05)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        found: multiprocessing.Queue = multiprocessing.Queue()
        seen: multiprocessing.Queue = multiprocessing.Queue()
        attacker = multiprocessing.Process(
            target=abuse, args=(server.base, server.key, server.customer, args.seconds, found)
        )
        watcher = multiprocessing.Process(
            target=watch, args=(server.base, server.key, server.customer, args.seconds, seen)
        )
        attacker.start()
        watcher.start()
        statuses = found.get()
        latencies, failures = seen.get()
        attacker.join()
        watcher.join()
        sampling.set()
        sampler.join()
        after = tree_rss_mb(server.pid)

    print(f"\n{args.seconds:.0f} s of abuse; what the abusive client got:")
    for line, (count, seconds_each) in sorted(statuses.items()):
        print(f"  {count:5d} x {line:45s} {seconds_each * 1000:8.0f} ms each")
    print(f"\n{'meanwhile':20s}{'requests':>10s}{'p50 ms':>9s}{'p99 ms':>9s}{'max ms':>9s}")
    worst = 0.0
    for name, values in latencies.items():
        ms = np.array(values) * 1000
        p99 = float(np.percentile(ms, 99))
        worst = max(worst, p99)
        print(f"{name:20s}{len(ms):10d}{np.median(ms):9.1f}{p99:9.1f}{ms.max():9.1f}")
    print(
        f"server memory (process and workers): idle {idle:.0f} MB, peak {max(peak):.0f} MB "
        f"({max(peak) / idle:.2f}x), after {after:.0f} MB"
    )
    checks = {
        "p99 < 100 ms": worst < 100,
        "no failed request": failures == 0,
        "peak RSS <= 1.5 x idle": max(peak) <= 1.5 * idle,
    }
    print("  ".join(f"[{'ok' if ok else 'MISSED'}] {name}" for name, ok in checks.items()))


if __name__ == "__main__":
    main()
