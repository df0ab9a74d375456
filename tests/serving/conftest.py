"""One served app per store kind (SQLite, PostgreSQL): a batch, a key per role, a client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retention.data.dataset import Dataset
from retention.records.batch import ScoredList
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.serving.score_input import body_from_dataset
from retention.settings import Settings


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


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def served(
    request: pytest.FixtureRequest,
    scored: ScoredList,
    served_model: ServingModel,
    stocked,  # type: ignore[no-untyped-def]
    postgres_schema,  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("served")

    def run(url: str) -> Iterator[Served]:
        keys = stocked(url, "crm", "retention", "admin")
        settings = Settings(database_url=url, work_dir=Path(folder))
        app = create_app(settings, load_model=lambda: served_model)
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
