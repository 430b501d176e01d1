"""ASGI middlewares: security headers on every response, and a request body limit."""

from __future__ import annotations

from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nextofkin.i18n import format_number, gettext
from nextofkin.web.asgi import HttpMiddleware
from nextofkin.web.errors import describe, wants_json
from nextofkin.web.problems import UploadTooLarge

CSP = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)


SECURITY_HEADERS = {
    "content-security-policy": CSP,
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "permissions-policy": "camera=(), microphone=(), geolocation=()",
    "cross-origin-opener-policy": "same-origin",
}


class SecurityHeaders(HttpMiddleware):
    """ASGI middleware adding :data:`SECURITY_HEADERS` (and no-store for non-static responses)."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for key, value in SECURITY_HEADERS.items():
                    headers.setdefault(key, value)
                if not path.startswith(("/static/", "/media/")):
                    headers["cache-control"] = "no-store"
            await send(message)

        await self.app(scope, receive, send_with_headers)


class BodyLimit(HttpMiddleware):
    """ASGI middleware refusing request bodies over ``limit`` bytes with 413, before parsing.

    Checks the declared Content-Length first and then counts what actually arrives, so a client
    that lies about the length (or streams chunked) is cut off too.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        super().__init__(app)
        self.limit = limit

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _too_large(scope, receive, send, self.limit)
            return
        received = 0

        async def counting_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    # An HTTPException passes through FastAPI's body parsing unchanged (a domain
                    # error would be turned into a generic 400 there); errors.py names it.
                    raise StarletteHTTPException(413, f"request body over {self.limit:,} bytes")
            return message

        await self.app(scope, counting_receive, send)


async def _too_large(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    request = Request(scope, receive)
    body = describe(
        UploadTooLarge(gettext("request body over %(limit)s bytes", limit=format_number(limit)))
    )
    response: Response = (
        JSONResponse(body.json(), status_code=413)
        if wants_json(request)
        else PlainTextResponse(body.message, status_code=413)
    )
    await response(scope, receive, send)
