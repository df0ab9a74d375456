"""A held-out account of the capacity edge reads as the control group (对照组, no follow-up
due) in the API, on the page and in the exports, so the team does not contact it by mistake."""

from __future__ import annotations

import datetime as dt
import io
import re
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from retention.model.registry import MODEL_NAME
from retention.records.batch import ScoredList
from retention.scoring.assignment import AssignmentPolicy, assign
from retention.scoring.export import export_frame
from retention.serving.app import create_app
from retention.serving.model import ServingModel
from retention.settings import Settings
from retention.store.assignments import interventions_table
from retention.store.batches import load_batch, save_batch
from retention.store.database import open_store
from retention.store.keys import create_key
from retention.store.users import create_user

CAPACITY = 40


def _sign_in(client: TestClient, username: str, password: str):  # type: ignore[no-untyped-def]
    page = client.get("/login").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf
    form = {"username": username, "password": password, "csrf": csrf.group(1), "next": "/list"}
    return client.post("/login", data=form, follow_redirects=False)


@pytest.fixture(scope="module")
def assigned(scored: ScoredList) -> ScoredList:
    return assign(scored, CAPACITY, AssignmentPolicy(edge_share=0.5))


@pytest.fixture(scope="module")
def app_client(
    assigned: ScoredList,
    served_model: ServingModel,
    trained,  # type: ignore[no-untyped-def]
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[TestClient, str, str]]:
    folder = tmp_path_factory.mktemp("assigned")
    url = f"sqlite:///{folder / 'store.db'}"
    engine = open_store(url)
    save_batch(engine, assigned, MODEL_NAME, trained.version, CAPACITY, dt.date(2026, 11, 30))
    key = create_key(engine, "retention", "tests")[0]
    create_user(engine, "li", "s3cret-pass", "retention", "李")
    app = create_app(
        Settings(database_url=url, work_dir=Path(folder)), load_model=lambda: served_model
    )
    with TestClient(app) as client:
        yield client, key, url


def _held_and_followed(assigned: ScoredList) -> tuple[str, str]:
    rows = assigned.assignments
    held = rows.loc[rows["assignment"] == "held_out", "customer_id"].iloc[0]
    followed = rows.loc[rows["assignment"] == "followed_up", "customer_id"].iloc[0]
    return str(held), str(followed)


def test_the_api_says_control_and_lists_no_follow_up(app_client, assigned: ScoredList) -> None:  # type: ignore[no-untyped-def]
    client, key, _ = app_client
    auth = {"Authorization": f"Bearer {key}"}
    held, followed = _held_and_followed(assigned)
    risk = client.get(f"/v1/accounts/{held}/risk", headers=auth).json()
    assert risk["assignment"]["assignment"] == "held_out"
    assert (
        risk["assignment"]["label"].startswith("对照组")
        and "control" in risk["assignment"]["label"]
    )
    assert 0 < risk["assignment"]["assignment_probability"] <= 1
    assert risk["actions"] == []
    mine = client.get(f"/v1/accounts/{followed}/risk", headers=auth).json()
    assert mine["assignment"]["assignment"] == "followed_up"
    assert [a["code"] for a in mine["actions"]] == [mine["assignment"]["action_code"]]
    listed = client.get("/v1/risk-list", headers=auth, params={"limit": 500}).json()["data"]
    by_id = {row["customer_id"]: row for row in listed}
    assert by_id[held]["assignment"]["assignment"] == "held_out"
    top = assigned.accounts.iloc[0]["customer_id"]
    assert by_id[top]["assignment"] is None  # the top is never randomised


def test_the_page_and_the_exports_say_control(app_client, assigned: ScoredList) -> None:  # type: ignore[no-untyped-def]
    client, _, url = app_client
    held, _followed = _held_and_followed(assigned)
    client.cookies.clear()
    assert _sign_in(client, "li", "s3cret-pass").status_code == 303
    page = client.get(f"/accounts/{held}").text
    assert 'id="held-out"' in page and "对照组（本期不跟进）" in page
    listing = client.get("/list", params={"q": held}).text
    assert 'class="held-out"' in listing
    workbook = load_workbook(io.BytesIO(client.get("/list.xlsx").content))
    cells = [[c.value for c in row] for row in workbook["风险名单"].iter_rows()]
    header = cells[0]
    row = next(r for r in cells if r[header.index("户号")] == held)
    assert row[header.index("能力边界随机分配")] == "对照组（本期不跟进）"
    assert row[header.index("建议措施（责任人，完成时限）")] == "对照组（本期不跟进）"
    english = export_frame(load_batch(open_store(url)), "en").set_index("customer_id")
    assert english.loc[held, "assignment"] == "control group (no follow-up due)"
    assert pd.isna(english.loc[assigned.accounts.iloc[0]["customer_id"], "assignment"])


