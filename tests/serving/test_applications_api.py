"""The CRM's API of the connection applications (业扩报装): the latest watch run's list with
its filters, one application's steps, actions and follow-ups, follow-ups logged once per
Idempotency-Key, the run's KPIs, and errors as {code, message}."""

from __future__ import annotations

import datetime as dt
import logging

import pytest

from retention.store.applications import write_watch_run
from retention.store.database import open_store

A, B = "YK2026110001", "YK2026110002"


@pytest.fixture(scope="module")
def api(served):  # type: ignore[no-untyped-def]
    """The served app (a scored batch, no watch run until `with_run`)."""
    return served


@pytest.fixture(scope="module")
def with_run(api, make_watch_run):  # type: ignore[no-untyped-def]
    """A watch run in the store: A overdue on its supply plan, B due in 2 working days."""
    run = make_watch_run(
        [
            {
                "application_id": A,
                "steps_overdue": 1,
                "worst_overdue_working_days": 3,
                "unit": "unit-01",
                "owner_id": "AM0001",
            },
            {
                "application_id": B,
                "unit": "unit-02",
                "owner_id": "AM0002",
                "next_due_step": "design_review",
                "next_due_date": dt.date(2026, 12, 4),
                "customer_id": "3200000001",
                "application_type": "capacity_increase",
            },
        ],
        clocks=[
            {
                "application_id": A,
                "step_code": "supply_plan_reply",
                "state": "overdue",
                "working_days_left": None,
                "overdue_working_days": 3,
            },
            {
                "application_id": A,
                "step_code": "site_survey_contact",
                "state": "late",
                "limit_working_days": 1,
                "finished_date": dt.date(2026, 11, 5),
                "working_days_left": None,
                "late_working_days": 2,
            },
            {"application_id": B, "step_code": "design_review", "working_days_left": 2},
        ],
        actions=[{"application_id": A}],
        kpis=[{}, {"dimension": "unit", "key": "unit-01", "on_time_share": None, "archived": 0}],
    )
    run_id = write_watch_run(open_store(api.url), run)
    return api, run_id


def test_before_any_watch_run_the_routes_say_so(api) -> None:  # type: ignore[no-untyped-def]
    for path in ("/v1/applications", "/v1/applications/kpis", f"/v1/applications/{A}"):
        response = api.get(path)
        assert response.status_code == 404, path
        assert response.json()["code"] == "no_watch_run"
        assert "retention applications" in response.json()["message"]


def test_the_list_is_the_latest_runs_overdue_first(with_run) -> None:  # type: ignore[no-untyped-def]
    api, run_id = with_run
    body = api.get("/v1/applications").json()
    assert body["watch_run_id"] == run_id and body["as_of"] == "2026-12-02"
    assert [a["application_id"] for a in body["data"]] == [A, B] and body["count"] == 2
    first = body["data"][0]
    assert first["accepted_at"] == "2026-11-02T09:30:00+08:00", "a local time, with its zone"
    assert "applicant_name" not in first
    crm = api.get("/v1/applications", role="crm")
    assert crm.status_code == 200


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"unit": "unit-02"}, [B]),
        ({"owner": "AM0001"}, [A]),
        ({"step": "supply_plan_reply"}, [A]),
        ({"overdue": "true"}, [A]),
        ({"overdue": "false"}, [B]),
        ({"due_within": 2}, [B]),
        ({"due_within": 1}, []),
        ({"sort": "next_due"}, [B, A]),
        ({"limit": 1, "offset": 1}, [B]),
    ],
)
def test_the_list_filters_sorts_and_pages(with_run, params, expected) -> None:  # type: ignore[no-untyped-def]
    api, _ = with_run
    body = api.get("/v1/applications", params=params).json()
    assert [a["application_id"] for a in body["data"]] == expected


