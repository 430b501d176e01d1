"""Server-side web sessions: the cookie holds only a random id, the database everything else.

A session is a row of ``web_sessions`` (:class:`nextofkin.users.records.LoginSession`) found by
the SHA-256 of the cookie's random id, so a copy of the database does not yield usable cookies.
Logging in replaces whatever session the browser had with a new one (a new id: a session id
planted before login is worthless after it); logging out revokes the row, so the old cookie is
dead at once. A session ends when it has been idle too long or was started too long ago
(``NEXTOFKIN_WEB__SESSION_IDLE_MINUTES`` / ``__SESSION_ABSOLUTE_HOURS``), and when its user is
deactivated (:func:`nextofkin.users.service.revoke_sessions`).

:class:`ServerSessions` is the ASGI middleware that loads the session before the route runs and
saves it before the response starts; routes see it as ``request.session`` (a dict holding the
CSRF token and pending messages) and :func:`session_of` gives its user and row.
"""

from __future__ import annotations

import hashlib
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from http.cookies import SimpleCookie
from typing import Any

import anyio.to_thread
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders
from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nextofkin.db import utcnow
from nextofkin.settings import WebSettings
from nextofkin.users.records import LoginSession, User
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

COOKIE = "nextofkin_session"
# last_seen_at is written at most this often per session: a write per request would serialise
# every page view behind SQLite's one writer, and a minute is fine grain for an idle limit.
TOUCH_EVERY = timedelta(seconds=60)
PRUNE_EVERY = 60.0  # seconds between deletions of long-dead sessions
KEEP_ENDED = timedelta(days=30)  # ended sessions of users stay listed this long (who, from where)


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


class SessionData(dict[str, Any]):
    """``request.session``: the session's data, plus which row and user it belongs to."""

    def __init__(
        self,
        data: dict[str, Any] | None = None,
        *,
        record_id: int | None = None,
        user: str | None = None,
        last_seen: datetime | None = None,
    ) -> None:
        super().__init__(data or {})
        self.record_id = record_id
        self.user = user
        self.last_seen = last_seen
        self.new_cookie: str | None = None  # set when a new session id must reach the browser
        self.ended = False  # logged out: the row is revoked, the cookie must go
        self.language: str | None = None  # the user's own setting (users.language), if any

    def snapshot(self) -> dict[str, Any]:
        """A copy to compare against when saving."""
        return {k: (list(v) if isinstance(v, list) else v) for k, v in self.items()}


def session_of(conn: HTTPConnection) -> SessionData:
    """The request's session (an empty one when the middleware did not run)."""
    found = conn.scope.get("session")
    if isinstance(found, SessionData):
        return found
    empty = SessionData()
    conn.scope["session"] = empty
    return empty


@dataclass(frozen=True)
class Lifetimes:
    """How long sessions live."""

    idle: timedelta
    absolute: timedelta
    anonymous: timedelta

    @classmethod
    def of(cls, web: WebSettings) -> Lifetimes:
        """The lifetimes the settings ask for."""
        return cls(
            idle=timedelta(minutes=web.session_idle_minutes),
            absolute=timedelta(hours=web.session_absolute_hours),
            anonymous=timedelta(minutes=web.anonymous_session_minutes),
        )


def live_row(session: Session, digest: str, lifetimes: Lifetimes) -> LoginSession | None:
    """The session row with this id hash, if it is neither revoked nor expired."""
    row = session.scalars(select(LoginSession).where(LoginSession.id_sha256 == digest)).first()
    if row is None or not is_live(row, lifetimes):
        return None
    return row


def is_live(row: LoginSession, lifetimes: Lifetimes, now: datetime | None = None) -> bool:
    """Whether a session row may still be used: not revoked, not past either limit."""
    now = now or utcnow()
    if row.revoked_at is not None or now >= row.expires_at:
        return False
    idle = lifetimes.idle if row.user_name else lifetimes.anonymous
    return now < row.last_seen_at + idle