def _held_out(assigned: ScoredList, which: int) -> str:
    rows = assigned.assignments
    held = rows.loc[rows["assignment"] == "held_out", "customer_id"].tolist()
    assert len(held) > which
    return str(held[which])


def test_a_follow_up_of_a_control_is_stored_with_a_warning_and_breaks_compliance(
    app_client,  # type: ignore[no-untyped-def]
    assigned: ScoredList,
) -> None:
    # Given an account held out as the control group (not the one the page test reads)
    client, key, url = app_client
    auth = {"Authorization": f"Bearer {key}", "Idempotency-Key": "crm-held-1"}
    held = _held_out(assigned, 1)
    before = client.get(f"/v1/accounts/{held}/risk", headers=auth).json()["assignment"]
    assert before["complied"] is True
    body = {"action_code": before["action_code"], "outcome": "contacted", "note": "来电咨询"}
    # when the CRM logs a follow-up of it, and retries the call
    sent = client.post(f"/v1/accounts/{held}/follow-ups", headers=auth, json=body)
    again = client.post(f"/v1/accounts/{held}/follow-ups", headers=auth, json=body)
    # then it is stored once, and both answers say the control group was followed up
    assert sent.status_code == 201 and again.status_code == 201
    assert again.headers.get("Idempotent-Replayed") == "true"
    for answer in (sent.json(), again.json()):
        assert answer["id"] == sent.json()["id"]
        assert answer["warning"]["code"] == "control_group_followed_up"
        message = answer["warning"]["message"]
        assert message.startswith("该客户本期为对照组") and "not complied with" in message
    stored = client.get("/v1/follow-ups", headers=auth, params={"customer_id": held}).json()
    assert stored["count"] == 1 and stored["data"][0]["note"] == "来电咨询"
    # and the account's assignment is no longer complied with, in words the team reads
    after = client.get(f"/v1/accounts/{held}/risk", headers=auth).json()["assignment"]
    assert after["assignment"] == "held_out" and after["complied"] is False
    assert after["label"].startswith("对照组已被跟进") and "not complied" in after["label"]
    # and the export keeps it a control (intention to treat) beside the follow-up itself
    table = interventions_table(open_store(url))
    mine = table[table["customer_id"] == held]
    control = mine[mine["randomised"].astype(bool)]
    logged = mine[~mine["randomised"].astype(bool)]
    assert control["assignment"].tolist() == ["held_out"]
    assert control["outcome"].tolist() == ["pending"] and control["contacted_at"].isna().all()
    assert logged["assignment"].tolist() == ["followed_up"]
    assert logged["action_code"].tolist() == [before["action_code"]]
    assert logged["assignment_probability"].isna().all()


def test_a_follow_up_of_a_randomised_follow_up_has_no_warning(
    app_client,  # type: ignore[no-untyped-def]
    assigned: ScoredList,
) -> None:
    client, key, _ = app_client
    auth = {"Authorization": f"Bearer {key}"}
    _, followed = _held_and_followed(assigned)
    code = client.get(f"/v1/accounts/{followed}/risk", headers=auth).json()["actions"][0]["code"]
    sent = client.post(
        f"/v1/accounts/{followed}/follow-ups", headers=auth, json={"action_code": code}
    )
    assert sent.status_code == 201 and sent.json()["warning"] is None
    after = client.get(f"/v1/accounts/{followed}/risk", headers=auth).json()["assignment"]
    assert after["complied"] is True and after["label"].startswith("随机跟进")


def test_the_page_says_a_followed_up_control_is_not_complied_with(
    app_client,  # type: ignore[no-untyped-def]
    assigned: ScoredList,
) -> None:
    # Given a held-out account whose page a manager opens
    client, key, _ = app_client
    held = _held_out(assigned, 2)
    client.cookies.clear()
    assert _sign_in(client, "li", "s3cret-pass").status_code == 303
    page = client.get(f"/accounts/{held}").text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf and 'id="control-followed-up"' not in page
    # when the manager logs a follow-up all the same
    form = {"csrf": csrf.group(1), "action_code": "dedicated_manager", "outcome": "pending"}
    sent = client.post(f"/accounts/{held}/follow-ups", data=form, follow_redirects=True)
    # then it is kept, and the page says the control group was followed up
    assert sent.status_code == 200
    assert 'id="control-followed-up"' in sent.text and "未遵从随机分配" in sent.text
    auth = {"Authorization": f"Bearer {key}"}
    stored = client.get("/v1/follow-ups", headers=auth, params={"customer_id": held}).json()
    assert [f["action_code"] for f in stored["data"]] == ["dedicated_manager"]
