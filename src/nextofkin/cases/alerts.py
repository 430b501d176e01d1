"""Alerts: what standing searches found, listed for the team and acknowledged by a named user.

An alert says "this account may be the person of this case: look". It never confirms anything:
a reviewer still searches or reviews the case as usual. Acknowledging records who saw it, when
and why (audited); an acknowledged alert stays acknowledged (a trigger holds it).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.records import Case
from nextofkin.cases.standing_records import CaseAlert
from nextofkin.db import utcnow
from nextofkin.errors import CaseStateError, InputError, NotFound
from nextofkin.i18n import _
from nextofkin.users.service import Permission, require


class AlertState(StrEnum):
    """Where an alert is: raised and waiting, or seen by a named user."""

    OPEN = "open"
    ACKNOWLEDGED = "acknowledged"


class AlertReason(StrEnum):
    """Why a rescan raised an alert."""

    POSSIBLE = "possible"  # a new account crossed the `possible` threshold
    BEATS = "beats"  # a candidate far less likely a stranger than the case's previous best


@dataclass(frozen=True)
class AlertInfo:
    """One alert as the services hand it out."""

    id: int
    case_number: str
    case_state: str
    account_id: int
    account_ref: str
    face_id: int
    score: float
    similarity: float
    fpir: float
    decision: str
    meaning: str
    reason: AlertReason
    previous_best_fpir: float | None
    gallery_accounts: int
    raised_at: datetime
    raised_by: str
    state: AlertState
    acknowledged_by: str | None
    acknowledged_at: datetime | None
    note: str | None
    mailed_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (dates as ISO strings)."""
        data = asdict(self)
        for key in ("raised_at", "acknowledged_at", "mailed_at"):
            value = data[key]
            data[key] = value.isoformat() if value is not None else None
        data["reason"] = self.reason.value
        data["state"] = self.state.value
        return data


def alert_info(alert: CaseAlert, case: Case) -> AlertInfo:
    """The typed view of a stored alert."""
    return AlertInfo(
        id=alert.id,
        case_number=case.number,
        case_state=case.state,
        account_id=alert.account_id,
        account_ref=alert.account_ref,
        face_id=alert.face_id,
        score=alert.score,
        similarity=alert.similarity,
        fpir=alert.fpir,
        decision=alert.decision,
        meaning=alert.meaning,
        reason=AlertReason(alert.reason),
        previous_best_fpir=alert.previous_best_fpir,
        gallery_accounts=alert.gallery_accounts,
        raised_at=alert.raised_at,
        raised_by=alert.raised_by,
        state=AlertState(alert.state),
        acknowledged_by=alert.acknowledged_by,
        acknowledged_at=alert.acknowledged_at,
        note=alert.note,
        mailed_at=alert.mailed_at,
    )


def list_alerts(
    session: Session,
    actor: str | None,
    *,
    state: str | None = AlertState.OPEN.value,
    case_number: str | None = None,
) -> list[AlertInfo]:
    """Alerts, newest first: open ones by default (``state=None`` for all), optionally of one
    case. Needs the view permission; listing is not audited (opening the case is)."""
    require(session, actor, Permission.VIEW)
    query = select(CaseAlert, Case).join(Case, Case.id == CaseAlert.case_id)
    if state is not None:
        try:
            query = query.where(CaseAlert.state == AlertState(state).value)
        except ValueError as exc:
            raise InputError(
                _("unknown alert state %(state)r: open or acknowledged", state=state)
            ) from exc
    if case_number is not None:
        query = query.where(Case.number == case_number)
    rows = session.execute(query.order_by(CaseAlert.id.desc())).all()
    return [alert_info(alert, case) for alert, case in rows]


def acknowledge(
    session: Session, actor: str | None, alert_id: int, note: str | None = None
) -> AlertInfo:
    """Record that ``actor`` has seen alert ``alert_id`` (audited). Acknowledging twice is an
    error, not a silent success: the first acknowledgement, and its author, stand."""
    user = require(session, actor, Permission.SEARCH)
    alert = session.get(CaseAlert, alert_id)
    if alert is None:
        raise NotFound(_("no alert %(alert_id)s", alert_id=alert_id))
    case = session.get_one(Case, alert.case_id)
    if alert.state == AlertState.ACKNOWLEDGED.value:
        raise CaseStateError(
            _(
                "alert %(alert_id)s was acknowledged already by %(acknowledged_by)s",
                alert_id=alert_id,
                acknowledged_by=alert.acknowledged_by,
            )
        )
    alert.state = AlertState.ACKNOWLEDGED.value
    alert.acknowledged_by = user.name
    alert.acknowledged_at = utcnow()
    alert.note = note
    session.flush()
    audit.record(
        session,
        user.name,
        audit.Action.ALERT_ACKNOWLEDGE,
        f"case:{case.number}",
        {"alert": alert.id, "account": alert.account_ref, "note": note},
        case=case.number,
    )
    return alert_info(alert, case)


def open_alert_count(session: Session) -> int:
    """How many alerts wait for someone (for the dashboard badge)."""
    query = select(func.count(CaseAlert.id)).where(CaseAlert.state == AlertState.OPEN.value)
    return int(session.scalar(query) or 0)
