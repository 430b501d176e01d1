"""The one shape of the web's ASGI middlewares: HTTP requests handled, anything else passed on.

Lifespan and websocket scopes go straight to the wrapped app; a middleware writes only
:meth:`HttpMiddleware.http`.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class HttpMiddleware:
    """An ASGI middleware that acts on HTTP requests only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.http(scope, receive, send)

    async def http(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request (subclasses say how)."""
        raise NotImplementedError
