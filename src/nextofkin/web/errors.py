"""The one place where errors become HTTP responses.

:data:`STATUS` maps the domain exception tree of :mod:`nextofkin.errors` (plus the few errors the
web layer raises itself, defined here) to an HTTP status. Every error leaves the API as
``{"error": {"type": "<ExceptionClass>", "message": "..."}}`` (``NoFaceFound`` adds ``tried``);
page requests get the same message in an HTML page, or a redirect to the login page when nobody is
logged in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from nextofkin import errors as e

log = logging.getLogger(__name__)


class WebError(e.NextOfKinError):
    """An error the web layer itself raises (authentication, CSRF, upload limits)."""


class NotAuthenticated(WebError):
    """Nobody is logged in, or the bearer token is unknown or revoked."""


class CsrfRejected(WebError):
    """An unsafe request without the session's CSRF token."""


class UploadTooLarge(WebError):
    """An upload (or the whole request) over the configured size limit."""


class UploadRejected(WebError):
    """An upload that is not one of the accepted image types, or too many files."""


# Most specific first: the first class an error is an instance of decides.
STATUS: list[tuple[type[Exception], int]] = [
    (NotAuthenticated, 401),
    (CsrfRejected, 403),
    (UploadTooLarge, 413),
    (UploadRejected, 415),
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


@dataclass(frozen=True)
class ErrorBody:
    """What an error says, whichever way it is shown."""

    status: int
    type: str
    message: str
    extra: dict[str, Any]

    def json(self) -> dict[str, Any]:
        """The stable JSON shape of every API error."""
        return {"error": {"type": self.type, "message": self.message, **self.extra}}


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
    if wants_json(request) or request.url.path.startswith("/media/"):
        headers = {"WWW-Authenticate": "Bearer"} if body.status == 401 else None
        return JSONResponse(body.json(), status_code=body.status, headers=headers)
    if isinstance(exc, NotAuthenticated) and request.method == "GET":
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)
    from nextofkin.web.render import render_error

    return render_error(request, body)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="/")


def install(app: FastAPI) -> None:
    """Register :func:`handle` for domain errors, HTTP errors and validation errors."""
    app.add_exception_handler(e.NextOfKinError, handle)
    app.add_exception_handler(StarletteHTTPException, handle)
    app.add_exception_handler(RequestValidationError, handle)
