"""Dependencies as Annotated aliases: the store, the model, the caller and their role."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request, Response, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy import Engine

from retention.serving.model import ServingModel
from retention.serving.schemas import Error
from retention.settings import Settings
from retention.store.keys import Caller, caller_for

AUTH_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": Error, "description": "no key, or an unknown or revoked key"},
    403: {"model": Error, "description": "the key's role may not do this"},
}
bearer = HTTPBearer(auto_error=False, description="An API key: `retention keys create`.")


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


async def get_caller(
    engine: Store,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Caller:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=("unauthenticated", "send Authorization: Bearer <API key>"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    # One indexed lookup, run on the event loop: a thread hop would cost more than the query.
    caller = caller_for(engine, credentials.credentials)
    if caller is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED,
            detail=("invalid_key", "the API key is unknown or revoked"),
            headers={"WWW-Authenticate": "Bearer"},
        )
    return caller


def allow(*roles: str) -> Callable[[Caller], Awaitable[Caller]]:
    """A dependency that lets only these roles through (admin always)."""
    permitted = {*roles, "admin"}

    async def check(caller: Annotated[Caller, Depends(get_caller)]) -> Caller:
        if caller.role not in permitted:
            raise HTTPException(
                status.HTTP_403_FORBIDDEN,
                detail=("forbidden", f"the role {caller.role!r} may not do this"),
            )
        return caller

    return check


Reader = Annotated[Caller, Depends(allow("crm", "retention"))]
Scorer = Annotated[Caller, Depends(allow("crm"))]
Logger = Annotated[Caller, Depends(allow("crm", "retention"))]  # posts follow-ups
Admin = Annotated[Caller, Depends(allow())]
