"""FastAPI dependencies: the server's state, the acting user and permission checks.

Every route declares what it needs with ``Depends(need(Permission.X))``; the services check again
with the same users service, so the web layer can never grant more than the CLI would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from fastapi import Path as PathParam
from sqlalchemy.orm import Session
from starlette.templating import Jinja2Templates

from nextofkin.settings import Settings
from nextofkin.users.service import Permission, require
from nextofkin.web.config import WebConfig
from nextofkin.web.engine import SearchEngine
from nextofkin.web.security import Actor, LoginGuard, authenticate
from nextofkin.workspace import Workspace

# Row ids are 64-bit integers in both databases: a larger number (or zero, or negative) in a URL
# is refused as a validation error (422) before any query, instead of overflowing the driver.
MAX_ROW_ID = 2**63 - 1
RowId = Annotated[int, PathParam(ge=1, le=MAX_ROW_ID, description="a row id")]


@dataclass
class WebState:
    """Everything the routes share, created by the app factory and kept on ``app.state.web``."""

    settings: Settings
    config: WebConfig
    workspace: Workspace
    engine: SearchEngine
    templates: Jinja2Templates
    guard: LoginGuard
    scratch: Path  # this process's folder for uploads in flight (see nextofkin.web.uploads)

    @contextmanager
    def db(self) -> Iterator[Session]:
        """A database session committed on success (one per unit of work)."""
        with self.workspace.session() as session:
            yield session


def get_state(request: Request) -> WebState:
    """The server's shared state."""
    state: WebState = request.app.state.web
    return state


StateDep = Annotated[WebState, Depends(get_state)]


def current_actor(request: Request, state: StateDep) -> Actor:
    """The logged-in user (session cookie or bearer token), or NotAuthenticated (401)."""
    cached = getattr(request.state, "actor", None)
    if isinstance(cached, Actor):
        return cached
    with state.db() as session:
        actor = authenticate(request, session)
    request.state.actor = actor
    return actor


ActorDep = Annotated[Actor, Depends(current_actor)]


def need(permission: Permission) -> Callable[..., Actor]:
    """A dependency that lets the request through only if its user holds ``permission`` (403)."""

    def dependency(request: Request, state: StateDep) -> Actor:
        # One transaction for both: who is asking, and may they (pages are latency-bound).
        with state.db() as session:
            actor = authenticate(request, session)
            require(session, actor.name, permission)
        request.state.actor = actor
        return actor

    dependency.__name__ = f"need_{permission.value}"
    return dependency


Viewer = Annotated[Actor, Depends(need(Permission.VIEW))]
Opener = Annotated[Actor, Depends(need(Permission.OPEN_CASE))]
Searcher = Annotated[Actor, Depends(need(Permission.SEARCH))]
Reviewer = Annotated[Actor, Depends(need(Permission.REVIEW))]
Drafter = Annotated[Actor, Depends(need(Permission.DRAFT))]
Sender = Annotated[Actor, Depends(need(Permission.SEND))]
Closer = Annotated[Actor, Depends(need(Permission.CLOSE_CASE))]
Auditor = Annotated[Actor, Depends(need(Permission.AUDIT))]
Admin = Annotated[Actor, Depends(need(Permission.MANAGE_USERS))]
Purger = Annotated[Actor, Depends(need(Permission.PURGE))]
