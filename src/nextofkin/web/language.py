"""Each request's language: the user's own setting, else the browser's ``Accept-Language``.

An ASGI middleware inside the session middleware sets :mod:`nextofkin.i18n`'s context variable
before any route runs, so routes, flash messages, error pages and templates all speak the same
language without passing it around (sync routes run in a thread that copies the context).
"""

from __future__ import annotations

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

from nextofkin import i18n
from nextofkin.web.asgi import HttpMiddleware
from nextofkin.web.sessions import SessionData


def request_language(scope: Scope) -> str:
    """The language a request is answered in."""
    session = scope.get("session")
    preferred = session.language if isinstance(session, SessionData) else None
    return i18n.negotiate(Headers(scope=scope).get("accept-language"), preferred)


class RequestLanguage(HttpMiddleware):
    """Sets the current language for each HTTP request."""

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        with i18n.use_language(request_language(scope)):
            await self.app(scope, receive, send)
