"""Pages: log in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from nextofkin.web.deps import StateDep
from nextofkin.web.pages.common import see_other
from nextofkin.web.render import flash, page
from nextofkin.web.security import login, logout

router = APIRouter()


def _safe_next(target: str | None) -> str:
    """Only a local path may follow a login (no open redirect to another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str | None = None) -> Response:
    """The login form."""
    return page(request, "login.html", {"next": _safe_next(next)})


@router.post("/login")
def login_submit(
    request: Request,
    state: StateDep,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password; on success start a session and go where the user was going."""
    with state.db() as session:
        actor = login(request, session, name.strip(), password)
    if actor is None:
        return page(
            request,
            "login.html",
            {"next": _safe_next(next), "error": "Wrong user name or password.", "name": name},
            status_code=401,
        )
    return see_other(_safe_next(next))


@router.post("/logout")
def logout_submit(request: Request, state: StateDep) -> Response:
    """End the session."""
    with state.db() as session:
        logout(request, session)
    flash(request, "Logged out.")
    return see_other("/login")
