"""Every change of a follow-up is kept: who, when, the fields before and after, written with the
change itself, and never lost, whatever else is deleted."""

from __future__ import annotations

import datetime as dt
import threading

import pytest
from sqlalchemy import Engine, delete, text, update
from sqlalchemy.exc import DBAPIError

from retention.store import follow_ups as store
from retention.store.batches import BATCHES
from retention.store.database import open_store
from retention.store.follow_ups import (
    CHANGES,
    FOLLOW_UPS,
    NewFollowUp,
    create_follow_up,
    follow_up_changes,
    get_follow_up,
    update_follow_up,
)
from retention.store.keys import API_KEYS, create_key
from retention.store.users import USERS, create_user

CUSTOMER = "3200000001"


@pytest.fixture
def engine(store_url: str) -> Engine:
    return open_store(store_url)


def test_a_follow_up_starts_its_history_when_it_is_logged(engine: Engine) -> None:
    _key, info = create_key(engine, "crm", "crm-prod")
    item = NewFollowUp(CUSTOMER, "dedicated_manager", note="电话未接通 / no answer")
    row, _ = create_follow_up(engine, item, None, caller_id=info.id)
    (created,) = follow_up_changes(engine, [row["id"]])
    assert created["change"] == "created" and created["before"] is None
    assert created["after"] == {
        "action_code": "dedicated_manager",
        "outcome": "pending",
        "contacted_at": None,
        "note": "电话未接通 / no answer",
    }
    assert created["changed_by"] == info.id and created["changed_by_user"] is None
    assert created["changed_by_name"] == f"crm-prod ({info.prefix})"
    assert created["customer_id"] == CUSTOMER and created["changed_at"] == row["created_at"]


def test_each_change_keeps_who_when_and_the_fields_before_and_after(engine: Engine) -> None:
    _key, info = create_key(engine, "crm", "crm-prod")
    person = create_user(engine, "wang", "wang-pass-1", "retention", display_name="王经理")
    row, _ = create_follow_up(engine, NewFollowUp(CUSTOMER, "tariff_plan"), None, info.id)
    contacted = dt.datetime(2026, 11, 2, 1, 30)
    changed = update_follow_up(
        engine, row["id"], {"outcome": "contacted", "contacted_at": contacted}, user_id=person.id
    )
    assert changed is not None and changed["outcome"] == "contacted"
    # the same values again change nothing, and leave no entry
    update_follow_up(engine, row["id"], {"outcome": "contacted"}, caller_id=info.id)
    update_follow_up(engine, row["id"], {"note": "已上门 / visited"}, caller_id=info.id)
    created, by_person, by_key = follow_up_changes(engine, [row["id"]])
    assert created["change"] == "created"
    assert by_person["change"] == "updated"
    assert by_person["before"] == {"outcome": "pending", "contacted_at": None}
    assert by_person["after"] == {
        "outcome": "contacted",
        "contacted_at": "2026-11-02T01:30:00Z",
    }
    assert by_person["changed_by_user"] == person.id and by_person["changed_by"] is None
    assert by_person["changed_by_name"] == "王经理 (wang)"
    assert by_key["before"] == {"note": None} and by_key["after"] == {"note": "已上门 / visited"}
    assert by_key["changed_by"] == info.id
    assert by_person["changed_at"] <= by_key["changed_at"]


def test_a_change_whose_history_cannot_be_written_is_not_made(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    row, _ = create_follow_up(engine, NewFollowUp(CUSTOMER, "tariff_plan"), None, None)

    def broken(*_args: object, **_kwargs: object) -> None:
        raise RuntimeError("the history table is full")

    monkeypatch.setattr(store, "_keep_change", broken)
    with pytest.raises(RuntimeError):
        update_follow_up(engine, row["id"], {"outcome": "retained"})
    with pytest.raises(RuntimeError):
        create_follow_up(engine, NewFollowUp(CUSTOMER, "payment_arrangement"), None, None)
    assert get_follow_up(engine, row["id"])["outcome"] == "pending"  # type: ignore[index]
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM follow_ups")).scalar_one() == 1


def test_concurrent_changes_chain_before_to_after(engine: Engine) -> None:
    row, _ = create_follow_up(engine, NewFollowUp(CUSTOMER, "tariff_plan"), None, None)
    notes = [f"note {i}" for i in range(6)]
    failures: list[BaseException] = []

    def change(note: str) -> None:
        try:
            update_follow_up(engine, row["id"], {"note": note})
        except BaseException as err:  # pragma: no cover - reported below
            failures.append(err)

    threads = [threading.Thread(target=change, args=(note,)) for note in notes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures
    updates = follow_up_changes(engine, [row["id"]])[1:]
    assert sorted(u["after"]["note"] for u in updates) == notes
    # each change replaced what the one before it wrote: nothing slipped in between
    assert [u["before"]["note"] for u in updates] == [None] + [
        u["after"]["note"] for u in updates[:-1]
    ]


def test_the_history_survives_everything_and_is_never_changed(engine: Engine) -> None:
    _key, info = create_key(engine, "crm", "crm-prod")
    person = create_user(engine, "li", "li-pass-123", "retention")
    with engine.begin() as connection:
        batch_id = connection.execute(
            BATCHES.insert()
            .values(
                snapshot_date=dt.date(2026, 11, 1), scored_on=dt.date(2026, 11, 30),
                model_name="m", model_version="1", capacity=40, status="complete",
            )
            .returning(BATCHES.c.id)
        ).scalar_one()  # fmt: skip
    row, _ = create_follow_up(engine, NewFollowUp(CUSTOMER, "tariff_plan"), batch_id, info.id)
    update_follow_up(engine, row["id"], {"outcome": "retained"}, user_id=person.id)
    before = follow_up_changes(engine, [row["id"]])
    # the batch, the key and the person go: the history still names who did what
    with engine.begin() as connection:
        connection.execute(delete(BATCHES).where(BATCHES.c.id == batch_id))
        connection.execute(delete(API_KEYS).where(API_KEYS.c.id == info.id))
        connection.execute(delete(USERS).where(USERS.c.id == person.id))
    assert follow_up_changes(engine, [row["id"]]) == before
    assert [c["changed_by_name"] for c in before] == [
        f"crm-prod ({info.prefix})",
        "li",
    ]
    # a follow-up with a history is never deleted, and the history is never edited or deleted
    for statement in (
        delete(FOLLOW_UPS).where(FOLLOW_UPS.c.id == row["id"]),
        update(CHANGES).where(CHANGES.c.follow_up_id == row["id"]).values(after="{}"),
        delete(CHANGES).where(CHANGES.c.follow_up_id == row["id"]),
    ):
        with pytest.raises(DBAPIError), engine.begin() as connection:
            connection.execute(statement)
    assert follow_up_changes(engine, [row["id"]]) == before
    assert get_follow_up(engine, row["id"]) is not None
