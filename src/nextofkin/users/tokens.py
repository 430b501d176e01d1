"""API tokens: a bearer token per user for scripts and integrations (made, listed, revoked).

Only the SHA-256 of a token is stored (:class:`nextofkin.users.records.ApiToken`); the token itself
is shown once, when it is made. The web layer checks tokens on requests; the CLI makes them.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.db import utcnow
from nextofkin.errors import InputError, NotFound, PermissionDenied
from nextofkin.i18n import _
from nextofkin.users.records import ApiToken, User
from nextofkin.users.service import Role

TOKEN_PREFIX = "nok_"  # noqa: S105 - a marker that makes leaked tokens easy to grep for


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _acting_user(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None or not user.active:
        raise PermissionDenied(_("user %(name)r is unknown or deactivated", name=name))
    return user


def _token_owner(session: Session, name: str) -> User:
    user = session.scalars(select(User).where(User.name == name)).one_or_none()
    if user is None or not user.active:
        raise NotFound(_("user %(name)r is unknown or deactivated", name=name))
    return user


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


def token_info(row: ApiToken) -> TokenInfo:
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
    actor_row = _acting_user(session, actor)
    if actor != user and Role(actor_row.role) is not Role.ADMIN:
        raise PermissionDenied(_("only an admin may make a token for another user"))
    _token_owner(session, user)
    label = label.strip()
    if not label or len(label) > 200:
        raise InputError(_("a token needs a label of 1 to 200 characters (what it is for)"))
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(user_name=user, label=label, token_sha256=hash_token(token), prefix=token[:10])
    session.add(row)
    session.flush()
    audit.record(
        session,
        actor,
        audit.Action.WEB_TOKEN_CREATE,
        f"user:{user}",
        {"token": row.id, "label": label},
    )
    return NewToken(token, token_info(row))


def list_tokens(session: Session, actor: str) -> list[TokenInfo]:
    """The actor's tokens (an admin sees everyone's)."""
    actor_row = _acting_user(session, actor)
    query = select(ApiToken).order_by(ApiToken.id)
    if Role(actor_row.role) is not Role.ADMIN:
        query = query.where(ApiToken.user_name == actor)
    return [token_info(r) for r in session.scalars(query)]


def revoke_token(session: Session, actor: str, token_id: int) -> TokenInfo:
    """Revoke a token (one's own, or any as admin); audited."""
    actor_row = _acting_user(session, actor)
    row = session.get(ApiToken, token_id)
    if row is None or (row.user_name != actor and Role(actor_row.role) is not Role.ADMIN):
        raise NotFound(_("no token %(token_id)s", token_id=token_id))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        audit.record(
            session,
            actor,
            audit.Action.WEB_TOKEN_REVOKE,
            f"user:{row.user_name}",
            {"token": row.id},
        )
    return token_info(row)
