"""Store queries never run on the event loop: a route or dependency that takes the store is a
plain function (FastAPI runs it in a worker thread), so on PostgreSQL a slow query holds only
its own request, never every request of the process."""

from __future__ import annotations

import inspect

from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from retention.serving.deps import get_caller, get_engine
from retention.serving.routers import accounts, admin, follow_ups, health, score
from retention.serving.web import pages

ROUTERS = (
    accounts.router,
    admin.router,
    follow_ups.router,
    health.router,
    score.router,
    pages.router,
)

# get_caller is a coroutine that hands its query to a worker thread itself.
HANDS_OFF = {get_caller}


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
