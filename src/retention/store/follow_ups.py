"""Follow-ups (跟进记录) of an account or of a connection application (业扩报装): logged once
even when a request is retried, their history, and the zero-churn KPIs.

A POST with an Idempotency-Key stores one row per (caller, key); a retry with the same body
gets the same row back, a different body with a used key is a conflict. Any member of the team
may change any follow-up, so each one keeps its history: who logged it and who changed what
when, written in the same transaction as the change.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Table, and_, bindparam, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from retention.data.local_time import LOCAL_TIMEZONE
from retention.records.batch import HELD_OUT
from retention.records.labels import HIGH, PENDING, FollowUpOutcome
from retention.store.applications import APPLICATION_ACTIONS, APPLICATIONS
from retention.store.batches import ACTIONS, ASSIGNMENTS, SCORES
from retention.store.database import reading
from retention.store.keys import API_KEYS
from retention.store.tables import FollowUp, FollowUpChange, utc_now
from retention.store.users import USERS

FOLLOW_UPS: Table = FollowUp.__table__  # type: ignore[assignment]
CHANGES: Table = FollowUpChange.__table__  # type: ignore[assignment]
CHANGEABLE = ("outcome", "contacted_at", "note")
LOGGED = ("action_code", *CHANGEABLE)  # what the history keeps of a follow-up when logged


class IdempotencyConflict(ValueError):
    """The key was used before for a different request."""


@dataclass(frozen=True)
class NewFollowUp:
    """A follow-up of an account (customer_id) or of an application (application_id, with
    customer_id None): exactly one of them, as the table's check enforces."""

    customer_id: str | None
    action_code: str
    outcome: FollowUpOutcome = PENDING
    note: str | None = None
    contacted_at: dt.datetime | None = None
    application_id: str | None = None

    def __post_init__(self) -> None:
        if (self.customer_id is None) == (self.application_id is None):
            raise ValueError("a follow-up is of one account or of one application")


