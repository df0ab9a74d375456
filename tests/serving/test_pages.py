"""The team's pages through the app: sign-in, list, account, follow-up, export, roles, CSRF."""

from __future__ import annotations

import datetime as dt
import io
import re

from openpyxl import load_workbook

from retention.store.database import open_store
from retention.store.follow_ups import list_follow_ups
from retention.store.users import create_user, get_user_by_name


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "every form carries a CSRF token"
    return found.group(1)


def _sign_in(client, username: str, password: str, next: str = "/list"):  # type: ignore[no-untyped-def]
    page = client.get("/login")
    return client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf": _csrf(page.text),
            "next": next,
        },
        follow_redirects=False,
    )


def _signed_in_member(served, name: str, password: str, display_name: str | None = None):  # type: ignore[no-untyped-def]
    """A new member of the retention team, signed in on the served client."""
    create_user(open_store(served.url), name, password, "retention", display_name)
    served.client.cookies.clear()
    assert _sign_in(served.client, name, password).status_code == 303
    return served.client


def _log_on_page(client, customer: str, **form: str) -> str:  # type: ignore[no-untyped-def]
    """Log a follow-up with the account page's form; returns the page it was sent from."""
    page = client.get(f"/accounts/{customer}").text
    logged = client.post(
        f"/accounts/{customer}/follow-ups",
        data={"csrf": _csrf(page), **form},
        follow_redirects=False,
    )
    assert logged.status_code == 303
    return page


