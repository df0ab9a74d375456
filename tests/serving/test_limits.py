"""One request cannot stall or swamp the server: bodies are bounded, keys are checked before a
body is read, and POST /v1/score is parsed and scored in worker processes."""

from __future__ import annotations

import http.client
import json
import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx
import pytest

from retention.records.batch import ScoredList
from retention.serving.app import SMALL_BODY_BYTES, create_app
from retention.serving.model import ServingModel
from retention.settings import Settings

LIMIT = 1024 * 1024  # POST /v1/score bodies in these tests


@dataclass
class Live:
    base: str
    keys: dict[str, str]
    customer: str
    app: object

    def headers(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


@pytest.fixture(scope="module")
def live(  # type: ignore[no-untyped-def]
    scored: ScoredList,
    served_model: ServingModel,
    stocked,
    tmp_path_factory: pytest.TempPathFactory,
    running,
) -> Iterator[Live]:
    folder = tmp_path_factory.mktemp("limits")
    url = f"sqlite:///{folder / 'store.db'}"
    keys = stocked(url, "crm", "retention")
    settings = Settings(database_url=url, work_dir=folder, max_body_bytes=LIMIT)
    app = create_app(settings, load_model=lambda: served_model)
    with running(app) as base:
        yield Live(base, keys, str(scored.accounts["customer_id"].iloc[0]), app)


def announce(
    base: str, path: str, length: int, headers: dict[str, str], timeout: float = 10
) -> tuple[int, dict[str, str]]:
    """Send a request's head declaring `length` body bytes, never send them, and read the
    answer: the server answers without reading the body, or the call times out."""
    where = urlsplit(base)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=timeout)
    try:
        connection.putrequest("POST", path)
        for name, value in {
            **headers,
            "Content-Type": "application/json",
            "Content-Length": str(length),
        }.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def test_a_declared_body_over_the_limit_is_refused_unread(live: Live) -> None:
    status, error = announce(live.base, "/v1/score", 200_000_000, live.headers("crm"))
    assert status == 413 and error["code"] == "body_too_large"
    assert f"{LIMIT:,}" in error["message"]
    follow_up = f"/v1/accounts/{live.customer}/follow-ups"
    status, error = announce(live.base, follow_up, SMALL_BODY_BYTES + 1, live.headers("crm"))
    assert status == 413 and error["code"] == "body_too_large"


def test_a_streamed_body_is_cut_off_at_the_limit(live: Live) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        yield b'{"accounts": ['
        for _ in range(LIMIT // 1000):
            yield b"{}," * 400

    response = httpx.post(
        f"{live.base}/v1/score", content=chunks(), headers=live.headers("crm"), timeout=30
    )
    assert response.status_code == 413
    assert response.json()["code"] == "body_too_large"


@pytest.mark.parametrize(
    ("role", "status", "code"),
    [
        (None, 401, "unauthenticated"),
        ("wrong", 401, "invalid_key"),
        ("retention", 403, "forbidden"),
    ],
)
def test_the_key_and_role_are_checked_before_the_body_is_read(
    live: Live, role: str | None, status: int, code: str
) -> None:
    headers = {} if role is None else {"Authorization": "Bearer rk_0_wrong"}
    if role == "retention":
        headers = live.headers("retention")
    answered = announce(live.base, "/v1/score", LIMIT // 2, headers, timeout=5)
    assert answered[0] == status and answered[1]["code"] == code
    if role != "retention":  # a body FastAPI would parse itself waits for the key too
        path = f"/v1/accounts/{live.customer}/follow-ups"
        answered = announce(live.base, path, 1_000, headers, timeout=5)
        assert answered[0] == status and answered[1]["code"] == code


def test_a_pathological_body_is_refused_with_a_short_message(live: Live) -> None:
    # A million empty accounts: the probe's 6 million took 48 s and 8.5 GB to refuse.
    body = b'{"accounts": [' + b",".join([b"{}"] * 300_000) + b"]}"
    began = time.perf_counter()
    response = httpx.post(
        f"{live.base}/v1/score", content=body, headers=live.headers("crm"), timeout=60
    )
    assert response.status_code == 422
    error = response.json()
    assert error["code"] == "invalid_request"
    assert "accounts.0.customer" in error["message"] and len(error["message"]) < 500
    assert time.perf_counter() - began < 10


def test_a_worker_that_dies_costs_one_request_and_is_replaced(live: Live, body_for) -> None:  # type: ignore[no-untyped-def]
    body = body_for([live.customer])
    url = f"{live.base}/v1/score"
    assert httpx.post(url, json=body, headers=live.headers("crm"), timeout=60).status_code == 200
    for pid in live.app.state.score_workers.pids():  # type: ignore[attr-defined]
        os.kill(pid, signal.SIGKILL)
    answers = [
        httpx.post(url, json=body, headers=live.headers("crm"), timeout=60) for _ in range(3)
    ]
    assert answers[-1].status_code == 200, answers[-1].text
    assert {a.status_code for a in answers} <= {200, 503}
    assert all(a.json()["code"] == "scoring_unavailable" for a in answers if a.status_code == 503)
    assert httpx.get(f"{live.base}/healthz").status_code == 200


def test_every_other_body_is_small(live: Live) -> None:
    path = f"{live.base}/v1/accounts/{live.customer}/follow-ups"
    note = "很长的备注" * (SMALL_BODY_BYTES // 10)
    response = httpx.post(
        path, json={"action_code": "tariff_plan", "note": note}, headers=live.headers("crm")
    )
    assert response.status_code == 413 and response.json()["code"] == "body_too_large"


def test_unknown_fields_are_one_error_however_many(live: Live) -> None:
    # pydantic's extra="forbid" made one error per field: 300,000 cost seconds and a gigabyte.
    fields = b",".join(b'"k%d": 1' % i for i in range(50_000))
    body = b'{"accounts": [{"customer": {' + fields + b"}}]}"
    response = httpx.post(
        f"{live.base}/v1/score", content=body, headers=live.headers("crm"), timeout=60
    )
    assert response.status_code == 422
    message = response.json()["message"]
    assert "unknown fields 'k0'" in message and "49,995 more" in message
    assert "customer_id" in message and len(message) < 1000