def request_hash(item: NewFollowUp) -> str:
    fields = dict(item.__dict__)
    if fields["application_id"] is None:  # an account's: hashed as before applications came
        del fields["application_id"]
    text = json.dumps(fields, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def create_follow_up(
    engine: Engine,
    item: NewFollowUp,
    batch_id: int | None,
    caller_id: int | None,
    idempotency_key: str | None = None,
    user_id: int | None = None,
    run_id: int | None = None,
) -> tuple[dict[str, Any], bool]:
    """Store a follow-up (owner and due date from the recommended action of the batch, or of
    the watch run `run_id` for an application, if any), logged through the API (`caller_id`,
    an API key) or on the page (`user_id`).

    Returns the row and whether it was stored before (a retry)."""
    caller = caller_id if user_id is None else f"user-{user_id}"
    scoped = None if idempotency_key is None else f"{caller}:{idempotency_key}"
    digest = request_hash(item)
    if item.application_id is None:
        owner, due = _recommended(engine, batch_id, item)
    else:
        owner, due = _recommended_for_application(engine, run_id, item)
    now = utc_now()
    try:
        with engine.begin() as connection:
            new_id = connection.execute(
                insert(FOLLOW_UPS)
                .values(
                    customer_id=item.customer_id,
                    batch_id=batch_id,
                    application_id=item.application_id,
                    watch_run_id=run_id,
                    action_code=item.action_code,
                    owner=owner,
                    due_date=due,
                    outcome=item.outcome,
                    note=item.note,
                    contacted_at=item.contacted_at,
                    created_at=now,
                    updated_at=now,
                    created_by=caller_id,
                    created_by_user=user_id,
                    idempotency_key=scoped,
                    request_hash=digest,
                )
                .returning(FOLLOW_UPS.c.id)
            ).scalar_one()
            logged = {name: getattr(item, name) for name in LOGGED}
            subject = (item.customer_id, item.application_id)
            _keep_change(connection, new_id, subject, now, None, logged, caller_id, user_id)
            _mark_control_followed_up(connection, batch_id, item.customer_id)
    except IntegrityError:
        # A concurrent retry stored it first: answer as that one did.
        found = _by_key(engine, scoped) if scoped is not None else None
        if found is None:
            raise
        return _replay(found, digest)
    row = get_follow_up(engine, int(new_id))
    assert row is not None
    return row, False


def _mark_control_followed_up(
    connection: Connection, batch_id: int | None, customer_id: str | None
) -> None:
    """A follow-up of an account the batch held out as the control group: its assignment was
    not complied with (in the follow-up's transaction, so neither is kept without the other)."""
    if batch_id is None or customer_id is None:
        return
    connection.execute(
        update(ASSIGNMENTS)
        .where(
            ASSIGNMENTS.c.batch_id == batch_id,
            ASSIGNMENTS.c.customer_id == customer_id,
            ASSIGNMENTS.c.assignment == HELD_OUT,
        )
        .values(complied=False)
    )


def _replay(found: dict[str, Any], digest: str) -> tuple[dict[str, Any], bool]:
    if found["request_hash"] != digest:
        raise IdempotencyConflict("this Idempotency-Key was used for a different follow-up")
    return found, True


def stored_reply(
    engine: Engine, item: NewFollowUp, caller_id: int | None, key: str
) -> dict[str, Any] | None:
    """The follow-up a caller already stored under this idempotency key, if any (a different
    request under the same key is an IdempotencyConflict)."""
    found = _by_key(engine, f"{caller_id}:{key}")
    return None if found is None else _replay(found, request_hash(item))[0]


def _by_key(engine: Engine, scoped: str) -> dict[str, Any] | None:
    return _one(engine, FOLLOW_UPS.c.idempotency_key == scoped)


def _one(engine: Engine, which: Any) -> dict[str, Any] | None:
    with engine.connect() as connection:
        row = connection.execute(select(FOLLOW_UPS).where(which)).mappings().first()
    return None if row is None else dict(row)


def _recommended(
    engine: Engine, batch_id: int | None, item: NewFollowUp
) -> tuple[str | None, dt.date | None]:
    if batch_id is None:
        return None, None
    query = select(ACTIONS.c.owner, ACTIONS.c.due_date).where(
        ACTIONS.c.batch_id == batch_id,
        ACTIONS.c.customer_id == item.customer_id,
        ACTIONS.c.code == item.action_code,
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    return (None, None) if row is None else (row.owner, row.due_date)


def _recommended_for_application(
    engine: Engine, run_id: int | None, item: NewFollowUp
) -> tuple[str | None, dt.date | None]:
    """The owner (the application's account manager for their actions, else the role) and
    due date of the run's recommended action of this code."""
    if run_id is None:
        return None, None
    a = APPLICATION_ACTIONS.c
    query = (
        select(a.role, a.due_date, APPLICATIONS.c.owner_id)
        .join(
            APPLICATIONS,
            and_(
                APPLICATIONS.c.run_id == a.run_id,
                APPLICATIONS.c.application_id == a.application_id,
            ),
        )
        .where(
            a.run_id == run_id, a.application_id == item.application_id, a.code == item.action_code
        )
    )
    with engine.connect() as connection:
        row = connection.execute(query).first()
    if row is None:
        return None, None
    manager = row.role == "account_manager" and row.owner_id is not None
    return (row.owner_id if manager else row.role), row.due_date


def get_follow_up(engine: Engine, follow_up_id: int) -> dict[str, Any] | None:
    return _one(engine, FOLLOW_UPS.c.id == follow_up_id)


def update_follow_up(
    engine: Engine,
    follow_up_id: int,
    changes: dict[str, Any],
    caller_id: int | None = None,
    user_id: int | None = None,
) -> dict[str, Any] | None:
    """Change outcome, contact time or note, by an API key (`caller_id`) or a person signed in
    on the page (`user_id`); the fields that change go into the history in the same
    transaction. None when there is no such follow-up."""
    wanted = {k: v for k, v in changes.items() if k in CHANGEABLE}
    now = utc_now()
    row = FOLLOW_UPS.c.id == follow_up_id
    with engine.begin() as connection:
        # Write first: that locks the row (PostgreSQL) or the database (SQLite) until the
        # end, so "before" is what this change replaces, even when two people save at once.
        if connection.execute(update(FOLLOW_UPS).where(row).values(updated_at=now)).rowcount == 0:
            return None
        current = connection.execute(select(FOLLOW_UPS).where(row)).mappings().one()
        changed = {k: v for k, v in wanted.items() if current[k] != v}
        if changed:
            connection.execute(update(FOLLOW_UPS).where(row).values(**changed))
            before = {k: current[k] for k in changed}
            subject = (current["customer_id"], current["application_id"])
            _keep_change(
                connection, follow_up_id, subject, now, before, changed, caller_id, user_id
            )
    return get_follow_up(engine, follow_up_id)


def _keep_change(
    connection: Connection,
    follow_up_id: int,
    subject: tuple[str | None, str | None],  # (customer_id, application_id)
    when: dt.datetime,
    before: dict[str, Any] | None,
    after: dict[str, Any],
    caller_id: int | None,
    user_id: int | None,
) -> None:
    """One entry of a follow-up's history (before None: it was logged), naming who as they
    were called then: the entry outlives the key or the person."""
    name = None
    if user_id is not None:
        person = connection.execute(
            select(USERS.c.username, USERS.c.display_name).where(USERS.c.id == user_id)
        ).first()
        if person is not None:
            shown = person.display_name
            name = f"{shown} ({person.username})" if shown else person.username
    elif caller_id is not None:
        key = connection.execute(
            select(API_KEYS.c.name, API_KEYS.c.prefix).where(API_KEYS.c.id == caller_id)
        ).first()
        name = None if key is None else f"{key.name} ({key.prefix})"
    connection.execute(
        insert(CHANGES).values(
            follow_up_id=follow_up_id,
            customer_id=subject[0],
            application_id=subject[1],
            changed_at=when,
            change="created" if before is None else "updated",
            changed_by=caller_id,
            changed_by_user=user_id,
            changed_by_name=name,
            before=None if before is None else _as_json(before),
            after=_as_json(after),
        )
    )


def _as_json(fields: dict[str, Any]) -> str:
    """Fields as the history keeps them: times as RFC 3339 instants, as the API sends times
    (the store's times are naive UTC)."""
    return json.dumps(
        {k: f"{v.isoformat()}Z" if isinstance(v, dt.datetime) else v for k, v in fields.items()},
        ensure_ascii=False,
    )


def follow_up_changes(engine: Engine, follow_up_ids: list[int]) -> list[dict[str, Any]]:
    """The history of these follow-ups, oldest first, with `before` and `after` as dicts."""
    query = select(CHANGES).where(CHANGES.c.follow_up_id.in_(follow_up_ids)).order_by(CHANGES.c.id)
    with engine.connect() as connection:
        rows = connection.execute(query).mappings().all()
    return [
        {
            **row,
            "before": None if row["before"] is None else json.loads(row["before"]),
            "after": json.loads(row["after"]),
        }
        for row in rows
    ]


# An account's follow-ups, newest first: every GET .../risk and account page asks, so the
# statement is built once (and no count is needed).
_OF_ACCOUNT = (
    select(FOLLOW_UPS)
    .where(FOLLOW_UPS.c.customer_id == bindparam("customer_id"))
    .order_by(FOLLOW_UPS.c.id.desc())
    .limit(bindparam("limit"))
)


def account_follow_ups(
    engine: Engine | Connection, customer_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """An account's latest follow-ups, newest first."""
    with reading(engine) as connection:
        rows = connection.execute(_OF_ACCOUNT, {"customer_id": customer_id, "limit": limit})
        return [dict(r) for r in rows.mappings()]


_OF_APPLICATION = (
    select(FOLLOW_UPS)
    .where(FOLLOW_UPS.c.application_id == bindparam("application_id"))
    .order_by(FOLLOW_UPS.c.id.desc())
    .limit(bindparam("limit"))
)


def application_follow_ups(
    engine: Engine | Connection, application_id: str, limit: int = 100
) -> list[dict[str, Any]]:
    """An application's latest follow-ups, newest first."""
    with reading(engine) as connection:
        rows = connection.execute(
            _OF_APPLICATION, {"application_id": application_id, "limit": limit}
        )
        return [dict(r) for r in rows.mappings()]


def list_follow_ups(
    engine: Engine,
    today: dt.date,
    customer_id: str | None = None,
    owner: str | None = None,
    action_code: str | None = None,
    overdue: bool | None = None,
    limit: int = 100,
    offset: int = 0,
    application_id: str | None = None,
    accounts_only: bool = False,
) -> tuple[list[dict[str, Any]], int]:
    """Follow-ups, newest first; `overdue`: not contacted and past the due date;
    `accounts_only`: leave out the follow-ups of applications."""
    where = []
    if customer_id is not None:
        where.append(FOLLOW_UPS.c.customer_id == customer_id)
    if application_id is not None:
        where.append(FOLLOW_UPS.c.application_id == application_id)
    if accounts_only:
        where.append(FOLLOW_UPS.c.customer_id.is_not(None))
    if owner is not None:
        where.append(FOLLOW_UPS.c.owner == owner)
    if action_code is not None:
        where.append(FOLLOW_UPS.c.action_code == action_code)
    late = and_(
        FOLLOW_UPS.c.contacted_at.is_(None),
        FOLLOW_UPS.c.due_date.is_not(None),
        FOLLOW_UPS.c.due_date < today,
    )
    if overdue is True:
        where.append(late)
    elif overdue is False:
        where.append(~late)
    with engine.connect() as connection:
        total = connection.execute(
            select(func.count()).select_from(FOLLOW_UPS).where(*where)
        ).scalar_one()
        rows = (
            connection.execute(
                select(FOLLOW_UPS)
                .where(*where)
                .order_by(FOLLOW_UPS.c.id.desc())
                .limit(limit)
                .offset(offset)
            )
            .mappings()
            .all()
        )
    return [dict(r) for r in rows], int(total)


def kpis(engine: Engine, batch_id: int, today: dt.date) -> dict[str, Any]:
    """The zero-churn figures of a batch's high band, overall and by manager and unit.

    An account counts as followed up when a follow-up was logged against this batch; as
    contacted on time when one has a contact time on or before its first action's due date;
    as overdue when it has no contact yet and its first due date has passed. The control
    group held out at the capacity edge is not counted: no follow-up is due for it.
    """
    held_out = select(ASSIGNMENTS.c.customer_id).where(
        ASSIGNMENTS.c.batch_id == batch_id, ASSIGNMENTS.c.assignment == "held_out"
    )
    with engine.connect() as connection:
        high = pd.DataFrame(
            connection.execute(
                select(
                    SCORES.c.customer_id,
                    SCORES.c.account_manager_id,
                    SCORES.c.region,
                    SCORES.c.money_at_risk_cny,
                ).where(
                    SCORES.c.batch_id == batch_id,
                    SCORES.c.band == HIGH,
                    SCORES.c.customer_id.not_in(held_out),
                )
            ).all(),
            columns=["customer_id", "account_manager_id", "region", "money_at_risk_cny"],
        )
        due = pd.DataFrame(
            connection.execute(
                select(ACTIONS.c.customer_id, ACTIONS.c.due_date).where(
                    ACTIONS.c.batch_id == batch_id, ACTIONS.c.position == 1
                )
            ).all(),
            columns=["customer_id", "first_due"],
        )
        follow = pd.DataFrame(
            connection.execute(
                select(FOLLOW_UPS.c.customer_id, FOLLOW_UPS.c.contacted_at, FOLLOW_UPS.c.outcome)
                .where(FOLLOW_UPS.c.batch_id == batch_id)
                .order_by(FOLLOW_UPS.c.id)  # the latest follow-up of an account is its outcome
            ).all(),
            columns=["customer_id", "contacted_at", "outcome"],
        )
    high = high.merge(due, on="customer_id", how="left")
    contacted = follow.dropna(subset=["contacted_at"]).groupby("customer_id")["contacted_at"].min()
    high["followed"] = high["customer_id"].isin(set(follow["customer_id"]))
    # Stored in UTC; the due date is a local (Beijing time) working day.
    first_contact = (
        pd.to_datetime(high["customer_id"].map(contacted))
        .dt.tz_localize("UTC")
        .dt.tz_convert(LOCAL_TIMEZONE)
    )
    high["contacted"] = first_contact.notna()
    high["on_time"] = high["contacted"] & (first_contact.dt.date <= high["first_due"]).fillna(False)
    high["overdue"] = ~high["contacted"] & (high["first_due"] < today).fillna(False)
    outcomes = {
        outcome: int(count)
        for outcome, count in follow[follow["customer_id"].isin(set(high["customer_id"]))]
        .drop_duplicates("customer_id", keep="last")["outcome"]
        .value_counts()
        .items()
    }
    return {
        "overall": _figures(high),
        "outcomes": outcomes,
        "by_account_manager": _grouped(high, "account_manager_id"),
        "by_region": _grouped(high, "region"),
    }


def _figures(frame: pd.DataFrame) -> dict[str, Any]:
    n = len(frame)
    money = float(frame["money_at_risk_cny"].sum())
    covered = float(frame.loc[frame["followed"], "money_at_risk_cny"].sum())
    return {
        "high_risk_accounts": n,
        "followed_up": int(frame["followed"].sum()),
        "coverage": float(frame["followed"].mean()) if n else 0.0,
        "contacted_on_time": int(frame["on_time"].sum()),
        "on_time_contact_rate": float(frame["on_time"].mean()) if n else 0.0,
        "overdue": int(frame["overdue"].sum()),
        "money_at_risk_cny": money,
        "money_at_risk_covered_cny": covered,
        "money_covered_share": covered / money if money else 0.0,
    }


def _grouped(frame: pd.DataFrame, column: str) -> list[dict[str, Any]]:
    return [
        {"key": "" if pd.isna(key) else str(key), **_figures(part)}
        for key, part in frame.groupby(frame[column].fillna(""), sort=True)
    ]
