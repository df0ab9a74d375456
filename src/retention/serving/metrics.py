"""Prometheus metrics: requests and latencies by route, the model version, accounts scored."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from fastapi import Request, Response
from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("retention_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "retention_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5),
)
MODEL_VERSION = Gauge("retention_model_info", "The champion being served", ["name", "version"])
ACCOUNTS_SCORED = Counter("retention_accounts_scored_total", "Accounts scored", ["source"])


async def record(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Middleware: count and time every request under its route template (not its path, so
    customer ids never become label values)."""
    began = time.perf_counter()
    response = await call_next(request)
    route = request.scope.get("route")
    template = getattr(route, "path", "unmatched")
    LATENCY.labels(request.method, template).observe(time.perf_counter() - began)
    REQUESTS.labels(request.method, template, str(response.status_code)).inc()
    return response


def set_model(name: str, version: str) -> None:
    MODEL_VERSION.clear()
    MODEL_VERSION.labels(name, version).set(1)