@pytest.mark.parametrize(
    "params",
    [
        {"step": "coffee_break"},
        {"due_within": -1},
        {"due_within": 100_000},
        {"overdue": "maybe"},
        {"sort": "name"},
        {"limit": 0},
        {"limit": 10_000},
        {"unit": "u" * 101},
    ],
)
def test_absurd_filters_are_refused_with_a_code(with_run, params) -> None:  # type: ignore[no-untyped-def]
    api, _ = with_run
    response = api.get("/v1/applications", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


def test_one_application_shows_its_steps_in_process_order_and_its_actions(with_run) -> None:  # type: ignore[no-untyped-def]
    api, run_id = with_run
    body = api.get(f"/v1/applications/{A}").json()
    assert body["watch_run_id"] == run_id and body["rank"] == 1
    steps = body["clocks"]
    assert [s["step_code"] for s in steps] == ["site_survey_contact", "supply_plan_reply"]
    assert steps[0]["state"] == "late" and steps[0]["late_working_days"] == 2
    assert steps[1]["step_zh"] == "供电方案答复" and steps[1]["overdue_working_days"] == 3
    assert body["actions"][0]["code"] == "chase_supply_plan"
    assert body["follow_ups"] == []
    unknown = api.get("/v1/applications/YK-none")
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"


def test_a_follow_up_is_logged_once_per_idempotency_key(with_run, caplog) -> None:  # type: ignore[no-untyped-def]
    api, run_id = with_run
    body = {"action_code": "chase_supply_plan", "outcome": "contacted", "note": "已催办"}
    key = {"Idempotency-Key": "crm-yk-0001"}
    with caplog.at_level(logging.DEBUG):
        first = api.post(f"/v1/applications/{A}/follow-ups", json=body, headers=key)
    assert first.status_code == 201
    stored = first.json()
    assert stored["application_id"] == A and stored["customer_id"] is None
    assert stored["watch_run_id"] == run_id and stored["owner"] == "connection_team"
    assert stored["due_date"] == "2026-12-04"
    again = api.post(f"/v1/applications/{A}/follow-ups", json=body, headers=key)
    assert again.status_code == 201 and again.json()["id"] == stored["id"]
    assert again.headers["Idempotent-Replayed"] == "true"
    other = api.post(
        f"/v1/applications/{A}/follow-ups", json={**body, "note": "另一条"}, headers=key
    )
    assert other.status_code == 409 and other.json()["code"] == "idempotency_conflict"
    # the application's page of the API shows it, and its outcome is changed as any follow-up's
    assert [f["id"] for f in api.get(f"/v1/applications/{A}").json()["follow_ups"]] == [
        stored["id"]
    ]
    patched = api.patch(f"/v1/follow-ups/{stored['id']}", json={"outcome": "retained"})
    assert patched.status_code == 200 and patched.json()["application_id"] == A
    changes = api.get(f"/v1/follow-ups/{stored['id']}/changes").json()["data"]
    assert [c["change"] for c in changes] == ["created", "updated"]
    assert "已催办" not in caplog.text
    listed = api.get("/v1/follow-ups", params={"application_id": A}).json()
    assert [f["id"] for f in listed["data"]] == [stored["id"]]


def test_follow_ups_of_unknown_applications_or_bad_bodies_are_refused(with_run) -> None:  # type: ignore[no-untyped-def]
    api, _ = with_run
    body = {"action_code": "chase_supply_plan"}
    unknown = api.post("/v1/applications/YK-none/follow-ups", json=body)
    assert unknown.status_code == 404 and unknown.json()["code"] == "not_found"
    for bad in ({"action_code": "Drop Table"}, {"action_code": "x", "outcome": "won"}, {}):
        refused = api.post(f"/v1/applications/{A}/follow-ups", json=bad)
        assert refused.status_code == 422 and refused.json()["code"] == "invalid_request"


def test_reading_and_logging_take_a_key_of_a_role_that_may(with_run) -> None:  # type: ignore[no-untyped-def]
    api, _ = with_run
    assert api.client.get("/v1/applications").status_code == 401
    logged = api.post(
        f"/v1/applications/{B}/follow-ups", role="retention", json={"action_code": "visit"}
    )
    assert logged.status_code == 201
    assert logged.json()["owner"] is None, "no recommended action of that code: no owner"


def test_the_kpis_are_the_runs_period(with_run) -> None:  # type: ignore[no-untyped-def]
    api, run_id = with_run
    body = api.get("/v1/applications/kpis").json()
    assert body["watch_run_id"] == run_id
    assert (body["period_start"], body["period_end"]) == ("2026-12-01", "2026-12-02")
    assert [(k["dimension"], k["key"]) for k in body["data"]] == [
        ("overall", "all"),
        ("unit", "unit-01"),
    ]
    assert body["data"][0]["on_time_share"] == 0.8 and body["data"][1]["on_time_share"] is None


def test_the_openapi_document_links_the_list_to_an_application_and_its_follow_ups(api) -> None:  # type: ignore[no-untyped-def]
    document = api.client.get("/openapi.json").json()
    listed = document["paths"]["/v1/applications"]["get"]["responses"]["200"]["links"]
    assert listed["the_first"]["operationId"] == "get_application"
    one = document["paths"]["/v1/applications/{application_id}"]["get"]
    assert one["responses"]["200"]["links"]["log_a_follow_up"]["operationId"] == (
        "post_application_follow_up"
    )
