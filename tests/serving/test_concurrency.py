"""Fifty concurrent retries of one follow-up against a real server store exactly one row."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from sqlalchemy import func, select

from retention.records.batch import ScoredList
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.settings import Settings
from retention.store.database import open_store
from retention.store.follow_ups import FOLLOW_UPS


def test_a_reload_does_not_fail_requests_in_flight(  # type: ignore[no-untyped-def]
    store_url: str, scored: ScoredList, served_model: ServingModel, stocked, tmp_path: Path, running
) -> None:
    admin = stocked(store_url, "admin")["admin"]

    def slow_load() -> ServingModel:  # a registry download takes a while
        time.sleep(0.5)
        return served_model

    app = create_app(Settings(database_url=store_url, work_dir=tmp_path), load_model=slow_load)
    customer = scored.accounts["customer_id"].iloc[0]
    headers = {"Authorization": f"Bearer {admin}"}
    with running(app) as base, httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        with ThreadPoolExecutor(max_workers=8) as pool:
            reloads = [pool.submit(client.post, "/v1/admin/reload") for _ in range(2)]
            reads = list(
                pool.map(lambda _: client.get(f"/v1/accounts/{customer}/risk"), range(200))
            )
        statuses = sorted(r.result().status_code for r in reloads)
    assert {r.status_code for r in reads} == {200}
    assert statuses in ([200, 200], [200, 409])  # a second reload at once is told to wait


def test_fifty_concurrent_retries_store_one_follow_up(  # type: ignore[no-untyped-def]
    store_url: str, scored: ScoredList, served_model: ServingModel, stocked, tmp_path: Path, running
) -> None:
    # Given a served batch on a real uvicorn server
    key = stocked(store_url, "crm")["crm"]
    settings = Settings(database_url=store_url, work_dir=tmp_path)
    app = create_app(settings, load_model=lambda: served_model)
    customer = scored.accounts["customer_id"].iloc[0]
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "crm-call-20261130-0001"}
    body = {"action_code": "dedicated_manager", "note": "首问负责，已电话联系"}
    # when the CRM retries the same follow-up 50 times at once
    with running(app) as base, httpx.Client(timeout=60) as client:
        url = f"{base}/v1/accounts/{customer}/follow-ups"
        with ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(
                pool.map(lambda _: client.post(url, json=body, headers=headers), range(50))
            )
    # then every call gets the same follow-up and the store holds exactly one
    assert {r.status_code for r in responses} == {201}, {r.text for r in responses}
    assert len({r.json()["id"] for r in responses}) == 1
    engine = open_store(store_url)
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(FOLLOW_UPS)).scalar_one()
    assert count == 1
    engine.dispose()
