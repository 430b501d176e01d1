"""The one place where errors become HTTP responses.

:data:`STATUS` maps the domain exception tree of :mod:`nextofkin.errors` (plus the few errors the
web layer raises itself, defined here) to an HTTP status. Every error leaves the API as
``{"error": {"type": "<ExceptionClass>", "message": "..."}}`` (``NoFaceFound`` adds ``tried``);
page requests get the same message in an HTML page, or a redirect to the login page when nobody is
logged in. :class:`ErrorShield`, the outermost middleware but one, gives every other exception (a
bug, a full disk) the same shape as a 500, so no response ever leaves without it and the security
headers.
"""

from __future__ import annotations

import logging
from html import escape
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import Message, Receive, Scope, Send

from nextofkin import errors as e
from nextofkin.i18n import _, current_language, use_language
from nextofkin.web.asgi import HttpMiddleware
from nextofkin.web.language import request_language
from nextofkin.web.problems import (
    CsrfRejected,
    ErrorBody,
    InternalError,
    LoginBusy,
    LoginThrottled,
    NotAuthenticated,
    UploadRejected,
    UploadTooLarge,
)
from nextofkin.web.render import render_error

log = logging.getLogger(__name__)


# Most specific first: the first class an error is an instance of decides.
STATUS: list[tuple[type[Exception], int]] = [
    (NotAuthenticated, 401),
    (CsrfRejected, 403),
    (UploadTooLarge, 413),
    (UploadRejected, 415),
    (LoginThrottled, 429),
    (LoginBusy, 503),
    (InternalError, 500),
    (e.UnsupportedFormat, 415),
    (e.ImageTooLarge, 413),
    (e.NoFaceFound, 422),
    (e.ImageTooSmall, 422),
    (e.ImageNotAnalysable, 422),
    (e.OverBudget, 422),
    (e.InputError, 400),
    (e.NotFound, 404),
    (e.PermissionDenied, 403),
    (e.CaseStateError, 409),
    (e.PolicyViolation, 409),
    (e.AuditIntegrityError, 500),
    (e.Busy, 503),
    (e.DiskFull, 507),
    (e.TemporaryDeliveryError, 503),
    (e.UncertainDeliveryError, 502),
    (e.PermanentDeliveryError, 502),
    (e.NotifyError, 502),
    (e.CalibrationError, 503),
    (e.IndexError_, 503),
    (e.ModelError, 503),
    (e.ConfigError, 500),
    (e.NextOfKinError, 500),
]


def describe(exc: Exception) -> ErrorBody:
    """The status, type name and message of ``exc`` (a domain error, or an HTTP one)."""
    if isinstance(exc, StarletteHTTPException):
        kind = {
            404: "NotFound",
            405: "MethodNotAllowed",
            401: "NotAuthenticated",
            413: "UploadTooLarge",
        }.get(exc.status_code, "HTTPError")
        return ErrorBody(exc.status_code, kind, str(exc.detail), {})
    if isinstance(exc, RequestValidationError):
        problems = [
            f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
            for err in exc.errors()
        ]
        return ErrorBody(422, "ValidationError", "; ".join(problems), {})
    status = next((code for cls, code in STATUS if isinstance(exc, cls)), 500)
    extra: dict[str, Any] = {}
    if isinstance(exc, e.NoFaceFound):
        extra["tried"] = exc.tried[:50]
    return ErrorBody(status, type(exc).__name__, str(exc), extra)


def wants_json(request: Request) -> bool:
    """Whether the request is an API call (JSON errors) rather than a page (HTML errors)."""
    return request.url.path.startswith("/api/") or request.url.path == "/api"


async def handle(request: Request, exc: Exception) -> Response:
    """Turn any handled exception into the right response for the kind of request."""
    body = describe(exc)
    if body.status >= 500:
        log.error("%s on %s: %s", body.type, request.url.path, body.message, exc_info=exc)
    headers = {"WWW-Authenticate": "Bearer"} if body.status == 401 else {}
    retry_after = getattr(exc, "retry_after", None)
    if isinstance(retry_after, int):
        headers["Retry-After"] = str(retry_after)
    if wants_json(request) or request.url.path.startswith("/media/"):
        return JSONResponse(body.json(), status_code=body.status, headers=headers)
    if isinstance(exc, NotAuthenticated) and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
    response = render_error(request, body)
    response.headers.update(headers)
    return response


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")


def install(app: FastAPI) -> None:
    """Register :func:`handle` for domain errors, HTTP errors and validation errors."""
    app.add_exception_handler(e.NextOfKinError, handle)
    app.add_exception_handler(StarletteHTTPException, handle)
    app.add_exception_handler(RequestValidationError, handle)


class ErrorShield(HttpMiddleware):
    """ASGI middleware turning any exception that escaped the routes into the one error shape.

    Sits inside :class:`nextofkin.web.middleware.SecurityHeaders`, so its answers carry the
    headers too. The exception is logged with its traceback; the client is told only that an
    internal error happened (its text could name files or SQL).
    """

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def watching_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, watching_send)
        except Exception as exc:
            log.error("unhandled %s on %s", type(exc).__name__, scope.get("path"), exc_info=exc)
            if started:
                raise  # half a response went out: nothing better to do than cut it
            request = Request(scope, receive)
            # Outside the language middleware: choose the request's language again.
            with use_language(request_language(scope)):
                body = describe(InternalError(_("internal error: it was logged on the server")))
                response: Response
                if wants_json(request) or request.url.path.startswith("/media/"):
                    response = JSONResponse(body.json(), status_code=500)
                else:
                    response = _plain_error_page(request, body)
            await response(scope, receive, send)


def _plain_error_page(request: Request, body: ErrorBody) -> Response:
    """The error page, or (if even rendering fails) the same words without the templates."""
    try:
        return render_error(request, body)
    except Exception:  # the templates or the session may be what broke
        log.exception("error page could not be rendered")
    # The words of error.html, from the same catalogue: this page is read in the same language.
    heading, back = escape(_("Something went wrong")), escape(_("Back to the dashboard"))
    html = (
        f"<!doctype html><html lang={current_language()}><meta charset=utf-8><title>"
        f"{escape(body.type)}</title><h1>{heading}</h1><p>{escape(body.message)}</p>"
        f"<p>{escape(body.type)} · HTTP {body.status}</p><p><a href=/>{back}</a>"
    )
    return HTMLResponse(html, status_code=body.status)
