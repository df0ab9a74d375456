"""Prometheus metrics: requests and latencies by route, the model version, accounts scored."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge, Histogram
from starlette.types import ASGIApp, Message, Receive, Scope, Send

REQUESTS = Counter("retention_http_requests_total", "HTTP requests", ["method", "route", "status"])
LATENCY = Histogram(
    "retention_http_request_seconds",
    "HTTP request latency",
    ["method", "route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.25, 0.5, 1, 2.5, 5),
)
MODEL_VERSION = Gauge("retention_model_info", "The champion being served", ["name", "version"])
ACCOUNTS_SCORED = Counter("retention_accounts_scored_total", "Accounts scored", ["source"])


class RecordRequests:
    """ASGI middleware: count and time every request under its route template (not its path,
    so customer ids never become label values). Plain ASGI: cheaper than BaseHTTPMiddleware."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = [500]

        async def remember_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            template = getattr(scope.get("route"), "path", "unmatched")
            method = scope["method"]
            LATENCY.labels(method, template).observe(time.perf_counter() - began)
            REQUESTS.labels(method, template, str(status[0])).inc()


def set_model(name: str, version: str) -> None:
    MODEL_VERSION.clear()
    MODEL_VERSION.labels(name, version).set(1)
