"""Who is signed in (a signed session cookie) and CSRF tokens for every form."""

from __future__ import annotations

import hmac
import secrets
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
    user_id = request.session.get("user_id")
    return None if user_id is None else get_user(engine, int(user_id))


async def page_user(request: Request, engine: Store) -> Person:
    person = signed_in(request, engine)
    if person is None:
        raise SignInRequired(request.url.path)
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
