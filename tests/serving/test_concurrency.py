"""Fifty concurrent retries of one follow-up against a real server store exactly one row."""

from __future__ import annotations

import datetime as dt
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import uvicorn
from sqlalchemy import func, select

from retention.scoring.batch import ScoredList
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.settings import Settings
from retention.store.batches import save_batch
from retention.store.database import open_store
from retention.store.follow_ups import FOLLOW_UPS
from retention.store.keys import create_key
from retention.training.pipeline import TrainResult
from retention.training.registry import MODEL_NAME, load_version


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_fifty_concurrent_retries_store_one_follow_up(
    store_url: str, scored: ScoredList, trained: TrainResult, tmp_path: Path
) -> None:
    # Given a served batch on a real uvicorn server
    engine = open_store(store_url)
    save_batch(engine, scored, MODEL_NAME, trained.version, 40, dt.date(2026, 11, 30))
    key, _ = create_key(engine, "crm", "crm-retries")
    model = ServingModel(MODEL_NAME, trained.version, load_version(trained.version))
    app = create_app(Settings(database_url=store_url, work_dir=tmp_path), load_model=lambda: model)
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started
    customer = scored.accounts["customer_id"].iloc[0]
    url = f"http://127.0.0.1:{port}/v1/accounts/{customer}/follow-ups"
    headers = {"Authorization": f"Bearer {key}", "Idempotency-Key": "crm-call-20261130-0001"}
    body = {"action_code": "dedicated_manager", "note": "首问负责，已电话联系"}
    try:
        # when the CRM retries the same follow-up 50 times at once
        with httpx.Client(timeout=60) as client, ThreadPoolExecutor(max_workers=50) as pool:
            responses = list(
                pool.map(lambda _: client.post(url, json=body, headers=headers), range(50))
            )
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    # then every call gets the same follow-up and the store holds exactly one
    assert {r.status_code for r in responses} == {201}, {r.text for r in responses}
    assert len({r.json()["id"] for r in responses}) == 1
    with engine.connect() as connection:
        count = connection.execute(select(func.count()).select_from(FOLLOW_UPS)).scalar_one()
    assert count == 1
    engine.dispose()