def test_the_team_signs_in_works_the_list_and_logs_a_follow_up(served) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    manager = served.scored.accounts["account_manager_id"].dropna().iloc[0]
    create_user(engine, "wang", "s3cret-pass", "retention", "王经理", account_manager_id=manager)
    client = served.client
    client.cookies.clear()
    # a signed-out visit is sent to sign-in
    away = client.get("/list", follow_redirects=False)
    assert away.status_code == 303 and away.headers["location"].startswith("/login?next=/list")
    assert _sign_in(client, "wang", "wrong-pass").status_code == 401
    signed = _sign_in(client, "wang", "s3cret-pass")
    assert signed.status_code == 303 and signed.headers["location"] == "/list"
    # the list: KPI strip, ranked rows, filters, Chinese first
    page = client.get("/list")
    assert page.status_code == 200 and "风险名单" in page.text and 'id="kpi-high">40<' in page.text
    first = served.scored.accounts.iloc[0]
    assert first["customer_id"] in page.text
    high = client.get("/list", params={"band": "high"}).text
    assert high.count('class="band-high"') == 40
    found = client.get("/list", params={"q": first["customer_id"][:6]}).text
    assert first["customer_id"] in found
    assert "Risk list" in client.get("/list", params={"lang": "en"}).text
    # an account manager's own accounts, one click away
    assert f'href="/list?manager={manager}"' in page.text
    mine = client.get("/list", params={"manager": manager}).text
    theirs = served.scored.accounts[served.scored.accounts["account_manager_id"] == manager]
    assert theirs["customer_id"].iloc[0] in mine
    client.get("/list", params={"lang": "zh"})
    # the list's count leaves the accounts in exit process to their own tab
    assert f"共 {len(served.scored.accounts)} 户" in page.text
    exits = client.get("/list", params={"tab": "exit"}).text
    assert served.scored.leaving["customer_id"].iloc[0] in exits
    # an account: reasons with its values, actions, and a follow-up logged from the form
    account = client.get(f"/accounts/{first['customer_id']}")
    reason = served.scored.reasons[served.scored.reasons["customer_id"] == first["customer_id"]]
    assert reason["text_zh"].iloc[0] in account.text
    logged = client.post(
        f"/accounts/{first['customer_id']}/follow-ups",
        data={
            "csrf": _csrf(account.text),
            "action_code": "dedicated_manager",
            "outcome": "contacted",
            "contacted_at": "2026-11-02T09:30",
            "note": "已上门走访",
        },
        follow_redirects=False,
    )
    assert logged.status_code == 303
    again = client.get(f"/accounts/{first['customer_id']}").text
    assert "已上门走访" in again and "已联系" in again
    assert "2026-11-02 09:30" in again  # shown in Beijing time, as entered
    # export the current view and open it
    book = client.get("/list.xlsx", params={"band": "high"})
    assert book.headers["content-type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(book.content)).worksheets[0]
    assert sheet.max_row == 41 and sheet["A1"].value == "排名"
    # the assessment, with the overdue follow-ups, exported for the weekly meeting
    assessment = client.get("/assessment")
    assert assessment.status_code == 200 and "按客户经理" in assessment.text
    workbook = load_workbook(io.BytesIO(client.get("/assessment.xlsx").content))
    assert workbook.sheetnames == ["按客户经理", "按供电单位", "已超期的跟进记录"]
    assert workbook["按客户经理"]["B1"].value == "高风险客户"
    # a retention user cannot reach the admin page; sign-out ends the session
    assert client.get("/model").status_code == 403
    out = client.post("/logout", data={"csrf": _csrf(again)}, follow_redirects=False)
    assert out.status_code == 303
    assert client.get("/list", follow_redirects=False).status_code == 303


def test_a_form_without_its_csrf_token_is_refused(served) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    create_user(engine, "li", "another-pass", "admin")
    client = served.client
    client.cookies.clear()
    page = client.get("/login")
    refused = client.post("/login", data={"username": "li", "password": "another-pass"})
    assert refused.status_code == 403 and refused.json()["code"] == "csrf"
    forged = client.post(
        "/login", data={"username": "li", "password": "another-pass", "csrf": "forged"}
    )
    assert forged.status_code == 403
    assert _sign_in(client, "li", "another-pass").status_code == 303
    assert "model" in client.get("/model").text.lower()  # admins see the model page
    customer = served.scored.accounts["customer_id"].iloc[1]
    no_token = client.post(f"/accounts/{customer}/follow-ups", data={"action_code": "tariff_plan"})
    assert no_token.status_code == 403
    assert _csrf(page.text)
    client.cookies.clear()


def test_sign_in_returns_to_the_page_asked_for_and_nowhere_else(served) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    create_user(engine, "zhao", "zhao-pass-1", "retention")
    client = served.client
    client.cookies.clear()
    away = client.get("/list?band=high&sort=probability", follow_redirects=False)
    assert away.headers["location"] == "/login?next=/list%3Fband%3Dhigh%26sort%3Dprobability"
    page = client.get(away.headers["location"])
    assert 'name="next" value="/list?band=high&amp;sort=probability"' in page.text
    back = _sign_in(client, "zhao", "zhao-pass-1", next="/list?band=high&sort=probability")
    assert back.headers["location"] == "/list?band=high&sort=probability"
    # another host, however written, is never a target
    for target in ("//evil.example", "/\\evil.example", "https://evil.example", "/\x0a/x"):
        client.cookies.clear()
        sent = _sign_in(client, "zhao", "zhao-pass-1", next=target)
        assert sent.headers["location"] == "/list", target
    client.cookies.clear()


def test_repeated_wrong_passwords_lock_the_name_for_a_while(served) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    create_user(engine, "sun", "sun-pass-123", "retention")
    client = served.client
    client.cookies.clear()
    for _ in range(5):
        assert _sign_in(client, "sun", "not-it").status_code == 401
    # the sixth try is refused even with the right password, and says when to come back
    locked = _sign_in(client, "SUN", "sun-pass-123")
    assert locked.status_code == 429 and int(locked.headers["Retry-After"]) > 0
    assert "登录失败次数过多" in locked.text
    client.cookies.clear()


def test_the_throttle_forgets_old_failures_and_a_success_clears_the_name() -> None:
    from retention.serving.web.auth import LoginThrottle

    now = [0.0]
    throttle = LoginThrottle(per_name=3, per_address=5, window_seconds=60, clock=lambda: now[0])
    for _ in range(3):
        throttle.failed("wu", "10.0.0.1")
    assert throttle.retry_after("wu", "10.0.0.1") == 61
    assert throttle.retry_after("qian", "10.0.0.2") == 0  # other names and addresses may try
    now[0] = 30.0
    assert throttle.retry_after("Wu ", "10.0.0.9") == 31  # by name, whatever the address
    now[0] = 61.0
    assert throttle.retry_after("wu", "10.0.0.1") == 0  # the failures left the window
    throttle.failed("wu", "10.0.0.1")
    throttle.succeeded("wu")
    assert throttle.retry_after("wu", "10.0.0.3") == 0
    for name in ("a", "b", "c", "d", "e"):  # one address guessing many names
        throttle.failed(name, "10.0.0.4")
    assert throttle.retry_after("f", "10.0.0.4") > 0


def test_secure_cookies_are_sent_over_https_only(served, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from retention.serving.app import create_app
    from retention.settings import Settings

    settings = Settings(database_url=served.url, work_dir=tmp_path, secure_cookies=True)
    model = served.client.app.state.model
    with TestClient(create_app(settings, load_model=lambda: model)) as client:
        page = client.get("/login")
        assert "secure" in page.headers["set-cookie"].lower()


def test_a_double_submitted_follow_up_is_stored_once_with_who_logged_it(served) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    create_user(engine, "zhou", "zhou-pass-1", "retention", "周经理")
    client = served.client
    client.cookies.clear()
    assert _sign_in(client, "zhou", "zhou-pass-1").status_code == 303
    customer = served.scored.accounts["customer_id"].iloc[5]
    page = client.get(f"/accounts/{customer}").text
    form_id = re.search(r'name="form_id" value="([^"]+)"', page)
    assert form_id is not None
    form = {
        "csrf": _csrf(page),
        "form_id": form_id.group(1),
        "action_code": "tariff_plan",
        "outcome": "contacted",
        "note": "double click",
    }
    for _ in range(2):  # the button clicked twice
        sent = client.post(f"/accounts/{customer}/follow-ups", data=form, follow_redirects=False)
        assert sent.status_code == 303
    # the same form sent back with another note is a new entry, not a conflict
    edited = client.post(
        f"/accounts/{customer}/follow-ups", data={**form, "note": "second thought"}
    )
    assert edited.status_code == 200
    rows = list_follow_ups(engine, dt.date(2026, 12, 1), customer_id=customer)[0]
    notes = sorted(r["note"] for r in rows)
    assert notes == ["double click", "second thought"]
    user = get_user_by_name(engine, "zhou")
    assert user is not None and {r["created_by_user"] for r in rows} == {user.id}
    history = client.get(f"/accounts/{customer}").text
    assert "记录人" in history and history.count("周经理") >= 2
    client.cookies.clear()


def test_the_overdue_tile_is_the_kpi_the_api_and_the_assessment_give(served) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    create_user(engine, "qin", "qin-pass-12", "retention")
    client = served.client
    client.cookies.clear()
    assert _sign_in(client, "qin", "qin-pass-12").status_code == 303
    tile = re.search(r'id="kpi-overdue">(\d+)<', client.get("/list").text)
    assert tile is not None
    api = served.get("/v1/kpis").json()["overall"]["overdue"]
    assert int(tile.group(1)) == api > 0  # the first due dates of this batch have passed
    assessment = client.get("/assessment").text
    assert "已超期的跟进记录" in assessment
    client.cookies.clear()


def test_an_outcome_form_changes_only_the_follow_up_of_its_own_account(served) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    client = _signed_in_member(served, "feng", "feng-pass-1")
    mine, other = served.scored.accounts["customer_id"].iloc[[7, 8]]
    page = _log_on_page(client, mine, action_code="tariff_plan", note="to be called")
    (follow_up,) = list_follow_ups(engine, dt.date(2026, 12, 1), customer_id=mine)[0]
    # the form of another account's page, pointed at this follow-up
    crossed = client.post(
        f"/follow-ups/{follow_up['id']}",
        data={"csrf": _csrf(page), "outcome": "churned", "customer_id": other},
        headers={"Accept": "text/html"},
        follow_redirects=False,
    )
    assert crossed.status_code == 422 and other in crossed.text
    (unchanged,) = list_follow_ups(engine, dt.date(2026, 12, 1), customer_id=mine)[0]
    assert unchanged["outcome"] == "pending" and unchanged["updated_at"] == follow_up["updated_at"]
    # its own account's form changes it, and returns to that account
    own = client.post(
        f"/follow-ups/{follow_up['id']}",
        data={"csrf": _csrf(page), "outcome": "retained", "customer_id": mine},
        follow_redirects=False,
    )
    assert own.status_code == 303 and own.headers["location"] == f"/accounts/{mine}"
    (changed,) = list_follow_ups(engine, dt.date(2026, 12, 1), customer_id=mine)[0]
    assert changed["outcome"] == "retained"
    client.cookies.clear()


def test_the_account_page_shows_the_churn_within_1_3_and_6_months(served) -> None:  # type: ignore[no-untyped-def]
    # Given a member of the team signed in, and the list's first account
    client = _signed_in_member(served, "zhao", "s3cret-pass")
    first = served.scored.accounts.iloc[0]
    # When the account's page is opened, in Chinese then in English
    zh = client.get(f"/accounts/{first['customer_id']}").text
    en = client.get(f"/accounts/{first['customer_id']}", params={"lang": "en"}).text
    client.get("/list", params={"lang": "zh"})
    # Then its time to churn shows each horizon's probability, labelled Chinese first
    assert 'id="horizons"' in zh and "流失时间" in zh
    for label in ("1个月内流失概率", "3个月内流失概率", "6个月内流失概率"):
        assert label in zh, label
    for column, months in (("probability_1m", 1), ("probability_3m", 3), ("probability", 6)):
        cell = f'<td class="horizon-{months}"><b>{first[column] * 100:.1f}%</b></td>'
        assert cell in zh, cell
    assert "Churn within 1 month" in en and "Churn within 3 months" in en


def test_the_model_page_shows_each_horizons_test_auc(served) -> None:  # type: ignore[no-untyped-def]
    # Given an administrator signed in
    create_user(open_store(served.url), "qian", "admin-pass-1", "admin")
    served.client.cookies.clear()
    assert _sign_in(served.client, "qian", "admin-pass-1").status_code == 303
    # When the model page is opened
    page = served.client.get("/model").text
    # Then time to churn lists every horizon with its ROC AUC
    assert 'id="horizon-metrics"' in page
    table = page[page.index('id="horizon-metrics"') :]
    table = table[: table.index("</table>")]
    for label in ("1个月内流失概率", "3个月内流失概率", "6个月内流失概率"):
        assert label in table, label
    assert table.count('<td class="num">0.') >= 6  # ROC and PR AUC of each
