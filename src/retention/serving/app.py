"""The FastAPI application: the model is loaded in `lifespan`, the rest is routers.

`create_app()` serves the registry's champion and the store of the settings; tests pass their
own settings and model loader.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from retention.serving import metrics
from retention.serving.model import ServingModel, champion_version, load_champion_for_serving
from retention.serving.routers import accounts, admin, follow_ups, health, score
from retention.serving.schemas import Error
from retention.serving.web import pages
from retention.serving.web.auth import LoginThrottle, SignInRequired
from retention.settings import Settings
from retention.store.database import open_store

log = logging.getLogger(__name__)
WEB = Path(__file__).parent / "web"

DESCRIPTION = """
大客户流失预警与挽留 API · Key-account churn risk, reasons, recommended actions and
follow-ups for the CRM and the retention team.

Every route except `/healthz` and `/readyz` needs `Authorization: Bearer <API key>`
(`retention keys create --role crm|retention|admin --name NAME`). Roles: `crm` reads, scores
and logs follow-ups; `retention` reads and logs follow-ups; `admin` does everything.
Errors are JSON: `{"code": "...", "message": "..."}`.
"""


def create_app(
    settings: Settings | None = None,
    load_model: Callable[[], ServingModel] | None = None,
) -> FastAPI:
    settings = settings or Settings()
    loader = load_model or (lambda: load_champion_for_serving(settings))
    follow = load_model is None and settings.model_check_seconds > 0

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = open_store(settings.store_url)
        app.state.load_model = loader
        app.state.login_throttle = LoginThrottle()
        app.state.model = loader()
        metrics.set_model(app.state.model.name, app.state.model.version)
        log.info("serving model %s v%s", app.state.model.name, app.state.model.version)
        # What start-up loaded (libraries, the model) lives as long as the process: keep it out
        # of the garbage collector's full passes, which otherwise add tens of ms to some requests.
        gc.collect()
        gc.freeze()
        watcher = asyncio.create_task(_follow_champion(app, settings)) if follow else None
        yield
        if watcher is not None:
            watcher.cancel()
        app.state.engine.dispose()

    # The intranet has no internet: the docs pages' scripts are served from the package.
    app = FastAPIOffline(
        title="Key-account retention API · 大客户流失预警",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Errors are documented as they are sent: {"code", "message"} (see deps.AUTH_ERRORS).
        responses={422: {"model": Error, "description": "the request breaks its schema"}},
    )
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.session_secret(),
        session_cookie="retention_session",
        same_site="lax",
        https_only=settings.secure_cookies,
        max_age=12 * 3600,  # a working day
    )
    app.add_middleware(metrics.RecordRequests)
    app.mount("/static", StaticFiles(directory=str(WEB / "static")), name="static")
    app.add_exception_handler(SignInRequired, _to_sign_in)  # type: ignore[arg-type]
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    # Starlette's own 404/405 (no route) in the same {"code", "message"} form
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _unstorable)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    for router in (health.router, accounts.router, follow_ups.router, score.router, admin.router):
        app.include_router(router)
    app.include_router(pages.router)
    return app


async def _follow_champion(app: FastAPI, settings: Settings) -> None:
    """Every `model_check_seconds`, load the champion if the registry's alias moved: every
    worker of a multi-worker server follows a promotion, not only the one that answered
    POST /v1/admin/reload."""
    while True:
        await asyncio.sleep(settings.model_check_seconds)
        try:
            current = await asyncio.to_thread(champion_version, settings)
            if current is not None and current != app.state.model.version:
                fresh = await asyncio.to_thread(admin.swap_model, app.state)
                log.info("the champion moved: serving model %s v%s", fresh.name, fresh.version)
        except admin.ReloadRunning:
            continue
        except Exception:  # the registry is unreachable: keep serving, try again later
            log.warning("could not check the registry's champion", exc_info=True)


async def _to_sign_in(_: Request, exc: SignInRequired) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(exc.next_path)}", status.HTTP_303_SEE_OTHER)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if isinstance(exc.detail, tuple):
        code, message = exc.detail
    else:
        code, message = _CODES.get(exc.status_code, "error"), str(exc.detail)
    if _is_page(request):  # a person in a browser gets a page, the CRM gets JSON
        response = pages.render(
            request, "error.html", None, status=exc.status_code, message=message
        )
        response.status_code = exc.status_code
        return response
    return JSONResponse(
        {"code": code, "message": message},
        status_code=exc.status_code,
        headers=getattr(exc, "headers", None),
    )


async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
    """A value the database cannot hold (PostgreSQL refuses text with a NUL byte): the
    request is at fault, not the server."""
    return JSONResponse(
        {"code": "invalid_request", "message": "a value the store cannot hold (e.g. a NUL byte)"},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
    problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:20]]
    return JSONResponse(
        {"code": "invalid_request", "message": "; ".join(problems)},
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT,
    )


def _is_page(request: Request) -> bool:
    path = request.url.path
    api = path.startswith(("/v1/", "/metrics", "/healthz", "/readyz", "/docs", "/openapi"))
    return not api and "text/html" in request.headers.get("accept", "")


_CODES = {404: "not_found", 405: "method_not_allowed", 401: "unauthenticated"}
