"""Dependencies as Annotated aliases: the store, the model, the caller and their role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine
from typing import Annotated, Any, ParamSpec, TypeVar

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from retention.serving.model import ServingModel
from retention.serving.schemas import Error
from retention.settings import Settings
from retention.store.keys import Caller, caller_for

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "no key, or an unknown or revoked key"},
    403: {"model": Error, "description": "the key's role may not do this"},
}
# What a route that reads a JSON body can also answer (see retention.serving.errors).
BODY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Error, "description": "the body is not JSON in UTF-8, or nested too deeply"},
    413: {"model": Error, "description": "the body is larger than its limit"},
}
bearer = HTTPBearer(auto_error=False, description="An API key: `retention keys create`.")
P = ParamSpec("P")
T = TypeVar("T")


async def on_store(engine: Engine, read: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run a store call where it does not hold the event loop.

    On a database server (PostgreSQL) a query waits on the network, so it runs in a worker
    thread; on SQLite, an in-process file in WAL mode whose readers never wait for a writer,
    an indexed read costs less than the hop to a thread and back (benchmarks/api.py: the
    hops took GET .../risk from 0.9x to 0.3x the throughput of /healthz), so it runs inline.
    """
    if engine.dialect.name == "sqlite":
        return read(*args, **kwargs)
    return await run_in_threadpool(read, *args, **kwargs)


async def get_engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


async def get_model(request: Request) -> ServingModel:
    model: ServingModel = request.app.state.model
    return model


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# The trivial dependencies are coroutines: a sync one costs a thread hop per request.
Store = Annotated[Engine, Depends(get_engine)]
Model = Annotated[ServingModel, Depends(get_model)]
Config = Annotated[Settings, Depends(get_settings)]


def json_response(model: BaseModel, status_code: int = 200) -> Response:
    """A validated response model sent as is: FastAPI would validate it a second time."""
    return Response(model.model_dump_json(), status_code, media_type="application/json")


def _authenticate(engine: Engine, authorization: str | None) -> Caller:
    scheme, _, key = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=("unauthenticated", "send Authorization: Bearer <API key>"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    caller = caller_for(engine, key.strip())
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=("invalid_key", "the API key is unknown or revoked"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


def _authorise(caller: Caller, permitted: frozenset[str]) -> Caller:
    if caller.role not in permitted:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=("forbidden", f"the role {caller.role!r} may not do this"),
        )
    return caller


async def get_caller(
    request: Request,
    engine: Store,
    # declared for the OpenAPI document's security scheme; KeyFirstRoute has read the header
    _credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    known: Caller | None = getattr(request.state, "caller", None)
    if known is not None:
        return known
    return await on_store(engine, _authenticate, engine, request.headers.get("authorization"))


class _RoleCheck:
    """The dependency `allow(...)` gives: lets only its roles through."""

    def __init__(self, roles: frozenset[str]) -> None:
        self.roles = roles

    async def __call__(self, caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        return _authorise(caller, self.roles)


def allow(*roles: str) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that lets only these roles through (admin always)."""
    return _RoleCheck(frozenset({*roles, "admin"}))


def _roles_of(dependant: Dependant) -> frozenset[str] | None:
    for sub in dependant.dependencies:
        if isinstance(sub.call, _RoleCheck):
            return sub.call.roles
        found = _roles_of(sub)
        if found is not None:
            return found
    return None


class KeyFirstRoute(APIRoute):
    """A route that checks the caller's key and role before FastAPI reads and parses the
    request body: without a valid key for the route's roles, no byte of the body is read."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        roles = _roles_of(self.dependant)
        if roles is None:
            return handler

        async def key_first(request: Request) -> Response:
            engine: Engine = request.app.state.engine
            header = request.headers.get("authorization")
            # A query: a slow database must not hold the event loop (on_store).
            caller = await on_store(engine, _authenticate, engine, header)
            request.state.caller = _authorise(caller, roles)
            return await handler(request)

        return key_first


Reader = Annotated[Caller, Depends(allow("crm", "retention"))]
Scorer = Annotated[Caller, Depends(allow("crm"))]
Logger = Annotated[Caller, Depends(allow("crm", "retention"))]  # posts follow-ups
Admin = Annotated[Caller, Depends(allow())]
