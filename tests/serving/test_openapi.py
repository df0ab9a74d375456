"""Schemathesis against the app's own OpenAPI document, with a valid admin key: no 5xx, and
no response that breaks its own schema (status codes, content types, bodies), for every
operation alone (200 examples each) and in sequences that follow the document's links (an
account from the list, its risk, a follow-up logged for it, its outcome)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.settings import Settings

pytestmark = pytest.mark.slow
KEY: dict[str, str] = {}


@pytest.fixture(scope="module")
def api_schema(  # type: ignore[no-untyped-def]
    served_model: ServingModel, stocked, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("openapi")
    url = f"sqlite:///{folder / 'store.db'}"
    KEY["admin"] = stocked(url, "admin")["admin"]
    settings = Settings(database_url=url, work_dir=folder)
    app = create_app(settings, load_model=lambda: served_model)
    with TestClient(app):  # runs the lifespan: model and store in app.state
        yield schemathesis.openapi.from_asgi("/openapi.json", app)


CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


SETTINGS = settings(
    deadline=None,
    database=None,
    # The same examples on every run, so CI is repeatable; widen locally with
    # --hypothesis-seed or a larger max_examples to hunt for new failures.
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)


def test_the_api_keeps_its_own_contract(api_schema: Any) -> None:
    # Each operation gets its own Hypothesis run (schemathesis' pytest plugin does the same;
    # its lazy-fixture loader does not work with pytest 9, so the loop is spelled out).
    headers = {"Authorization": f"Bearer {KEY['admin']}"}
    operations = [result.ok() for result in api_schema.get_all_operations()]
    assert len(operations) >= 12
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(SETTINGS, max_examples=200)
        def check(case: Any) -> None:
            case.call_and_validate(headers=headers, checks=CHECKS)

        check()


def test_the_api_keeps_its_contract_across_linked_calls(api_schema: Any) -> None:
    headers = {"Authorization": f"Bearer {KEY['admin']}"}
    document = api_schema.raw_schema
    links = [
        name
        for path in document["paths"].values()
        for operation in path.values()
        for response in operation["responses"].values()
        for name in response.get("links", {})
    ]
    assert {"risk_of_the_first", "log_a_follow_up", "record_the_outcome"} <= set(links)

    class Scenarios(api_schema.as_state_machine()):  # type: ignore[misc]
        def get_call_kwargs(self, case: Any) -> dict[str, Any]:
            return {"headers": headers}

        def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
            case.validate_response(response, checks=CHECKS, headers=headers)

    Scenarios.run(settings=settings(SETTINGS, max_examples=100, stateful_step_count=6))
