"""E-mail the team about new alerts of standing searches: to the team's own address, never a family.

Behind ``standing.email_team`` (off by default). One message per rescan lists the alerts that
have not been mailed yet; it goes to ``notify.team_email`` through the same SMTP settings and
channel as letters to families, but it is not an outbox message: it names no family, carries no
photo, and its only reader is the team, who open the case to see the evidence. A failed delivery
leaves the alerts unmailed (the next rescan tries again) and never undoes the alerts.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select

from nextofkin import audit
from nextofkin.cases.alerts import AlertInfo
from nextofkin.cases.standing_records import CaseAlert
from nextofkin.db import utcnow
from nextofkin.errors import NotifyError
from nextofkin.notify.smtp import OutgoingMessage, SmtpChannel
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TeamMailOutcome:
    """What :func:`mail_team` did: how many alerts went out, or why none did."""

    mailed: int
    note: str | None = None


def team_message(
    alerts: Sequence[AlertInfo], team_address: str, team_name: str | None
) -> OutgoingMessage:
    """The one message listing ``alerts`` for the team (plain text, no photos)."""
    ids = ",".join(str(a.id) for a in alerts)
    key = hashlib.sha256(f"alerts:{ids}".encode()).hexdigest()[:32]
    lines = [
        f"Standing searches raised {len(alerts)} new alert(s). Nothing is confirmed: open each "
        "case, look at the evidence, and acknowledge the alert (nextofkin alerts ack ID).",
        "",
    ]
    for a in alerts:
        lines.append(
            f"- alert {a.id}: case {a.case_number}: account {a.account_ref}, {a.decision} "
            f"(score {a.score:.3f}; {a.meaning}); reason: {a.reason.value}"
        )
    return OutgoingMessage(
        to_address=team_address,
        to_name=team_name,
        subject=f"nextofkin: {len(alerts)} new alert(s) from standing searches",
        body="\n".join(lines) + "\n",
        message_id=f"<alerts-{key}@nextofkin>",
        idempotency_key=f"alerts-{key}",
        case_number=",".join(sorted({a.case_number for a in alerts}))[:200],
        language="en",
    )


def mail_team(workspace: Workspace, alerts: Sequence[AlertInfo]) -> TeamMailOutcome:
    """Send the unmailed ones among ``alerts`` to the team's address, if the setting asks."""
    settings = workspace.settings
    if not settings.standing.email_team or not alerts:
        return TeamMailOutcome(0)
    address = settings.notify.team_email
    if not address:
        return TeamMailOutcome(0, "standing.email_team is on but notify.team_email is not set")
    with workspace.session() as session:
        rows = session.scalars(
            select(CaseAlert).where(
                CaseAlert.id.in_([a.id for a in alerts]), CaseAlert.mailed_at.is_(None)
            )
        ).all()
        pending = [a for a in alerts if a.id in {r.id for r in rows}]
    if not pending:
        return TeamMailOutcome(0)
    message = team_message(pending, address, settings.notify.team_name)
    try:
        SmtpChannel(settings.smtp).deliver(message)
    except NotifyError as exc:
        log.warning("alert e-mail to the team failed: %s", exc)
        return TeamMailOutcome(0, f"alert e-mail to the team failed: {exc}")
    with workspace.session() as session:
        now = utcnow()
        for row in session.scalars(
            select(CaseAlert).where(CaseAlert.id.in_([a.id for a in pending]))
        ):
            row.mailed_at = now
        audit.record(
            session,
            None,
            audit.Action.ALERT_MAIL,
            "alerts",
            {"alerts": [a.id for a in pending], "to": address, "message_id": message.message_id},
        )
    return TeamMailOutcome(len(pending))
