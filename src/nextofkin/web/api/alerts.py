"""API: alerts of standing searches (list, acknowledge) and an on-demand rescan."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from nextofkin.cases.alerts import AlertInfo, acknowledge, list_alerts
from nextofkin.cases.standing import rescan
from nextofkin.notify.team_alerts import mail_team
from nextofkin.web.deps import RowId, Searcher, StateDep, Viewer

router = APIRouter(prefix="/alerts", tags=["alerts"])


@router.get("", response_model=list[AlertInfo], summary="Alerts of standing searches")
def alerts(
    state: StateDep,
    actor: Viewer,
    alert_state: Literal["open", "acknowledged", "all"] = Query("open", alias="state"),
    case: str | None = Query(None, max_length=100, description="only alerts of this case"),
) -> list[AlertInfo]:
    """Alerts, newest first: open ones unless ``state`` says otherwise."""
    with state.db() as session:
        return list_alerts(
            session,
            actor.name,
            state=None if alert_state == "all" else alert_state,
            case_number=case,
        )


class AckRequest(BaseModel):
    """Why or how the alert was handled (optional)."""

    note: str | None = Field(None, max_length=4000)


@router.post("/{alert_id}/acknowledge", response_model=AlertInfo, summary="Acknowledge an alert")
def acknowledge_alert(
    state: StateDep, actor: Searcher, alert_id: RowId, body: AckRequest | None = None
) -> AlertInfo:
    """Record that the acting user has seen the alert (audited; it stays acknowledged)."""
    with state.db() as session:
        return acknowledge(session, actor.name, alert_id, body.note if body else None)


class RescanRequest(BaseModel):
    """Which cases to rescan (default: every searchable case)."""

    cases: list[str] | None = Field(None, max_length=10000)


@dataclass(frozen=True)
class RescanOutcome:
    """What a rescan compared and raised."""

    cases: int
    faces_compared: int
    seconds: float
    alerts: list[AlertInfo]
    note: str | None
    mail_note: str | None


@router.post("/rescan", response_model=RescanOutcome, summary="Rescan open cases now")
def rescan_now(
    state: StateDep, actor: Searcher, body: RescanRequest | None = None
) -> RescanOutcome:
    """Compare the faces added since each case's last search or rescan; new alerts come back."""
    report = rescan(state.workspace, actor.name, body.cases if body else None)
    mail = mail_team(state.workspace, report.alerts)
    return RescanOutcome(
        report.cases,
        report.faces_compared,
        round(report.seconds, 3),
        report.alerts,
        report.note,
        mail.note,
    )
