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
from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request, status
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.middleware.sessions import SessionMiddleware

from retention.model.compatibility import CatalogueMismatch
from retention.serving import metrics
from retention.serving.errors import add_error_handlers
from retention.serving.model import ServingModel, champion_version, load_champion_for_serving
from retention.serving.routers import (
    accounts,
    admin,
    applications,
    effects,
    follow_ups,
    health,
    score,
)
from retention.serving.schemas import Error
from retention.serving.score_input import ScoreRequest
from retention.serving.score_workers import ScoreWorkers
from retention.serving.web import application_pages, effect_pages, pages
from retention.serving.web.auth import LoginThrottle, SignInRequired
from retention.settings import Settings
from retention.store.database import open_store

log = logging.getLogger(__name__)
WEB = Path(__file__).parent / "web"
SMALL_BODY_BYTES = 64 * 1024  # every body but POST /v1/score's (RETENTION_MAX_BODY_BYTES)

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
        app.state.score_workers = ScoreWorkers(
            app.state.model, settings.store_url, settings.score_workers, settings.medium_probability
        )
        app.state.score_workers.warm()
        metrics.set_model(app.state.model.name, app.state.model.version)
        effects = app.state.model.effects
        log.info(
            "serving model %s v%s (effects: %s)",
            app.state.model.name,
            app.state.model.version,
            "none" if effects is None else f"v{effects[0]}",
        )
        # What start-up loaded (libraries, the model) lives as long as the process: keep it out
        # of the garbage collector's full passes, which otherwise add tens of ms to some requests.
        gc.collect()
        gc.freeze()
        watcher = asyncio.create_task(_follow_champion(app, settings)) if follow else None
        yield
        if watcher is not None:
            watcher.cancel()
        app.state.score_workers.close(wait=True)
        app.state.engine.dispose()

    # The intranet has no internet: the docs pages' scripts are served from the package.
    app = FastAPIOffline(
        title="Key-account retention API · 大客户流失预警",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        # operationId = the route function's name (get_account_risk, post_follow_up, ...):
        # what a CRM's generated client calls, and what the document's links name.
        generate_unique_id_function=lambda route: route.name,
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
    add_error_handlers(app)
    # Bodies are small (a follow-up, a form) except POST /v1/score's accounts and rows.
    for router in (
        health.router,
        accounts.router,
        follow_ups.router,
        applications.router,
        effects.router,
        admin.router,
        pages.router,
        application_pages.router,
        effect_pages.router,
    ):
        app.include_router(router, max_body_size=SMALL_BODY_BYTES)
    app.include_router(score.router, max_body_size=settings.max_body_bytes)
    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
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
        except CatalogueMismatch as refused:  # keep serving the model that works
            log.error("the new champion is not served: %s", refused)
        except Exception:  # the registry is unreachable: keep serving, try again later
            log.warning("could not check the registry's champion", exc_info=True)


async def _to_sign_in(_: Request, exc: SignInRequired) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(exc.next_path)}", status.HTTP_303_SEE_OTHER)


def _openapi(app: FastAPI) -> dict[str, Any]:
    """The document, with POST /v1/score's body (read by the route itself) in its schemas."""
    if app.openapi_schema is None:
        document = type(app).openapi(app)  # builds and keeps app.openapi_schema
        schema = ScoreRequest.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.update(schema.pop("$defs", {}))
        schemas["ScoreRequest"] = schema
    return app.openapi_schema  # type: ignore[return-value]
