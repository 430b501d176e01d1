"""Who is asking, and whether the request is allowed to ask: sessions, tokens, CSRF, headers.

* Browser sessions live on the server (:mod:`nextofkin.web.sessions`); the cookie holds only a
  random id. Passwords are checked by the users service (argon2id), a few at a time, behind a
  throttle per account name and per client address (:mod:`nextofkin.web.throttle`).
* API clients may instead send ``Authorization: Bearer <token>``; only the token's SHA-256 is
  stored (:mod:`nextofkin.web.records`). Bearer requests carry no ambient credential, so they need
  no CSRF token; every unsafe request that relies on the session cookie does.
* Every response gets security headers: a CSP without inline scripts or styles, no framing,
  ``nosniff`` and no referrer; HTML and JSON are never cached (they hold personal data).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass, field
from datetime import datetime

import anyio
import anyio.to_thread
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nextofkin import audit
from nextofkin.db import utcnow
from nextofkin.errors import InputError, NotFound, PermissionDenied
from nextofkin.settings import WebSettings
from nextofkin.users.records import LoginSession, User
from nextofkin.users.service import verify_password
from nextofkin.web import sessions
from nextofkin.web.errors import CsrfRejected, LoginBusy, LoginThrottled, NotAuthenticated
from nextofkin.web.records import ApiToken
from nextofkin.web.throttle import Lock, LoginThrottle
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
TOKEN_PREFIX = "nok_"  # noqa: S105 - a marker that makes leaked tokens easy to grep for

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


@dataclass(frozen=True)
class Actor:
    """The user a request acts as, and how they proved it."""

    name: str
    role: str
    via: str  # "session" or "token"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (also for the login form, before login)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe session-authenticated request whose CSRF token is missing or wrong.

    The token comes from the ``X-CSRF-Token`` header (htmx and API clients) or the ``csrf_token``
    form field (plain forms). Bearer-token requests are exempt: a browser never adds that header
    on its own, so a forged cross-site request cannot carry it.
    """
    if request.method in SAFE_METHODS or bearer_token(request) is not None:
        return
    if sessions.session_of(request).user is None and request.url.path != "/login":
        # Nobody is logged in: the route's authentication answers 401, which says more than a
        # CSRF refusal would. (The login form itself is still checked.)
        return
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise CsrfRejected("missing or wrong CSRF token: reload the page and try again")


def bearer_token(request: Request) -> str | None:
    """The bearer token of the request, if it sends one."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _active_user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None or not user.active:
        raise NotAuthenticated(f"user {name!r} is unknown or deactivated: log in again")
    return user


def authenticate(request: Request, session: Session) -> Actor:
    """The user of this request, by bearer token or by session cookie; NotAuthenticated if none.

    The user and the session row are re-read on every request, so a logout elsewhere, a
    deactivation or an expired session ends access at once.
    """
    token = bearer_token(request)
    if token is not None:
        row = session.scalars(
            select(ApiToken).where(ApiToken.token_sha256 == _hash_token(token))
        ).one_or_none()
        if row is None or row.revoked_at is not None:
            raise NotAuthenticated("unknown or revoked API token")
        user = _active_user(session, row.user_name)
        row.last_used_at = utcnow()
        return Actor(user.name, user.role, "token")
    current = sessions.session_of(request)
    if current.user is None or current.record_id is None:
        raise NotAuthenticated("log in first")
    lifetimes = sessions.Lifetimes.of(request.app.state.web.settings.web)
    record = session.get(LoginSession, current.record_id)
    if record is None or record.user_name is None or not sessions.is_live(record, lifetimes):
        raise NotAuthenticated("your session has ended: log in again")
    user = _active_user(session, record.user_name)
    return Actor(user.name, user.role, "session")


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
            f"too many failed logins: try again in {lock.retry_after} seconds", lock.retry_after
        )
    if guard.waiting >= guard.queue:
        raise LoginBusy("too many logins at once: try again in a few seconds")
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
    return Actor(user.name, user.role, "session")


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


@dataclass(frozen=True)
class TokenInfo:
    """An API token as listed (never the token itself)."""

    id: int
    user: str
    label: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


@dataclass(frozen=True)
class NewToken:
    """A token just made: ``token`` is shown this once and never stored."""

    token: str
    info: TokenInfo


def _token_info(row: ApiToken) -> TokenInfo:
    return TokenInfo(
        id=row.id,
        user=row.user_name,
        label=row.label,
        prefix=row.prefix,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked=row.revoked_at is not None,
    )


def create_token(session: Session, actor: str, user: str, label: str) -> NewToken:
    """Make a bearer token for ``user``; users make their own, admins anyone's (audited)."""
    actor_row = _active_user(session, actor)
    if actor != user and actor_row.role != "admin":
        raise PermissionDenied("only an admin may make a token for another user")
    _active_user(session, user)
    label = label.strip()
    if not label or len(label) > 200:
        raise InputError("a token needs a label of 1 to 200 characters (what it is for)")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_name=user, label=label, token_sha256=_hash_token(token), prefix=token[:10])
    session.add(row)
    session.flush()
    audit.record(
        session, actor, "web.token_create", f"user:{user}", {"token": row.id, "label": label}
    )
    return NewToken(token, _token_info(row))


def list_tokens(session: Session, actor: str) -> list[TokenInfo]:
    """The actor's tokens (an admin sees everyone's)."""
    actor_row = _active_user(session, actor)
    query = select(ApiToken).order_by(ApiToken.id)
    if actor_row.role != "admin":
        query = query.where(ApiToken.user_name == actor)
    return [_token_info(r) for r in session.scalars(query)]


def revoke_token(session: Session, actor: str, token_id: int) -> TokenInfo:
    """Revoke a token (one's own, or any as admin); audited."""
    actor_row = _active_user(session, actor)
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_name != actor and actor_row.role != "admin"):
        raise NotFound(f"no token {token_id}")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(session, actor, "web.token_revoke", f"user:{row.user_name}", {"token": row.id})
    return _token_info(row)


class SecurityHeaders:
    """ASGI middleware adding :data:`SECURITY_HEADERS` (and no-store for non-static responses)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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


class BodyLimit:
    """ASGI middleware refusing request bodies over ``limit`` bytes with 413, before parsing.

    Checks the declared Content-Length first and then counts what actually arrives, so a client
    that lies about the length (or streams chunked) is cut off too.
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
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
    from nextofkin.web.errors import UploadTooLarge, describe, wants_json

    request = Request(scope, receive)
    body = describe(UploadTooLarge(f"request body over {limit:,} bytes"))
    from starlette.responses import JSONResponse, PlainTextResponse, Response

    response: Response = (
        JSONResponse(body.json(), status_code=413)
        if wants_json(request)
        else PlainTextResponse(body.message, status_code=413)
    )
    await response(scope, receive, send)
