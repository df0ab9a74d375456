"""Every error the API answers is JSON `{"code", "message"}` with a specific code; a person in
a browser gets the error page instead. `add_error_handlers` installs them on the app."""

from __future__ import annotations

import json
import logging

from fastapi import FastAPI, HTTPException, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.body_limit import MAX_BODY_SIZE_SCOPE_KEY
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

# The code of an error raised without one (the framework's own, or a plain HTTPException).
CODES = {
    400: "malformed_body",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    422: "invalid_request",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}
MESSAGES = {
    # FastAPI says "There was an error parsing the body" for a body that is not UTF-8 JSON.
    400: "请求体无法解析 / the body is not JSON in UTF-8, or is nested too deeply",
    500: "服务器内部错误，已记录 / an internal error; it has been logged",
}


def add_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)  # type: ignore[arg-type]
    # Starlette's own 404/405 (no route) in the same {"code", "message"} form
    app.add_exception_handler(StarletteHTTPException, _http_error)  # type: ignore[arg-type]
    app.add_exception_handler(DataError, _unstorable)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, _invalid_request)  # type: ignore[arg-type]
    app.add_exception_handler(Exception, _internal_error)
    app.add_middleware(BodyLimitAsJson)


def error_response(request: Request, status_code: int, code: str, message: str) -> Response:
    if _is_page(request):  # a person in a browser gets a page, the CRM gets JSON
        from retention.serving.web import pages

        response = pages.render(request, "error.html", None, status=status_code, message=message)
        response.status_code = status_code
        return response
    return JSONResponse({"code": code, "message": message}, status_code=status_code)


async def _http_error(request: Request, exc: StarletteHTTPException) -> Response:
    if isinstance(exc.detail, tuple):
        code, message = exc.detail
    else:
        code = CODES.get(exc.status_code, "error")
        message = MESSAGES.get(exc.status_code, str(exc.detail))
    response = error_response(request, exc.status_code, code, message)
    response.headers.update(getattr(exc, "headers", None) or {})
    return response


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


async def _internal_error(request: Request, exc: Exception) -> Response:
    # The route's template, never its path or query: they can hold a customer's id or name.
    route = getattr(request.scope.get("route"), "path", "unmatched")
    log.error("internal error on %s %s", request.method, route, exc_info=exc)
    try:
        return error_response(request, 500, CODES[500], MESSAGES[500])
    except Exception:  # the error page itself failed: the JSON answer still goes out
        return JSONResponse({"code": CODES[500], "message": MESSAGES[500]}, status_code=500)


class BodyLimitAsJson:
    """ASGI middleware: Starlette's body limit answers 413 in plain text from inside the route;
    this sends the API's JSON error in its place."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        replaced = False

        async def as_json(message: Message) -> None:
            nonlocal replaced
            if replaced:
                return  # the plain-text body of the replaced answer
            if (
                message["type"] == "http.response.start"
                and message["status"] == 413
                and (b"content-type", b"text/plain; charset=utf-8") in message["headers"]
            ):
                replaced = True
                limit = scope.get(MAX_BODY_SIZE_SCOPE_KEY)
                shown = f"{limit:,} bytes" if isinstance(limit, int) else "the limit"
                body = json.dumps(
                    {
                        "code": CODES[413],
                        "message": f"请求体过大 / the request body is larger than {shown}: "
                        "send fewer accounts per call",
                    },
                    ensure_ascii=False,
                ).encode("utf-8")
                await send(
                    {
                        "type": "http.response.start",
                        "status": 413,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close"),
                        ],
                    }
                )
                await send({"type": "http.response.body", "body": body})
                return
            await send(message)

        await self.app(scope, receive, as_json)


def _is_page(request: Request) -> bool:
    path = request.url.path
    api = path.startswith(("/v1/", "/metrics", "/healthz", "/readyz", "/docs", "/openapi"))
    return not api and "text/html" in request.headers.get("accept", "")
