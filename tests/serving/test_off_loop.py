"""Store queries never hold the event loop: a route or dependency that takes the store is a
plain function (FastAPI runs it in a worker thread) or hands its reads to `on_store`, so on
PostgreSQL a slow query holds only its own request, never every request of the process."""

from __future__ import annotations

import asyncio
import inspect
import threading

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import Engine, create_engine

from retention.serving.deps import get_caller, get_engine, on_store
from retention.serving.routers import accounts, admin, applications, follow_ups, health, score
from retention.serving.web import application_pages, pages

ROUTERS = (
    accounts.router,
    admin.router,
    applications.router,
    follow_ups.router,
    health.router,
    score.router,
    pages.router,
    application_pages.router,
)

# Coroutines that hand their queries to on_store themselves (a worker thread on a database
# server, inline on SQLite).
HANDS_OFF = {get_caller, accounts.get_account_risk}


def _coroutines_on_the_store(dependant: Dependant, found: set[str]) -> None:
    takes_store = any(sub.call is get_engine for sub in dependant.dependencies)
    call = dependant.call
    if takes_store and inspect.iscoroutinefunction(call) and call not in HANDS_OFF:
        found.add(getattr(call, "__qualname__", repr(call)))
    for sub in dependant.dependencies:
        _coroutines_on_the_store(sub, found)


def test_no_coroutine_route_or_dependency_takes_the_store() -> None:
    routes = [route for router in ROUTERS for route in router.routes if isinstance(route, APIRoute)]
    found: set[str] = set()
    for route in routes:
        _coroutines_on_the_store(route.dependant, found)
    assert len(routes) > 20  # the API's and the pages' routes are all here
    assert found == set()


def test_store_calls_leave_the_loop_on_a_database_server_and_stay_inline_on_sqlite() -> None:
    # Given an engine of each kind (neither connects: the call below does not query)
    sqlite = create_engine("sqlite://")
    postgres = create_engine("postgresql+psycopg://postgres@127.0.0.1:5432/test")

    async def thread_of(engine: Engine) -> threading.Thread:
        return await on_store(engine, threading.current_thread)

    async def both() -> tuple[threading.Thread, threading.Thread, threading.Thread]:
        return threading.current_thread(), await thread_of(sqlite), await thread_of(postgres)

    # When on_store runs a call for each
    loop_thread, on_sqlite, on_postgres = asyncio.run(both())

    # Then SQLite's runs on the event loop's thread and PostgreSQL's in a worker thread
    assert on_sqlite is loop_thread
    assert on_postgres is not loop_thread
