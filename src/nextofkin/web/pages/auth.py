"""Pages: log in and out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from nextofkin.i18n import _
from nextofkin.web.deps import StateDep
from nextofkin.web.pages.common import see_other
from nextofkin.web.problems import LoginBusy, LoginThrottled
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
async def login_submit(
    request: Request,
    state: StateDep,
    name: Annotated[str, Form(max_length=100)],
    password: Annotated[str, Form(max_length=1000)],
    next: Annotated[str, Form(max_length=2000)] = "/",
) -> Response:
    """Check the password; on success start a session and go where the user was going.

    Async on purpose: a login waiting for a password-check slot holds no worker thread.
    """
    context = {"next": _safe_next(next), "name": name}
    try:
        actor = await login(request, state.workspace, state.guard, name.strip(), password)
    except (LoginThrottled, LoginBusy) as exc:
        status = 429 if isinstance(exc, LoginThrottled) else 503
        message = str(exc).capitalize() + "."
        response = page(request, "login.html", {**context, "error": message}, status_code=status)
        response.headers["Retry-After"] = str(exc.retry_after)
        return response
    if actor is None:
        return page(
            request,
            "login.html",
            {**context, "error": _("Wrong user name or password.")},
            status_code=401,
        )
    return see_other(_safe_next(next))


@router.post("/logout")
def logout_submit(request: Request, state: StateDep) -> Response:
    """End the session."""
    with state.db() as session:
        logout(request, session)
    flash(request, _("Logged out."))
    return see_other("/login")