def create(
    session: Session,
    conn: HTTPConnection | None,
    lifetimes: Lifetimes,
    *,
    user: str | None,
    data: dict[str, Any],
) -> tuple[str, LoginSession]:
    """A new session row for ``user`` (None: before login); returns the cookie value and row."""
    raw = secrets.token_urlsafe(32)
    now = utcnow()
    row = LoginSession(
        id_sha256=_digest(raw),
        user_name=user,
        created_at=now,
        last_seen_at=now,
        expires_at=now + (lifetimes.absolute if user else lifetimes.anonymous),
        client_address=(conn.client.host if conn and conn.client else None),
        user_agent=((conn.headers.get("user-agent") or "")[:300] or None) if conn else None,
        data=dict(data),
    )
    session.add(row)
    session.flush()
    return raw, row


def begin(
    session: Session, conn: HTTPConnection, lifetimes: Lifetimes, user: str, data: dict[str, Any]
) -> SessionData:
    """Start a logged-in session for ``user`` in place of the request's current one.

    The current session (before login) is revoked, and the browser gets a new id: whatever id
    it had, perhaps one an attacker planted, is worthless from now on.
    """
    current = session_of(conn)
    if current.record_id is not None:
        revoke(session, current.record_id, "login")
    raw, row = create(session, conn, lifetimes, user=user, data=data)
    current.clear()
    current.update(data)
    current.record_id, current.user, current.last_seen = row.id, user, row.last_seen_at
    current.new_cookie, current.ended = raw, False
    return current


def end(session: Session, conn: HTTPConnection, reason: str = "logout") -> str | None:
    """Revoke the request's session (its cookie stops working at once); returns its user."""
    current = session_of(conn)
    user = current.user
    if current.record_id is not None:
        revoke(session, current.record_id, reason)
    current.clear()
    current.record_id, current.user, current.new_cookie, current.ended = None, None, None, True
    return user


def revoke(session: Session, record_id: int, reason: str) -> None:
    """Mark one session row revoked."""
    row = session.get(LoginSession, record_id)
    if row is not None and row.revoked_at is None:
        row.revoked_at = utcnow()
        row.revoked_reason = reason


def prune(session: Session, lifetimes: Lifetimes) -> int:
    """Delete sessions nobody can use any more: anonymous ones at once, users' after a while."""
    now = utcnow()
    anonymous = session.execute(
        delete(LoginSession).where(
            LoginSession.user_name.is_(None),
            or_(LoginSession.expires_at <= now, LoginSession.revoked_at.is_not(None)),
        )
    )
    ended = session.execute(
        delete(LoginSession).where(
            LoginSession.user_name.is_not(None),
            or_(
                LoginSession.expires_at <= now - KEEP_ENDED,
                LoginSession.revoked_at <= now - KEEP_ENDED,
            ),
        )
    )
    return int(getattr(anonymous, "rowcount", 0) or 0) + int(getattr(ended, "rowcount", 0) or 0)


def _cookie_value(scope: Scope) -> str | None:
    for key, value in scope.get("headers") or []:
        if key == b"cookie":
            jar: SimpleCookie = SimpleCookie()
            try:
                jar.load(value.decode("latin-1"))
            except Exception:  # a malformed cookie header is simply no session
                return None
            morsel = jar.get(COOKIE)
            if morsel is not None and 20 <= len(morsel.value) <= 100:
                return morsel.value
    return None


