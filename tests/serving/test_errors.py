"""Every error the API answers is JSON {code, message} with a specific code, and the README
names every status it can answer."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from retention.records.batch import ScoredList
from retention.serving.app import create_app
from retention.serving.deps import get_model
from retention.serving.errors import CODES
from retention.serving.model import ServingModel
from retention.settings import Settings

README = Path(__file__).parents[2] / "README.md"


@pytest.fixture(scope="module")
def api(  # type: ignore[no-untyped-def]
    scored: ScoredList,
    served_model: ServingModel,
    stocked,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, dict[str, str], str]]:
    folder = tmp_path_factory.mktemp("errors")
    url = f"sqlite:///{folder / 'store.db'}"
    key = stocked(url, "admin")["admin"]
    settings = Settings(database_url=url, work_dir=folder)
    app = create_app(settings, load_model=lambda: served_model)
    with TestClient(app, raise_server_exceptions=False) as client:
        yield client, {"Authorization": f"Bearer {key}"}, str(scored.accounts["customer_id"][0])


def assert_error(response, status: int, code: str) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert set(response.json()) == {"code", "message"}
    assert response.json()["code"] == code and response.json()["message"]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b'{"action_code": "tariff_plan", "note": "\xff\xfe"}', "malformed_body"),  # not UTF-8
        (b"[" * 20_000 + b"]" * 20_000, "malformed_body"),  # nested too deeply
        (b"{not json", "invalid_request"),
    ],
)
def test_unreadable_bodies_get_a_specific_code(api, content: bytes, code: str) -> None:  # type: ignore[no-untyped-def]
    client, headers, customer = api
    path = f"/v1/accounts/{customer}/follow-ups"
    response = client.post(
        path, content=content, headers={**headers, "Content-Type": "application/json"}
    )
    assert_error(response, 400 if code == "malformed_body" else 422, code)
    scored = client.post("/v1/score", content=content, headers=headers)
    assert_error(scored, 422, "invalid_request")


def test_an_internal_error_is_json_and_the_connection_goes_on(api) -> None:  # type: ignore[no-untyped-def]
    client, headers, customer = api

    def broken() -> ServingModel:
        raise RuntimeError("a bug")

    client.app.dependency_overrides[get_model] = broken
    try:
        assert_error(client.get("/v1/model", headers=headers), 500, "internal_error")
        assert "a bug" not in client.get("/v1/model", headers=headers).text
    finally:
        client.app.dependency_overrides.clear()
    assert client.get(f"/v1/accounts/{customer}/risk", headers=headers).status_code == 200


def test_the_readme_names_every_status_and_code_the_api_answers(api) -> None:  # type: ignore[no-untyped-def]
    client, _, _ = api
    document = client.get("/openapi.json").json()
    answered = {
        int(status)
        for path in document["paths"].values()
        for operation in path.values()
        for status in operation.get("responses", {})
    }
    section = README.read_text(encoding="utf-8").split("### Errors", 1)[1].split("\n## ", 1)[0]
    listed = {int(s) for s in re.findall(r"^\| (\d{3}) \|", section, flags=re.MULTILINE)}
    assert answered | set(CODES) <= listed, sorted(answered | set(CODES) - listed)
    for code in CODES.values():
        assert f"`{code}`" in section, code
