"""Who is signed in (a signed session cookie) and CSRF tokens for every form."""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, Form, HTTPException, Request, status
from sqlalchemy import Engine

from retention.serving.deps import Store
from retention.store.users import Person, get_user


class SignInRequired(Exception):
    """Raised by page dependencies; the app answers with a redirect to the sign-in page."""

    def __init__(self, next_path: str) -> None:
        super().__init__(next_path)
        self.next_path = next_path


class LoginThrottle:
    """Failed sign-ins per user name and per client address in a sliding window. Past a limit,
    sign-in is refused without checking the password until the oldest failure leaves the
    window, so a password cannot be guessed at speed. Kept in the server process (each
    worker counts its own)."""

    def __init__(
        self,
        per_name: int = 5,
        per_address: int = 20,
        window_seconds: float = 15 * 60,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limits = {"name": per_name, "address": per_address}
        self.window = window_seconds
        self.clock = clock
        self._failures: dict[tuple[str, str], deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _keys(self, name: str, address: str) -> list[tuple[str, str]]:
        return [("name", name.strip().lower()), ("address", address)]

    def retry_after(self, name: str, address: str) -> int:
        """Seconds until this name and address may try again (0: now)."""
        now = self.clock()
        wait = 0.0
        with self._lock:
            for key in self._keys(name, address):
                failures = self._failures[key]
                while failures and failures[0] <= now - self.window:
                    failures.popleft()
                if len(failures) >= self.limits[key[0]]:
                    wait = max(wait, failures[0] + self.window - now)
        return int(wait) + (1 if wait else 0)

    def failed(self, name: str, address: str) -> None:
        with self._lock:
            for key in self._keys(name, address):
                self._failures[key].append(self.clock())

    def succeeded(self, name: str) -> None:
        with self._lock:
            self._failures.pop(("name", name.strip().lower()), None)


def next_target(request: Request) -> str:
    """Where to return after sign-in: the page asked for, with its query string."""
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use); forms carry it in a hidden field."""
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return str(token)


async def check_csrf(request: Request, csrf: Annotated[str, Form()] = "") -> None:
    """Refuse a form whose token is missing or not the session's."""
    expected = request.session.get("csrf")
    if not expected or not hmac.compare_digest(str(expected), csrf):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=("csrf", "the form is stale or forged: reload it")
        )


def signed_in(request: Request, engine: Engine) -> Person | None:
    """The person of this session, if it has not ended: the person is active and their
    session version is still the one the session was signed in with."""
    user_id = request.session.get("user_id")
    person = None if user_id is None else get_user(engine, int(user_id))
    if person is None or request.session.get("session_version") != person.session_version:
        return None
    return person


def page_user(request: Request, engine: Store) -> Person:
    """The signed-in person (a query: a plain function, so FastAPI runs it in a thread)."""
    person = signed_in(request, engine)
    if person is None:
        raise SignInRequired(next_target(request))
    return person


async def page_admin(person: Annotated[Person, Depends(page_user)]) -> Person:
    if person.role != "admin":
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, detail=("forbidden", "administrators only / 仅限管理员")
        )
    return person


Viewer = Annotated[Person, Depends(page_user)]
PageAdmin = Annotated[Person, Depends(page_admin)]
Csrf = Annotated[None, Depends(check_csrf)]
