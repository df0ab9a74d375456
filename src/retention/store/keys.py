"""API keys: created once and shown once, kept only as a hash, revoked by prefix."""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Engine, Table, bindparam, insert, select, update

from retention.store.tables import ROLES, ApiKey, utc_now

API_KEYS: Table = ApiKey.__table__  # type: ignore[assignment]
KEY_START = "rk_"


@dataclass(frozen=True)
class Caller:
    """Who is calling: the key's id, name and role (never the key itself)."""

    key_id: int
    name: str
    role: str


@dataclass(frozen=True)
class KeyInfo:
    id: int
    name: str
    role: str
    prefix: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None


def hash_key(key: str) -> str:
    # Keys are 256-bit random tokens: a plain SHA-256 is enough (no dictionary to attack).
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def create_key(engine: Engine, role: str, name: str) -> tuple[str, KeyInfo]:
    """A new key for `role`; returns the key (shown once) and what the store keeps."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: choose one of {', '.join(ROLES)}")
    if not name.strip():
        raise ValueError("a key needs a name that says who holds it")
    prefix = secrets.token_hex(4)
    key = f"{KEY_START}{prefix}_{secrets.token_urlsafe(32)}"
    with engine.begin() as connection:
        key_id = connection.execute(
            insert(API_KEYS)
            .values(
                name=name.strip(),
                role=role,
                prefix=prefix,
                key_hash=hash_key(key),
                created_at=utc_now(),
            )
            .returning(API_KEYS.c.id)
        ).scalar_one()
    return key, KeyInfo(key_id, name.strip(), role, prefix, utc_now(), None)


# Every API call runs it: built once, bound per call.
_CALLER = select(API_KEYS.c.id, API_KEYS.c.name, API_KEYS.c.role).where(
    API_KEYS.c.key_hash == bindparam("key_hash"), API_KEYS.c.revoked_at.is_(None)
)


def caller_for(engine: Engine, key: str) -> Caller | None:
    """The caller a key belongs to, or None for an unknown or revoked key."""
    if not key.startswith(KEY_START):
        return None
    with engine.connect() as connection:
        row = connection.execute(_CALLER, {"key_hash": hash_key(key)}).first()
    return None if row is None else Caller(row.id, row.name, row.role)


def revoke_key(engine: Engine, prefix: str) -> int:
    """Revoke the key with this prefix (as `keys list` shows it); returns how many."""
    with engine.begin() as connection:
        result = connection.execute(
            update(API_KEYS)
            .where(API_KEYS.c.prefix == prefix, API_KEYS.c.revoked_at.is_(None))
            .values(revoked_at=utc_now())
        )
    return int(result.rowcount)


def list_keys(engine: Engine) -> list[KeyInfo]:
    query = select(API_KEYS).order_by(API_KEYS.c.id)
    with engine.connect() as connection:
        return [
            KeyInfo(r.id, r.name, r.role, r.prefix, r.created_at, r.revoked_at)
            for r in connection.execute(query)
        ]
