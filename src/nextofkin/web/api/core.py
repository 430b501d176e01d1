"""API: who am I, gallery status, accounts and photos, users and API tokens."""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from nextofkin import audit
from nextofkin.gallery.ingest import gallery_counts
from nextofkin.gallery.maintenance import open_index
from nextofkin.users.service import (
    ROLE_PERMISSIONS,
    Role,
    UserInfo,
    add_user,
    list_users,
    set_active,
)
from nextofkin.users.tokens import NewToken, TokenInfo, create_token, list_tokens, revoke_token
from nextofkin.web import readmodels
from nextofkin.web.deps import ActorDep, Admin, RowId, StateDep, Viewer

router = APIRouter()


@dataclass(frozen=True)
class Me:
    """The user the request acts as."""

    name: str
    role: str
    via: str
    permissions: list[str]


@router.get("/me", response_model=Me, tags=["auth"], summary="The user this request acts as")
def me(actor: ActorDep) -> Me:
    """Who the session or token belongs to, and what they may do."""
    perms = sorted(p.value for p in ROLE_PERMISSIONS[actor.role])
    return Me(actor.name, actor.role, actor.via, perms)


@router.get(
    "/status",
    response_model=readmodels.GalleryStatus,
    tags=["gallery"],
    summary="Ingest status: what the workspace holds",
)
def status(state: StateDep, actor: Viewer) -> readmodels.GalleryStatus:
    """Sources, accounts, photos by ingest status, faces, the index and its calibration."""
    index = open_index(state.workspace)
    with state.db() as session:
        return readmodels.gallery_status(
            session, gallery_counts(session), index, state.engine.loaded
        )


@dataclass(frozen=True)
class AccountList:
    """A page of accounts."""

    total: int
    accounts: list[readmodels.AccountSummary]


@router.get("/accounts", response_model=AccountList, tags=["gallery"], summary="Find accounts")
def accounts(
    state: StateDep,
    actor: Viewer,
    q: str | None = Query(None, max_length=200, description="part of the id, name or city"),
    source: str | None = Query(None, max_length=200),
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0),
) -> AccountList:
    """Accounts whose id, name or city contains ``q``."""
    with state.db() as session:
        total, rows = readmodels.list_accounts(session, q, source, limit, offset)
    return AccountList(total, rows)


@router.get(
    "/accounts/{account_id}",
    response_model=readmodels.AccountDetail,
    tags=["gallery"],
    summary="An account with its photos, faces and roles",
)
def account(account_id: RowId, state: StateDep, actor: Viewer) -> readmodels.AccountDetail:
    """An account's profile, photos and faces (owner / companion roles); the view is audited."""
    with state.db() as session:
        detail = readmodels.account_detail(session, account_id)
        audit.record(
            session,
            actor.name,
            audit.Action.ACCOUNT_VIEW,
            f"account:{detail.source}/{detail.account}",
            {},
        )
    return detail


@router.get(
    "/photos/{photo_id}",
    response_model=readmodels.PhotoInfo,
    tags=["gallery"],
    summary="A gallery photo with its faces",
)
def photo(photo_id: RowId, state: StateDep, actor: Viewer) -> readmodels.PhotoInfo:
    """One gallery photo and the faces found in it."""
    with state.db() as session:
        return readmodels.photo_detail(session, photo_id)


@router.get("/users", response_model=list[UserInfo], tags=["users"], summary="List users")
def users(state: StateDep, actor: Admin) -> list[UserInfo]:
    """Every user and their role (admins only)."""
    with state.db() as session:
        return list_users(session)


class NewUser(BaseModel):
    """A user to add."""

    name: str = Field(max_length=100)
    role: Role
    password: str | None = Field(None, min_length=8, max_length=1000)


@router.post(
    "/users", response_model=UserInfo, status_code=201, tags=["users"], summary="Add a user"
)
def create_user(body: NewUser, state: StateDep, actor: Admin) -> UserInfo:
    """Add a user (admins only; audited)."""
    with state.db() as session:
        return add_user(session, actor.name, body.name, body.role, password=body.password)


@router.post(
    "/users/{name}/deactivate",
    response_model=UserInfo,
    tags=["users"],
    summary="Deactivate a user",
)
def deactivate_user(name: str, state: StateDep, actor: Admin) -> UserInfo:
    """Deactivate a user: their sessions end and their tokens stop working at once.

    The last active admin cannot be deactivated (409 PolicyViolation).
    """
    with state.db() as session:
        return set_active(session, actor.name, name, False)


@router.post(
    "/users/{name}/activate",
    response_model=UserInfo,
    tags=["users"],
    summary="Reactivate a user",
)
def activate_user(name: str, state: StateDep, actor: Admin) -> UserInfo:
    """Reactivate a deactivated user (admins only; audited)."""
    with state.db() as session:
        return set_active(session, actor.name, name, True)


class TokenRequest(BaseModel):
    """A bearer token to make."""

    label: str = Field(min_length=1, max_length=200, description="what the token is for")
    user: str | None = Field(None, description="whose token (admins only; default: yourself)")


@router.post(
    "/tokens",
    response_model=NewToken,
    status_code=201,
    tags=["auth"],
    summary="Make an API bearer token (shown once)",
)
def make_token(body: TokenRequest, state: StateDep, actor: ActorDep) -> NewToken:
    """A new bearer token; only its hash is kept, so copy it now."""
    with state.db() as session:
        return create_token(session, actor.name, body.user or actor.name, body.label)


@router.get("/tokens", response_model=list[TokenInfo], tags=["auth"], summary="List API tokens")
def tokens(state: StateDep, actor: ActorDep) -> list[TokenInfo]:
    """Your tokens (an admin sees everyone's)."""
    with state.db() as session:
        return list_tokens(session, actor.name)


@router.delete(
    "/tokens/{token_id}", response_model=TokenInfo, tags=["auth"], summary="Revoke a token"
)
def delete_token(token_id: RowId, state: StateDep, actor: ActorDep) -> TokenInfo:
    """Revoke a token at once."""
    with state.db() as session:
        return revoke_token(session, actor.name, token_id)
