"""Jinja2 templates for the pages: one environment, a few display filters, flash messages."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from nextofkin.cases.labels import message_state_label, state_label, verdict_label
from nextofkin.gallery.labels import face_role_label, photo_kind_label
from nextofkin.i18n import _, format_datetime, format_number, install_jinja
from nextofkin.identify.meaning import decision_explanation, decision_label, meaning_text
from nextofkin.kin.labels import evidence_label, kin_label
from nextofkin.users.labels import role_label
from nextofkin.users.service import Permission
from nextofkin.web.csrf import csrf_token

if TYPE_CHECKING:
    from nextofkin.web.problems import ErrorBody

TEMPLATES = Path(__file__).parent / "templates"


def _when(value: datetime | str | None) -> str:
    if isinstance(value, str):
        try:
            return format_datetime(datetime.fromisoformat(value))
        except ValueError:
            return value[:19].replace("T", " ")
    return format_datetime(value)


def _score(value: object) -> str:
    return format_number(value, 3) if isinstance(value, int | float) else "—"


def _fpir(value: object) -> str:
    if not isinstance(value, int | float):
        return "—"
    if value <= 0:
        return _("< 1 in a million")
    if value >= 1:
        return _("every search")
    return _("1 in %(count)s", count=format_number(round(1 / value)))


def _urlpart(value: object) -> str:
    return quote(str(value), safe="/")


def _context(request: Request) -> dict[str, Any]:
    actor = getattr(request.state, "actor", None)
    return {
        "actor": actor,
        "csrf": csrf_token(request),
        "flashes": pop_flashes(request),
        "path": request.url.path,
    }


def make_templates() -> Jinja2Templates:
    """The page templates with the display filters registered."""
    templates = Jinja2Templates(directory=str(TEMPLATES), context_processors=[_context])
    env = templates.env
    install_jinja(env)
    env.filters["when"] = _when
    env.filters["score"] = _score
    env.filters["fpir"] = _fpir
    env.filters["u"] = _urlpart
    # Enum values are stored and sent in English; people read them through these labels.
    env.filters["role"] = role_label
    env.filters["state"] = state_label
    env.filters["verdict"] = verdict_label
    env.filters["decision"] = decision_label
    env.filters["explain"] = decision_explanation
    env.filters["face_role"] = face_role_label
    env.filters["evidence_kind"] = photo_kind_label
    env.filters["message_state"] = message_state_label
    env.filters["kin"] = kin_label
    env.filters["kin_why"] = evidence_label
    env.globals["meaning"] = meaning_text
    # Pages ask `actor.may(Permission.X)`, never compare role names.
    env.globals["Permission"] = Permission
    env.trim_blocks = True
    env.lstrip_blocks = True
    return templates


def flash(request: Request, message: str, kind: str = "ok") -> None:
    """Show ``message`` on the next page this session renders."""
    items = list(request.session.get("flash", []))[-4:]
    items.append([kind, message])
    request.session["flash"] = items


def pop_flashes(request: Request) -> list[tuple[str, str]]:
    """The pending flash messages, removed from the session."""
    items = request.session.pop("flash", [])
    return [(str(k), str(m)) for k, m in items] if isinstance(items, list) else []


def page(
    request: Request, name: str, context: dict[str, Any] | None = None, status_code: int = 200
) -> HTMLResponse:
    """Render the template ``name`` for ``request``."""
    templates: Jinja2Templates = request.app.state.web.templates
    response: HTMLResponse = templates.TemplateResponse(
        request, name, context or {}, status_code=status_code
    )
    return response


def render_error(request: Request, body: ErrorBody) -> HTMLResponse:
    """An error page saying what went wrong in words a person can act on."""
    return page(request, "error.html", {"error": body}, status_code=body.status)
