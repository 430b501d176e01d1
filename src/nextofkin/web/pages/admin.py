"""Pages: the audit log, users (admins) and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from nextofkin import audit
from nextofkin.i18n import _, negotiate, use_language
from nextofkin.users.labels import role_label
from nextofkin.users.preferences import get_language, set_language
from nextofkin.users.service import Role, add_user, list_users, set_active
from nextofkin.users.tokens import create_token, list_tokens, revoke_token
from nextofkin.web.deps import ActorDep, Admin, Auditor, RowId, StateDep
from nextofkin.web.pages.common import FormFailed, flashing_errors, see_other
from nextofkin.web.render import flash, page

router = APIRouter()


@router.get("/audit", response_class=HTMLResponse)
def audit_log(
    request: Request,
    state: StateDep,
    actor: Auditor,
    case: str | None = Query(None, max_length=100),
    last: int = Query(200, ge=1, le=5000),
) -> Response:
    """The newest audit entries (optionally of one case), newest first."""
    with state.db() as session:
        rows = audit.entries(session, case=case or None, limit=last)
    return page(
        request, "audit.html", {"rows": list(reversed(rows)), "case": case or "", "last": last}
    )


@router.get("/audit/verify", response_class=HTMLResponse)
def audit_verify(request: Request, state: StateDep, actor: Auditor) -> Response:
    """Recompute the chain (an htmx fragment on the audit page, or a page of its own)."""
    with state.db() as session:
        report = audit.verify(session)
    fragment = request.headers.get("hx-request") == "true"
    return page(request, "audit_verify.html", {"r": report, "fragment": fragment})


@router.get("/users", response_class=HTMLResponse)
def users(request: Request, state: StateDep, actor: Admin) -> Response:
    """Users and their roles, and a form to add one (admins)."""
    with state.db() as session:
        rows = list_users(session)
    return page(request, "users.html", {"rows": rows, "roles": [r.value for r in Role]})


@router.post("/users")
def add(
    request: Request,
    state: StateDep,
    actor: Admin,
    name: Annotated[str, Form(max_length=100)],
    role: Annotated[Role, Form()],
    password: Annotated[str, Form(max_length=1000)],
) -> Response:
    """Add a user with a password for the web UI."""
    try:
        with flashing_errors(request), state.db() as session:
            info = add_user(session, actor.name, name.strip(), role, password=password)
        flash(request, _("Added %(name)s (%(role)s).", name=info.name, role=role_label(info.role)))
    except FormFailed:
        pass
    return see_other("/users")


@router.post("/users/{name}/deactivate")
def deactivate(name: str, request: Request, state: StateDep, actor: Admin) -> Response:
    """Deactivate a user."""
    try:
        with flashing_errors(request), state.db() as session:
            set_active(session, actor.name, name, False)
        flash(request, _("Deactivated %(name)s.", name=name))
    except FormFailed:
        pass
    return see_other("/users")


@router.post("/users/{name}/activate")
def activate(name: str, request: Request, state: StateDep, actor: Admin) -> Response:
    """Reactivate a user."""
    try:
        with flashing_errors(request), state.db() as session:
            set_active(session, actor.name, name, True)
        flash(request, _("Activated %(name)s.", name=name))
    except FormFailed:
        pass
    return see_other("/users")


@router.get("/tokens", response_class=HTMLResponse)
def tokens(request: Request, state: StateDep, actor: ActorDep) -> Response:
    """Your API tokens and your language; a new token is shown once, right after it is made."""
    with state.db() as session:
        rows = list_tokens(session, actor.name)
        language = get_language(session, actor.name)
    return page(request, "tokens.html", {"rows": rows, "fresh": None, "my_language": language})


@router.post("/language")
def choose_language(
    request: Request,
    state: StateDep,
    actor: ActorDep,
    language: Annotated[str, Form(max_length=8)] = "",
) -> Response:
    """Set your language for the web UI (empty: follow the browser's Accept-Language)."""
    try:
        with flashing_errors(request), state.db() as session:
            set_language(session, actor.name, language or None)
        # Said in the new language: this request was answered in the old one.
        with use_language(negotiate(request.headers.get("accept-language"), language or None)):
            flash(request, _("Language saved."))
    except FormFailed:
        pass
    return see_other("/tokens")


@router.post("/tokens")
def make_token(
    request: Request,
    state: StateDep,
    actor: ActorDep,
    label: Annotated[str, Form(max_length=200)],
) -> Response:
    """Make a token for yourself; it is shown in this response only (never stored or redirected)."""
    try:
        with flashing_errors(request), state.db() as session:
            made = create_token(session, actor.name, actor.name, label)
            rows = list_tokens(session, actor.name)
            language = get_language(session, actor.name)
    except FormFailed:
        return see_other("/tokens")
    return page(
        request,
        "tokens.html",
        {"rows": rows, "fresh": made.token, "my_language": language},
        status_code=201,
    )


@router.post("/tokens/{token_id}/revoke")
def revoke(token_id: RowId, request: Request, state: StateDep, actor: ActorDep) -> Response:
    """Revoke one of your tokens."""
    try:
        with flashing_errors(request), state.db() as session:
            revoke_token(session, actor.name, token_id)
        flash(request, _("Token revoked."))
    except FormFailed:
        pass
    return see_other("/tokens")
