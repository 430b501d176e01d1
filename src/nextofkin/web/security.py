"""Who is asking, and whether the request is allowed to ask: sessions, tokens, CSRF, headers.

* Browser sessions are signed cookies (Starlette's ``SessionMiddleware``, itsdangerous) holding the
  user's name and a per-session CSRF token. Passwords are checked by the users service (argon2id).
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
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from nextofkin import audit
from nextofkin.db import utcnow
from nextofkin.errors import InputError, NotFound, PermissionDenied
from nextofkin.users.records import User
from nextofkin.users.service import verify_password
from nextofkin.web.errors import CsrfRejected, NotAuthenticated
from nextofkin.web.records import ApiToken

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
    if "user" not in request.session and request.url.path != "/login":
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

    The user is re-read on every request, so deactivating someone ends their sessions and tokens
    at once.
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
    name = request.session.get("user")
    if not isinstance(name, str):
        raise NotAuthenticated("log in first")
    user = _active_user(session, name)
    return Actor(user.name, user.role, "session")


def login(request: Request, session: Session, name: str, password: str) -> Actor | None:
    """Check a password, start a fresh session and audit the attempt either way.

    Returns None for a failed attempt (whose audit entry the caller's transaction commits), which
    says nothing about whether the user exists. The session is cleared before the user is stored,
    so a session made before login (e.g. planted by someone else) is not reused.
    """
    client = request.client.host if request.client else None
    if not verify_password(session, name, password):
        known = session.scalars(select(User.id).where(User.name == name)).first() is not None
        audit.record(
            session,
            name if known else None,
            "web.login_failed",
            f"user:{name}" if known else "user:?",
            {"client": client, "known_user": known},
        )
        return None
    user = _active_user(session, name)
    request.session.clear()
    request.session["user"] = user.name
    request.session["login_at"] = utcnow().isoformat()
    csrf_token(request)
    audit.record(session, user.name, "web.login", f"user:{user.name}", {"client": client})
    log.info("%s logged in from %s", user.name, client)
    return Actor(user.name, user.role, "session")


def logout(request: Request, session: Session) -> None:
    """End the session (audited when someone was logged in)."""
    name = request.session.get("user")
    request.session.clear()
    if isinstance(name, str):
        audit.record(session, name, "web.logout", f"user:{name}", {})


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
