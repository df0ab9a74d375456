"""The team's pages of the connection applications (业扩报装) through the app: the tab, the list
with its filters, sorting, paging and export, an application's steps against their limits with
its follow-up form (CSRF, stored once), and the run's assessment figures with their workbook."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.serving.web import application_pages
from retention.settings import Settings
from retention.store.applications import write_watch_run
from retention.store.database import open_store
from retention.store.follow_ups import application_follow_ups
from retention.store.users import create_user

A, B, EVIL = "YK2026110001", "YK2026110002", "=HYPERLINK(1)"


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


@pytest.fixture(scope="module")
def site(  # type: ignore[no-untyped-def]
    served_model: ServingModel, stocked, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[TestClient, str]]:
    """The app on a store with a scored batch and no watch run yet; a member signed in."""
    folder = tmp_path_factory.mktemp("application-pages")
    url = f"sqlite:///{folder / 'store.db'}"
    stocked(url)
    create_user(open_store(url), "wang", "s3cret-pass", "retention", "王经理", "AM0001")
    app = create_app(Settings(database_url=url, work_dir=Path(folder)), lambda: served_model)
    with TestClient(app) as client:
        page = client.get("/login")
        signed = client.post(
            "/login",
            data={"username": "wang", "password": "s3cret-pass", "csrf": _csrf(page.text)},
            follow_redirects=False,
        )
        assert signed.status_code == 303
        yield client, url


@pytest.fixture(scope="module")
def with_run(site, make_watch_run):  # type: ignore[no-untyped-def]
    client, url = site
    applications = [
        {"application_id": A, "steps_overdue": 1, "worst_overdue_working_days": 3,
         "money_at_stake_cny": 20_000.0},
        {"application_id": B, "unit": "unit-02", "owner_id": "AM0002",
         "next_due_step": "design_review", "next_due_date": dt.date(2026, 12, 4),
         "money_at_stake_cny": 50_000.0},
        {"application_id": EVIL, "unit": "=cmd|' /C calc'!A0"},
    ]  # fmt: skip
    applications += [{"application_id": f"YK20261200{i:02d}", "unit": "unit-09"} for i in range(60)]
    run = make_watch_run(
        applications,
        clocks=[
            {
                "application_id": A,
                "step_code": "site_survey_contact",
                "state": "on_time",
                "limit_working_days": 1,
                "clock_start": dt.date(2026, 11, 2),
                "due_date": dt.date(2026, 11, 3),
                "finished_date": dt.date(2026, 11, 3),
                "working_days_left": None,
            },
            {
                "application_id": A,
                "step_code": "supply_plan_reply",
                "state": "overdue",
                "working_days_left": None,
                "overdue_working_days": 3,
            },
            {"application_id": B, "step_code": "design_review", "working_days_left": 2},
        ],
        actions=[{"application_id": A}],
        kpis=[{}, {"dimension": "step", "key": "supply_plan_reply", "on_time_share": 0.5}],
    )
    write_watch_run(open_store(url), run)
    return client, url


def test_before_any_watch_run_the_tab_says_how_to_make_one(site) -> None:  # type: ignore[no-untyped-def]
    client, _ = site
    page = client.get("/applications")
    assert page.status_code == 200 and "retention applications" in page.text
    assert 'id="applications-tab"' in page.text and "业扩报装" in page.text


def test_the_list_shows_the_run_overdue_first_with_its_figures_and_pages(with_run) -> None:  # type: ignore[no-untyped-def]
    client, _ = with_run
    page = client.get("/applications").text
    assert 'id="kpi-on-time">80%<' in page and 'id="kpi-open">3<' in page
    rows = re.findall(r'<a href="/applications/([^"]+)">', page)
    assert rows[:2] == [A, B] and len(rows) == application_pages.PAGE_SIZE
    assert "第 1 / 2 页，共 63 件" in page
    second = client.get("/applications", params={"page": 2}).text
    assert len(re.findall(r'<a href="/applications/YK', second)) == 13
    assert "Connection applications" in client.get("/applications", params={"lang": "en"}).text
    client.get("/applications", params={"lang": "zh"})


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"unit": "unit-02"}, [B]),
        ({"owner": "AM0002"}, [B]),
        ({"step": "supply_plan_reply"}, [A]),
        ({"overdue": "yes"}, [A]),
        ({"due_within": "2"}, [B]),
        ({"due_within": "", "step": "", "unit": "unit-02"}, [B]),  # the form's empty fields
        ({"sort": "money", "unit": ""}, [B, A]),
    ],
)
def test_the_list_filters_and_sorts(with_run, params, expected) -> None:  # type: ignore[no-untyped-def]
    client, _ = with_run
    page = client.get("/applications", params=params).text
    assert re.findall(r'<a href="/applications/(YK[^"]+)">', page)[: len(expected)] == expected
    if params.get("unit"):
        assert len(re.findall(r'<a href="/applications/(YK[^"]+)">', page)) == len(expected)


@pytest.mark.parametrize(
    "params", [{"due_within": "999"}, {"step": "nap"}, {"sort": "name"}, {"overdue": "maybe"}]
)
def test_absurd_filters_are_refused(with_run, params) -> None:  # type: ignore[no-untyped-def]
    client, _ = with_run
    assert client.get("/applications", params=params).status_code == 422


def test_the_export_is_the_current_view_with_formulas_kept_as_text(with_run) -> None:  # type: ignore[no-untyped-def]
    client, _ = with_run
    response = client.get("/applications.xlsx", params={"unit": "=cmd|' /C calc'!A0"})
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    rows = list(sheet.values)
    assert rows[0][1] == "申请编号 Application" and len(rows) == 2
    assert rows[1][1] == "'" + EVIL and rows[1][3] == "'=cmd|' /C calc'!A0"
    whole = load_workbook(io.BytesIO(client.get("/applications.xlsx").content)).worksheets[0]
    assert whole.max_row == 64 and whole.cell(2, 2).value == A


def test_an_application_shows_its_steps_against_their_limits(with_run) -> None:  # type: ignore[no-untyped-def]
    client, _ = with_run
    page = client.get(f"/applications/{A}")
    assert page.status_code == 200
    html = page.text
    assert '<svg viewBox="0 0 760' in html and 'fill="#c62828"' in html  # overdue in red
    steps = html.split('id="steps"', 1)[1].split("</table>", 1)[0]
    assert steps.index("现场勘查联系") < steps.index("供电方案答复")
    assert '<span class="state state-on_time">按时完成</span>' in steps
    assert '<span class="state state-overdue">已超期</span>' in steps and "+3" in steps
    assert "催办供电方案答复" in html
    assert client.get("/applications/YK-none").status_code == 404


def test_a_follow_up_is_logged_on_the_page_once_and_needs_its_token(with_run) -> None:  # type: ignore[no-untyped-def]
    client, url = with_run
    page = client.get(f"/applications/{A}").text
    form = {
        "csrf": _csrf(page),
        "form_id": re.search(r'name="form_id" value="([^"]+)"', page).group(1),  # type: ignore[union-attr]
        "action_code": "chase_supply_plan",
        "outcome": "contacted",
        "note": "已电话催办",
        "contacted_at": "2026-12-02T10:30",
    }
    for _ in range(2):  # a double click
        sent = client.post(f"/applications/{A}/follow-ups", data=form, follow_redirects=False)
        assert sent.status_code == 303 and sent.headers["location"] == f"/applications/{A}"
    (stored,) = application_follow_ups(open_store(url), A)
    assert stored["owner"] == "connection_team" and stored["due_date"] == dt.date(2026, 12, 4)
    assert stored["contacted_at"] == dt.datetime(2026, 12, 2, 2, 30), "Beijing time, kept in UTC"
    shown = client.get(f"/applications/{A}").text
    assert "已电话催办" in shown and "王经理" in shown
    # its outcome is recorded from the page, only through its own application's form
    changed = client.post(
        f"/applications/{A}/follow-ups/{stored['id']}",
        data={"csrf": form["csrf"], "outcome": "retained"},
        follow_redirects=False,
    )
    assert changed.status_code == 303
    (stored,) = application_follow_ups(open_store(url), A)
    assert stored["outcome"] == "retained"
    elsewhere = client.post(
        f"/applications/{B}/follow-ups/{stored['id']}",
        data={"csrf": form["csrf"], "outcome": "churned"},
    )
    assert elsewhere.status_code == 404
    forged = client.post(
        f"/applications/{A}/follow-ups", data={**form, "csrf": "forged"}, follow_redirects=False
    )
    assert forged.status_code == 403
    bad = client.post(f"/applications/{A}/follow-ups", data={**form, "action_code": "<script>"})
    assert bad.status_code == 422


def test_the_runs_figures_are_on_the_assessment_with_a_workbook(with_run) -> None:  # type: ignore[no-untyped-def]
    client, _ = with_run
    assert 'href="/assessment/applications"' in client.get("/assessment").text
    page = client.get("/assessment/applications").text
    assert 'id="kpis-overall"' in page and 'id="kpis-step"' in page
    assert "供电方案答复" in page and "50.0%" in page and "80.0%" in page
    book = load_workbook(io.BytesIO(client.get("/assessment/applications.xlsx").content))
    steps = book["按环节 By step"]
    assert steps.cell(2, 1).value == "供电方案答复 Supply plan reply"
    assert steps.cell(2, 4).value == 0.5 and steps.cell(2, 4).number_format == "0.0%"
