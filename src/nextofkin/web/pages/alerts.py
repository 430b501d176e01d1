"""Pages: alerts of standing searches (list, acknowledge); the dashboard and case page show them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.orm import Session

from nextofkin.cases.alerts import AlertInfo, acknowledge, list_alerts
from nextofkin.i18n import _
from nextofkin.users.service import Permission
from nextofkin.web.deps import RowId, Searcher, StateDep, Viewer
from nextofkin.web.pages.common import FormFailed, case_url, flashing_errors, see_other
from nextofkin.web.render import flash, page
from nextofkin.web.security import Actor

router = APIRouter()
# Open alerts the dashboard lists before linking to the whole list.
DASHBOARD_ALERTS = 10


def alerts_context(
    session: Session, actor: Actor, case_number: str | None = None
) -> dict[str, object]:
    """What ``alerts_panel.html`` needs: open alerts (every alert of one case on its page)."""
    alerts: list[AlertInfo] = list_alerts(
        session,
        actor.name,
        state=None if case_number else "open",
        case_number=case_number,
    )
    return {
        "alerts": alerts,
        "alerts_open": sum(a.state.value == "open" for a in alerts),
        "alerts_limit": None if case_number else DASHBOARD_ALERTS,
        "can_ack": actor.may(Permission.SEARCH),
    }


@router.get("/alerts", response_class=HTMLResponse)
def alerts_page(
    request: Request, state: StateDep, actor: Viewer, all_states: bool = False
) -> Response:
    """Every open alert (or every alert), newest first."""
    with state.db() as session:
        alerts = list_alerts(session, actor.name, state=None if all_states else "open")
    context = {
        "alerts": alerts,
        "alerts_open": sum(a.state.value == "open" for a in alerts),
        "alerts_limit": None,
        "all_states": all_states,
        "can_ack": actor.may(Permission.SEARCH),
    }
    return page(request, "alerts.html", context)


@router.post("/alerts/{alert_id}/acknowledge")
def acknowledge_alert(
    alert_id: RowId,
    request: Request,
    state: StateDep,
    actor: Searcher,
    note: Annotated[str | None, Form(max_length=4000)] = None,
    back: Annotated[str | None, Form(max_length=400)] = None,
) -> Response:
    """Acknowledge one alert as the signed-in user, then go back to the case (or the list)."""
    target = "/alerts"
    try:
        with flashing_errors(request), state.db() as session:
            alert = acknowledge(session, actor.name, alert_id, note or None)
        flash(
            request,
            _(
                "Alert %(id)s on case %(number)s acknowledged.",
                id=alert.id,
                number=alert.case_number,
            ),
        )
        if back == "case":
            target = case_url(alert.case_number)
    except FormFailed:
        pass
    return see_other(target)
