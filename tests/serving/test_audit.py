"""A follow-up's history through the API and on the account page: who logged it, who changed
what and when, the fields before and after, by API key or by a person signed in."""

from __future__ import annotations

import re

from .test_pages import _csrf, _log_on_page, _signed_in_member


def test_the_api_gives_each_follow_ups_history(served) -> None:  # type: ignore[no-untyped-def]
    customer = served.scored.accounts["customer_id"].iloc[11]
    created = served.post(
        f"/v1/accounts/{customer}/follow-ups", json={"action_code": "dedicated_manager"}
    ).json()
    path = f"/v1/follow-ups/{created['id']}"
    changed = served.patch(
        path, json={"outcome": "contacted", "contacted_at": "2026-12-01T09:30:00+08:00"}
    )
    assert changed.status_code == 200
    served.patch(path, json={"outcome": "contacted"})  # the same again: no change, no entry
    history = served.get(f"{path}/changes")
    assert history.status_code == 200
    body = history.json()
    assert body["count"] == 2
    logged, contact = body["data"]
    assert logged["change"] == "created" and logged["before"] is None
    assert logged["after"]["action_code"] == "dedicated_manager"
    assert logged["changed_by_name"].startswith("tests-crm (")  # the key that logged it
    assert contact["change"] == "updated"
    assert contact["before"] == {"outcome": "pending", "contacted_at": None}
    assert contact["after"] == {"outcome": "contacted", "contacted_at": "2026-12-01T01:30:00Z"}
    assert contact["changed_by_name"].startswith("tests-retention (")
    assert contact["changed_by"] is not None and contact["changed_by_user"] is None
    assert contact["changed_at"].endswith("Z") and contact["customer_id"] == customer
    # every role reads it; an unknown follow-up is a 404 with a code
    assert served.get(f"{path}/changes", role="crm").status_code == 200
    missing = served.get("/v1/follow-ups/999999/changes")
    assert missing.status_code == 404 and missing.json()["code"] == "not_found"
    assert served.client.get(f"{path}/changes").status_code == 401
    documented = served.get("/openapi.json").json()["paths"]
    assert "/v1/follow-ups/{follow_up_id}/changes" in documented


def test_the_account_page_shows_each_follow_ups_history(served) -> None:  # type: ignore[no-untyped-def]
    client = _signed_in_member(served, "xu", "xu-pass-1234", display_name="徐经理")
    customer = served.scored.accounts["customer_id"].iloc[12]
    _log_on_page(client, customer, action_code="tariff_plan", note="约周三上门")
    page = client.get(f"/accounts/{customer}").text
    found = re.search(r'action="/follow-ups/(\d+)"', page)
    assert found is not None
    follow_up = found.group(1)
    sent = client.post(
        f"/follow-ups/{follow_up}",
        data={
            "csrf": _csrf(page),
            "outcome": "retained",
            "customer_id": customer,
            "contacted_at": "2026-12-01T10:15",
        },
        follow_redirects=False,
    )
    assert sent.status_code == 303
    page = client.get(f"/accounts/{customer}").text
    (history,) = re.findall(
        rf'<ol class="changes" id="changes-{follow_up}">(.*?)</ol>', page, flags=re.S
    )
    entries = re.findall(r"<li>(.*?)</li>", history, flags=re.S)
    assert len(entries) == 2
    text = [re.sub(r"<[^>]+>|\s+", " ", e) for e in entries]
    assert "徐经理 (xu)" in text[0] and "记录" in text[0] and "约周三上门" in text[0]
    assert "徐经理 (xu)" in text[1] and "跟进中 → 已挽留" in text[1]
    assert "— → 2026-12-01 10:15" in text[1]  # contact time as entered (Beijing time)
    # the same history through the API names the person who changed it on the page
    api = served.get(f"/v1/follow-ups/{follow_up}/changes").json()["data"]
    assert [c["changed_by_name"] for c in api] == ["徐经理 (xu)", "徐经理 (xu)"]
    assert api[1]["changed_by_user"] is not None and api[1]["changed_by"] is None
    english = client.get(f"/accounts/{customer}", params={"lang": "en"}).text
    assert "pending → retained" in english
    client.get(f"/accounts/{customer}", params={"lang": "zh"})
    client.cookies.clear()
