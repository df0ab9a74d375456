"""Sessions end when they should: sign-out, a new password, a new role or deactivation end every
session of that person, even a copied cookie; every page is sent with headers that keep it out
of frames and its content from being sniffed."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from retention.cli import app as cli
from retention.store.database import open_store
from retention.store.users import create_user, deactivate_user, get_user_by_name

from .test_pages import _csrf, _sign_in

COOKIE = "retention_session"


def _copied_cookie(served, name: str, password: str) -> str:  # type: ignore[no-untyped-def]
    """Sign in and keep a copy of the session cookie, as someone who saw it could."""
    client = served.client
    client.cookies.clear()
    assert _sign_in(client, name, password).status_code == 303
    assert client.get("/list", follow_redirects=False).status_code == 200
    return str(client.cookies[COOKIE])


def _opens_the_list(served, cookie: str) -> bool:  # type: ignore[no-untyped-def]
    served.client.cookies.clear()
    served.client.cookies.set(COOKIE, cookie)
    page = served.client.get("/list", follow_redirects=False)
    served.client.cookies.clear()
    assert page.status_code in (200, 303)
    return page.status_code == 200


def test_a_copied_cookie_does_not_outlive_sign_out(served) -> None:  # type: ignore[no-untyped-def]
    create_user(open_store(served.url), "he", "he-pass-123", "retention")
    copied = _copied_cookie(served, "he", "he-pass-123")
    assert _opens_the_list(served, copied)
    served.client.cookies.set(COOKIE, copied)
    page = served.client.get("/list").text
    out = served.client.post("/logout", data={"csrf": _csrf(page)}, follow_redirects=False)
    assert out.status_code == 303
    assert not _opens_the_list(served, copied)
    # signing in again gives a new session that works
    assert _opens_the_list(served, _copied_cookie(served, "he", "he-pass-123"))


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda engine, name: create_user(engine, name, "new-pass-456", "retention"),
                     id="password"),
        pytest.param(lambda engine, name: create_user(engine, name, "old-pass-123", "admin"),
                     id="role"),
        pytest.param(deactivate_user, id="deactivated"),
    ],
)  # fmt: skip
def test_a_new_password_role_or_deactivation_ends_the_persons_sessions(
    served,  # type: ignore[no-untyped-def]
    change: Callable[..., object],
    request: pytest.FixtureRequest,
) -> None:
    engine = open_store(served.url)
    name = f"ma-{request.node.callspec.id}"
    create_user(engine, name, "old-pass-123", "retention")
    create_user(engine, "he", "he-pass-123", "retention")
    others = _copied_cookie(served, "he", "he-pass-123")  # someone else's session
    copied = _copied_cookie(served, name, "old-pass-123")
    change(engine, name)
    assert not _opens_the_list(served, copied)
    assert _opens_the_list(served, others)


def test_users_create_for_an_existing_user_ends_their_sessions(served, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    create_user(engine, "lu", "lu-pass-1234", "retention")
    copied = _copied_cookie(served, "lu", "lu-pass-1234")
    monkeypatch.setenv("RETENTION_DATABASE_URL", served.url)
    ran = CliRunner().invoke(
        cli, ["users", "create", "lu", "--password-stdin"], input="lu-new-pass-99\n"
    )
    assert ran.exit_code == 0, ran.output
    assert "sessions" in ran.output
    assert not _opens_the_list(served, copied)
    assert _opens_the_list(served, _copied_cookie(served, "lu", "lu-new-pass-99"))


def test_retention_users_deactivate_signs_the_person_out_for_good(served, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    create_user(engine, "tang", "tang-pass-12", "retention")
    copied = _copied_cookie(served, "tang", "tang-pass-12")
    monkeypatch.setenv("RETENTION_DATABASE_URL", served.url)
    ran = CliRunner().invoke(cli, ["users", "deactivate", "tang"])
    assert ran.exit_code == 0, ran.output
    assert get_user_by_name(engine, "tang") is None
    assert not _opens_the_list(served, copied)
    served.client.cookies.clear()
    assert _sign_in(served.client, "tang", "tang-pass-12").status_code == 401
    unknown = CliRunner().invoke(cli, ["users", "deactivate", "nobody"])
    assert unknown.exit_code == 1 and "nobody" in unknown.output


def _directives(policy: str) -> dict[str, str]:
    """A Content-Security-Policy as directive: its sources."""
    pairs = (part.strip().partition(" ") for part in policy.split(";") if part.strip())
    return {name: sources for name, _, sources in pairs}


def _assert_page_headers(response) -> None:  # type: ignore[no-untyped-def]
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] in ("no-referrer", "same-origin")
    policy = _directives(response.headers["content-security-policy"])
    assert policy["frame-ancestors"] == "'none'"
    assert policy["default-src"] == "'self'"
    assert policy["form-action"] == "'self'"
    assert policy["base-uri"] == "'none'"
    assert policy["object-src"] == "'none'"
    for directive in ("script-src", "style-src", "default-src"):
        assert "unsafe" not in policy.get(directive, ""), directive


def test_every_page_is_kept_out_of_frames_and_scripts_from_elsewhere(served) -> None:  # type: ignore[no-untyped-def]
    engine = open_store(served.url)
    create_user(engine, "yu", "yu-pass-123", "retention")
    client = served.client
    client.cookies.clear()
    html = {"Accept": "text/html"}
    _assert_page_headers(client.get("/login"))
    assert _sign_in(client, "wrong", "not-it").status_code == 401
    _assert_page_headers(_sign_in(client, "wrong", "not-it"))  # the failed sign-in page
    assert _sign_in(client, "yu", "yu-pass-123").status_code == 303
    customer = served.scored.accounts["customer_id"].iloc[0]
    for path in ("/list", "/list?tab=exit", f"/accounts/{customer}", "/assessment"):
        page = client.get(path)
        assert page.status_code == 200, path
        _assert_page_headers(page)
        # nothing on the page needs what the policy forbids: no inline script or style
        assert not re.search(r"<script(?![^>]*\bsrc=)|\sstyle=|\son[a-z]+=", page.text), path
    # error pages too: not found, forbidden, a forged form
    for response in (
        client.get("/accounts/no-such-account", headers=html),
        client.get("/model", headers=html),
        client.get("/no-such-page", headers=html),
        client.post("/logout", data={"csrf": "forged"}, headers=html),
    ):
        assert response.status_code in (403, 404)
        _assert_page_headers(response)
    client.cookies.clear()
