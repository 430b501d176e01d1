"""Who is asking: the session or bearer token of a request, and logging in and out.

* Browser sessions live on the server (:mod:`nextofkin.web.sessions`); the cookie holds only a
  random id. Passwords are checked by the users service (argon2id), a few at a time, behind a
  throttle per account name and per client address (:mod:`nextofkin.web.throttle`).
* API clients may instead send ``Authorization: Bearer <token>``; tokens are made by the users
  layer (:mod:`nextofkin.users.tokens`, which the CLI uses too). CSRF checks live in
  :mod:`nextofkin.web.csrf`, the security headers and body limit in :mod:`nextofkin.web.middleware`.
"""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field

import anyio
import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.requests import Request

from nextofkin import audit
from nextofkin.db import utcnow
from nextofkin.i18n import _, ngettext
from nextofkin.settings import WebSettings
from nextofkin.users.records import ApiToken, LoginSession, User
from nextofkin.users.service import ROLE_PERMISSIONS, Permission, Role, verify_password
from nextofkin.users.tokens import hash_token
from nextofkin.web import sessions
from nextofkin.web.csrf import bearer_token
from nextofkin.web.problems import LoginBusy, LoginThrottled, NotAuthenticated
from nextofkin.web.throttle import Lock, LoginThrottle
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Actor:
    """The user a request acts as, and how they proved it."""

    name: str
    role: Role
    via: str  # "session" or "token"

    def may(self, permission: Permission) -> bool:
        """Whether the actor's role grants ``permission`` (pages offer an action by this; the
        service checks again when it is used)."""
        return permission in ROLE_PERMISSIONS[self.role]


def _active_user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None or not user.active:
        raise NotAuthenticated(
            _("user %(name)r is unknown or deactivated: log in again", name=name)
        )
    return user


def authenticate(request: Request, session: Session) -> Actor:
    """The user of this request, by bearer token or by session cookie; NotAuthenticated if none.

    The user and the session row are re-read on every request, so a logout elsewhere, a
    deactivation or an expired session ends access at once.
    """
    token = bearer_token(request)
    if token is not None:
        row = session.scalars(
            select(ApiToken).where(ApiToken.token_sha256 == hash_token(token))
        ).one_or_none()
        if row is None or row.revoked_at is not None:
            raise NotAuthenticated(_("unknown or revoked API token"))
        user = _active_user(session, row.user_name)
        row.last_used_at = utcnow()
        return Actor(user.name, Role(user.role), "token")
    current = sessions.session_of(request)
    if current.user is None or current.record_id is None:
        raise NotAuthenticated(_("log in first"))
    lifetimes = sessions.Lifetimes.of(request.app.state.web.settings.web)
    record = session.get(LoginSession, current.record_id)
    if record is None or record.user_name is None or not sessions.is_live(record, lifetimes):
        raise NotAuthenticated(_("your session has ended: log in again"))
    user = _active_user(session, record.user_name)
    return Actor(user.name, Role(user.role), "session")


@dataclass
class LoginGuard:
    """What stands in front of the password check: the throttle and a few hashing slots.

    argon2 takes 64 MB per check; the slots bound how many run at once, and ``queue`` how many
    may wait (waiting logins hold no worker thread: they wait on the event loop).
    """

    throttle: LoginThrottle
    slots: int
    queue: int
    waiting: int = 0
    _semaphore: anyio.Semaphore | None = field(default=None, repr=False)

    @classmethod
    def of(cls, web: WebSettings) -> LoginGuard:
        """The guard the settings ask for."""
        return cls(LoginThrottle(web), web.password_hash_slots, web.login_queue)

    @property
    def semaphore(self) -> anyio.Semaphore:
        """The hashing slots (made on first use, inside the server's event loop)."""
        if self._semaphore is None:
            self._semaphore = anyio.Semaphore(self.slots)
        return self._semaphore


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


async def login(
    request: Request, workspace: Workspace, guard: LoginGuard, name: str, password: str
) -> Actor | None:
    """Check a password and start a fresh session; every attempt is audited.

    Returns None for a wrong name or password (the same answer, after the same argon2 work, for
    names that do not exist). Raises :class:`LoginThrottled` (429) while the name or the address
    is locked after too many failures, and :class:`LoginBusy` (503) when too many logins wait.
    """
    address = _client(request)
    lock = guard.throttle.check(name, address)
    if lock is not None:
        if guard.throttle.first_refusal(lock):
            with workspace.session() as session:
                known = session.scalars(select(User.id).where(User.name == name)).first()
                _audit_lock(session, name if known else None, address, lock, "refused")
        log.warning("login of %r from %s refused: %s locked", name, address, lock.scope)
        raise LoginThrottled(
            ngettext(
                "too many failed logins: try again in %(num)d second",
                "too many failed logins: try again in %(num)d seconds",
                lock.retry_after,
            ),
            lock.retry_after,
        )
    if guard.waiting >= guard.queue:
        raise LoginBusy(_("too many logins at once: try again in a few seconds"))
    guard.waiting += 1
    try:
        async with guard.semaphore:
            return await anyio.to_thread.run_sync(
                _check_password, request, workspace, guard, name, password
            )
    finally:
        guard.waiting -= 1


def _check_password(
    request: Request, workspace: Workspace, guard: LoginGuard, name: str, password: str
) -> Actor | None:
    address = _client(request)
    with workspace.session() as session:
        if not verify_password(session, name, password):
            known = session.scalars(select(User.id).where(User.name == name)).first() is not None
            audit.record(
                session,
                name if known else None,
                audit.Action.WEB_LOGIN_FAILED,
                f"user:{name}" if known else "user:?",
                {"client": address, "known_user": known},
            )
            for lock in guard.throttle.failed(name, address):
                _audit_lock(session, name if known else None, address, lock, "locked")
            return None
        user = _active_user(session, name)
        guard.throttle.succeeded(name)
        lifetimes = sessions.Lifetimes.of(request.app.state.web.settings.web)
        sessions.begin(session, request, lifetimes, user.name, {"csrf": secrets.token_urlsafe(32)})
        audit.record(
            session, user.name, audit.Action.WEB_LOGIN, f"user:{user.name}", {"client": address}
        )
    log.info("%s logged in from %s", user.name, address)
    return Actor(user.name, Role(user.role), "session")


def _audit_lock(session: Session, name: str | None, address: str, lock: Lock, event: str) -> None:
    subject = f"client:{address}" if lock.scope == "address" else f"user:{name or '?'}"
    audit.record(
        session,
        name,
        audit.Action.WEB_LOGIN_LOCKED,
        subject,
        {
            "event": event,  # "locked": a lock began; "refused": the first attempt it refused
            "scope": lock.scope,
            "client": address,
            "failures": lock.failures,
            "retry_after": lock.retry_after,
        },
    )


def logout(request: Request, session: Session) -> None:
    """End the session: its row is revoked, so the cookie is dead at once (audited)."""
    name = sessions.end(session, request, "logout")
    if name is not None:
        audit.record(session, name, audit.Action.WEB_LOGOUT, f"user:{name}", {})
