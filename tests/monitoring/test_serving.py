"""The monitoring summary through the API (administrators) and the model page, which link the
Evidently reports; serving reads the stored summary and never imports Evidently."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

from retention.model.registry import MODEL_NAME, load_version
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.store.keys import create_key
from retention.store.users import create_user


def _sign_in(client, username: str) -> None:  # type: ignore[no-untyped-def]
    page = client.get("/login")
    token = re.search(r'name="csrf" value="([^"]+)"', page.text)
    assert token is not None
    client.post(
        "/login", data={"username": username, "password": "s3cret-pass", "csrf": token.group(1)}
    )


def _client(monitored):  # type: ignore[no-untyped-def]
    version = monitored.runs["shifted"].batch.model_version
    model = ServingModel(name=MODEL_NAME, version=version, model=load_version(version))
    return TestClient(create_app(monitored.settings, load_model=lambda: model))


def test_the_api_returns_the_latest_summary_to_administrators_only(monitored) -> None:  # type: ignore[no-untyped-def]
    admin, _ = create_key(monitored.engine, "admin", "monitoring-admin")
    crm, _ = create_key(monitored.engine, "crm", "monitoring-crm")
    latest = monitored.runs["shifted"]
    with _client(monitored) as client:
        assert client.get("/v1/monitoring").status_code == 401
        refused = client.get("/v1/monitoring", headers={"Authorization": f"Bearer {crm}"})
        assert refused.status_code == 403
        body = client.get("/v1/monitoring", headers={"Authorization": f"Bearer {admin}"}).json()
    assert body["report_id"] == latest.report_id and body["batch_id"] == latest.batch.id
    assert body["retrain_recommended"] is True
    assert [r["code"] for r in body["reasons"]] == [r.code for r in latest.summary.reasons]
    assert body["drifted_features"] == latest.summary.drift.drifted
    assert body["features"][0]["psi"] >= body["features"][-1]["psi"]
    assert body["realised"] is None and body["matures_on"] == "2027-05-01"
    assert body["report_pages"] == {"drift": f"/model/reports/{latest.report_id}/drift"}
    assert body["monitored_at"].endswith("Z") or body["monitored_at"].endswith("+00:00")
    # over time: one row per monitored batch, the latest snapshot first (the shifted batch
    # was scored last at the same snapshot as a stable one); the matured one has realised churn
    history = body["history"]
    runs = monitored.runs
    expected = ["shifted", "stable-2026-11", "stable-2026-10", "matured"]
    assert [h["batch_id"] for h in history] == [runs[name].batch.id for name in expected]
    matured = monitored.runs["matured"]
    (row,) = [h for h in history if h["batch_id"] == matured.batch.id]
    realised = matured.summary.realised
    assert realised is not None
    assert row["realised_rate"] == realised.realised_rate
    assert row["roc_auc"] == realised.roc_auc
    assert all(h["realised_rate"] is None for h in history if h is not row)


def test_the_model_page_shows_the_verdict_and_links_the_report(monitored) -> None:  # type: ignore[no-untyped-def]
    create_user(monitored.engine, "ds", "s3cret-pass", "admin", "数据分析")
    create_user(monitored.engine, "team", "s3cret-pass", "retention", "团队")
    latest = monitored.runs["shifted"]
    with _client(monitored) as client:
        _sign_in(client, "ds")
        model = client.get("/model")
        assert model.status_code == 200
        assert "建议重新训练" in model.text and "avg_price_3m" in model.text
        assert "历次监测" in model.text and "分群漂移" in model.text
        link = f"/model/reports/{latest.report_id}/drift"
        assert f'href="{link}"' in model.text
        report = client.get(link)
        assert report.status_code == 200 and report.headers["content-type"].startswith("text/html")
        assert report.content == latest.reports["drift"].read_bytes()
        # the report's scripts carry the data's values: sandboxed, no cookies, no network
        policy = report.headers["content-security-policy"]
        assert policy.startswith("sandbox allow-scripts;") and "allow-same-origin" not in policy
        assert "default-src 'none'" in policy
        assert report.headers["x-content-type-options"] == "nosniff"
        assert client.get(f"/model/reports/{latest.report_id}/realised").status_code == 404
        assert client.get("/model/reports/999/drift").status_code == 404
        assert client.get(f"/model/reports/{latest.report_id}/other").status_code in (404, 422)
        # the matured batch's report has realised churn by band
        matured = monitored.runs["matured"]
        assert client.get(f"/model/reports/{matured.report_id}/realised").status_code == 200
        # a team member may not read the reports
        client.cookies.clear()
        _sign_in(client, "team")
        assert client.get(link).status_code == 403