class ServerSessions:
    """ASGI middleware: ``request.session`` backed by ``web_sessions``, the cookie a random id.

    The workspace and settings are read from ``app.state.web`` (set when the server starts).
    Sessions before login are made only when something is stored in them (the login form's CSRF
    token, a message), and live ``anonymous_session_minutes``.
    """

    def __init__(self, app: ASGIApp, *, https_only: bool = False) -> None:
        self.app = app
        self.https_only = https_only
        self._pruned = 0.0
        self._prune_lock = threading.Lock()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        web = getattr(scope["app"].state, "web", None)
        if web is None or scope.get("path", "").startswith("/static/"):
            # Not started (no workspace to keep sessions in), or a static file (needs none).
            scope["session"] = SessionData()
            await self.app(scope, receive, send)
            return
        workspace: Workspace = web.workspace
        lifetimes = Lifetimes.of(web.settings.web)
        raw = _cookie_value(scope)
        current = (
            await anyio.to_thread.run_sync(self._load, workspace, raw, lifetimes)
            if raw
            else SessionData()
        )
        stale = raw is not None and current.record_id is None
        scope["session"] = current
        before = current.snapshot()
        conn = HTTPConnection(scope)

        async def send_saving(message: Message) -> None:
            if message["type"] == "http.response.start":
                cookie = await anyio.to_thread.run_sync(
                    self._save, workspace, conn, current, before, lifetimes
                )
                headers = MutableHeaders(scope=message)
                if cookie is not None:
                    headers.append("set-cookie", self._set_cookie(cookie, lifetimes))
                elif stale or current.ended:
                    headers.append("set-cookie", self._set_cookie("", lifetimes, clear=True))
            await send(message)

        await self.app(scope, receive, send_saving)

    def _load(self, workspace: Workspace, raw: str, lifetimes: Lifetimes) -> SessionData:
        with workspace.session() as session:
            row = live_row(session, _digest(raw), lifetimes)
            if row is None:
                return SessionData()
            found = SessionData(
                dict(row.data or {}),
                record_id=row.id,
                user=row.user_name,
                last_seen=row.last_seen_at,
            )
            if row.user_name is not None:
                # Read with the session row (same transaction): the page's language is known
                # before any route runs (nextofkin.web.language).
                found.language = session.scalar(
                    select(User.language).where(User.name == row.user_name)
                )
            return found

    def _save(
        self,
        workspace: Workspace,
        conn: HTTPConnection,
        current: SessionData,
        before: dict[str, Any],
        lifetimes: Lifetimes,
    ) -> str | None:
        """Write what the request changed; returns a new cookie value to send, if any."""
        changed = current.snapshot() != before or current.new_cookie is not None
        now = utcnow()
        stale_touch = current.last_seen is None or now - current.last_seen >= TOUCH_EVERY
        if current.record_id is None and not current:
            return None  # nothing to keep: no row for a visitor who stores nothing
        if current.record_id is not None and not changed and not stale_touch:
            return None
        cookie = current.new_cookie
        with workspace.session() as session:
            if current.record_id is None:
                cookie, made = create(session, conn, lifetimes, user=None, data=dict(current))
                current.record_id = made.id
                self._maybe_prune(session, lifetimes)
                return cookie
            row = session.get(LoginSession, current.record_id)
            if row is None or row.revoked_at is not None:
                return cookie  # ended meanwhile (logout elsewhere): keep nothing more
            if changed:
                row.data = dict(current)
            row.last_seen_at = now
        return cookie

    def _maybe_prune(self, session: Session, lifetimes: Lifetimes) -> None:
        with self._prune_lock:
            if time.monotonic() - self._pruned < PRUNE_EVERY:
                return
            self._pruned = time.monotonic()
        removed = prune(session, lifetimes)
        if removed:
            log.info("removed %d ended web sessions", removed)

    def _set_cookie(self, value: str, lifetimes: Lifetimes, *, clear: bool = False) -> str:
        age = 0 if clear else int(lifetimes.absolute.total_seconds())
        parts = [f"{COOKIE}={value}", "Path=/", f"Max-Age={age}", "HttpOnly", "SameSite=Strict"]
        if clear:
            parts.append("Expires=Thu, 01 Jan 1970 00:00:00 GMT")
        if self.https_only:
            parts.append("Secure")
        return "; ".join(parts)
