"""The application factory: ``create_app(settings)`` builds the whole server, loading nothing.

The workspace is opened and the face models and index are loaded in the lifespan hook, when the
server starts, so importing this module (or building the app for its OpenAPI schema) is cheap.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from nextofkin.identify.interfaces import Identifier
from nextofkin.settings import Settings
from nextofkin.web import errors, media, sessions
from nextofkin.web.api import api_router
from nextofkin.web.config import WebConfig
from nextofkin.web.deps import WebState
from nextofkin.web.engine import SearchEngine
from nextofkin.web.language import RequestLanguage
from nextofkin.web.middleware import BodyLimit, SecurityHeaders
from nextofkin.web.pages import pages_router
from nextofkin.web.render import make_templates
from nextofkin.web.security import LoginGuard
from nextofkin.web.uploads import ScratchFolder
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"


def _lifespan(
    settings: Settings, config: WebConfig, identifier: Callable[[Workspace], Identifier] | None
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """The server's start and stop: the workspace opened, the engine (models) loaded, the scratch
    folder made, expired sessions pruned; all closed again when the server stops."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        workspace = Workspace.open(settings)
        engine = SearchEngine(workspace, identifier)
        scratch = ScratchFolder.open(settings.home)
        with workspace.session() as session:
            sessions.prune(session, sessions.Lifetimes.of(settings.web))
        app.state.web = WebState(
            settings,
            config,
            workspace,
            engine,
            make_templates(),
            LoginGuard.of(settings.web),
            scratch.path,
        )
        if config.load_models:
            try:
                engine.load()
            except Exception as exc:  # the UI must still come up to show what is wrong
                log.error("search engine not loaded (searches will retry): %s", exc)
        log.info("serving workspace %s", workspace.home)
        try:
            yield
        finally:
            engine.close()
            scratch.close()
            workspace.close()

    return lifespan


def create_app(
    settings: Settings,
    config: WebConfig | None = None,
    *,
    identifier: Callable[[Workspace], Identifier] | None = None,
) -> FastAPI:
    """The nextofkin web application for the workspace ``settings`` name.

    ``config`` sets upload limits and cookie policy; ``identifier`` replaces the identify service
    (tests use a stand-in where faces are not the point). With ``config.load_models`` the models
    load when the server starts; otherwise on the first search.
    """
    config = config or WebConfig.from_settings(settings.web)
    app = FastAPI(
        title="nextofkin",
        version="0.1.0",
        summary="Identification team API: cases, searches, review, kin, notifications, audit.",
        lifespan=_lifespan(settings, config, identifier),
        openapi_url="/api/openapi.json",
        docs_url=None,  # Swagger UI loads scripts from a CDN; the schema is enough
        redoc_url=None,
    )
    errors.install(app)
    app.include_router(api_router())
    app.include_router(media.router)
    app.include_router(pages_router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    # Outermost last: headers on every response (errors included), then the error shield, then
    # sessions, then the request's language, then the body limit before anything reads the body.
    settings.home.mkdir(parents=True, exist_ok=True)
    app.add_middleware(BodyLimit, limit=config.max_request_bytes)
    app.add_middleware(RequestLanguage)  # inside sessions: it reads the user's setting
    app.add_middleware(sessions.ServerSessions, https_only=config.https_only)
    app.add_middleware(errors.ErrorShield)
    app.add_middleware(SecurityHeaders)
    return app
