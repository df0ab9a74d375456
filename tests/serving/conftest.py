"""One served app per store kind (SQLite, PostgreSQL): a batch, a key per role, a client."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retention.data.io import Dataset
from retention.scoring.batch import ScoredList
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.serving.score_input import body_from_dataset
from retention.settings import Settings
from retention.store.batches import save_batch
from retention.store.database import open_store
from retention.store.keys import create_key
from retention.training.pipeline import TrainResult
from retention.training.registry import MODEL_NAME, load_version


@dataclass
class Served:
    client: TestClient
    keys: dict[str, str]  # role -> key
    scored: ScoredList
    url: str
    settings: Settings

    def get(self, path: str, role: str = "retention", **kwargs):  # type: ignore[no-untyped-def]
        return self.client.get(path, headers=self.auth(role), **kwargs)

    def post(self, path: str, role: str = "crm", headers=None, **kwargs):  # type: ignore[no-untyped-def]
        return self.client.post(path, headers={**self.auth(role), **(headers or {})}, **kwargs)

    def patch(self, path: str, role: str = "retention", **kwargs):  # type: ignore[no-untyped-def]
        return self.client.patch(path, headers=self.auth(role), **kwargs)

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[role]}"}


def serving_model(trained: TrainResult) -> ServingModel:
    return ServingModel(
        name=MODEL_NAME, version=trained.version, model=load_version(trained.version)
    )


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest,
    trained: TrainResult,
    scored: ScoredList,
    postgres_schema,  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")
    model = serving_model(trained)

    def run(url: str) -> Iterator[Served]:
        engine = open_store(url)
        save_batch(engine, scored, MODEL_NAME, trained.version, 40, dt.date(2026, 11, 30))
        keys = {
            role: create_key(engine, role, f"tests-{role}")[0]
            for role in ("crm", "retention", "admin")
        }
        engine.dispose()
        settings = Settings(database_url=url, work_dir=Path(folder))
        app = create_app(settings, load_model=lambda: model)
        with TestClient(app) as client:
            yield Served(client, keys, scored, url, settings)

    if request.param == "sqlite":
        yield from run(f"sqlite:///{folder / 'store.db'}")
    else:
        with postgres_schema() as url:
            yield from run(url)


@pytest.fixture(scope="session")
def body_for(simulation):  # type: ignore[no-untyped-def]
    """body_for(ids): a POST /v1/score body for these accounts of the test portfolio."""
    dataset = Dataset(**simulation.tables)
    return lambda customer_ids: body_from_dataset(dataset, customer_ids)
