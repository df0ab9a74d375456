"""People who sign in to the web page: a role and an argon2 password hash, never the password."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Engine, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from retention.store.tables import User, utc_now

USERS: Table = User.__table__  # type: ignore[assignment]
PAGE_ROLES = ("retention", "admin")
_hasher = PasswordHasher()
# Verifying against a dummy hash for an unknown name takes as long as for a known one.
_DUMMY = _hasher.hash("not a password anyone has")


@dataclass(frozen=True)
class Person:
    id: int
    username: str
    display_name: str | None
    role: str
    account_manager_id: str | None = None
    session_version: int = 0  # a session signed in under another version has ended


def create_user(
    engine: Engine,
    username: str,
    password: str,
    role: str,
    display_name: str | None = None,
    account_manager_id: str | None = None,
) -> Person:
    """A new user, or a new password and role for an existing one (which ends the sessions
    they signed in with)."""
    if role not in PAGE_ROLES:
        raise ValueError(f"role {role!r}: choose one of {', '.join(PAGE_ROLES)}")
    if not username.strip() or len(username) > 64:
        raise ValueError("a user name is 1 to 64 characters")
    if len(password) < 8:
        raise ValueError("a password has at least 8 characters")
    values = {
        "role": role,
        "password_hash": _hasher.hash(password),
        "display_name": display_name,
        "account_manager_id": account_manager_id,
        "active": True,
    }
    try:
        with engine.begin() as connection:
            connection.execute(
                insert(USERS).values(username=username.strip(), created_at=utc_now(), **values)
            )
    except IntegrityError:
        with engine.begin() as connection:
            connection.execute(
                update(USERS)
                .where(USERS.c.username == username.strip())
                .values(**values, session_version=USERS.c.session_version + 1)
            )
    person = get_user_by_name(engine, username.strip())
    assert person is not None
    return person


def end_sessions(engine: Engine, user_id: int) -> None:
    """End every session of this person (sign-out ends them on every device)."""
    with engine.begin() as connection:
        connection.execute(
            update(USERS)
            .where(USERS.c.id == user_id)
            .values(session_version=USERS.c.session_version + 1)
        )


def deactivate_user(engine: Engine, username: str) -> bool:
    """The person may no longer sign in, and their sessions end; False for an unknown name.
    The row stays: follow-ups and their history name who logged them."""
    with engine.begin() as connection:
        result = connection.execute(
            update(USERS)
            .where(USERS.c.username == username.strip())
            .values(active=False, session_version=USERS.c.session_version + 1)
        )
    return bool(result.rowcount)


def get_user_by_name(engine: Engine, username: str) -> Person | None:
    row = _active(engine, USERS.c.username == username)
    return None if row is None else _person(row)


def get_user(engine: Engine, user_id: int) -> Person | None:
    row = _active(engine, USERS.c.id == user_id)
    return None if row is None else _person(row)


def authenticate(engine: Engine, username: str, password: str) -> Person | None:
    """The user when the password is right; None otherwise (same time either way)."""
    row = _active(engine, USERS.c.username == username)
    stored = row.password_hash if row is not None and row.password_hash else None
    try:
        _hasher.verify(stored or _DUMMY, password)
    except (VerificationError, InvalidHashError):
        return None
    return None if stored is None else _person(row)


def _active(engine: Engine, which: Any) -> Any:
    """The active user row matching `which`, or None."""
    with engine.connect() as connection:
        return connection.execute(select(USERS).where(which, USERS.c.active.is_(True))).first()


def _person(row: Any) -> Person:
    return Person(
        row.id, row.username, row.display_name, row.role, row.account_manager_id,
        row.session_version,
    )  # fmt: skip
