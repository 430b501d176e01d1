"""Liveness of senders: a ``sending`` claim whose process is gone is flagged ``uncertain`` (never
re-sent automatically)."""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.records import Case
from nextofkin.db import utcnow
from nextofkin.notify.model import OutboxState
from nextofkin.notify.records import OutboxMessage

log = logging.getLogger(__name__)

# A `sending` claim held by a process on another machine is considered abandoned after this long.
FOREIGN_CLAIM_STALE = timedelta(minutes=15)


def owner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def claim_abandoned(owner: str | None, since: datetime | None) -> bool:
    """Whether a `sending` claim's process is gone (this host) or the claim is stale (others)."""
    host, _, pid = (owner or "").rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        if int(pid) == os.getpid():
            return False
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return since is None or utcnow() - since > FOREIGN_CLAIM_STALE


def recover_abandoned(session: Session) -> list[str]:
    """Flag `sending` rows whose sender died as ``uncertain`` (never re-sent automatically)."""
    flagged = []
    for row in session.scalars(
        select(OutboxMessage).where(OutboxMessage.state == OutboxState.SENDING.value)
    ):
        if not claim_abandoned(row.owner, row.sending_since):
            continue
        case = session.get_one(Case, row.case_id)
        row.state = OutboxState.UNCERTAIN.value
        row.last_error = (
            f"the sending process ({row.owner}) stopped during delivery: the message may or may "
            "not have been delivered; check the mail server log for "
            f"{row.message_id}, then `notify mark-sent` or `notify release`"
        )
        row.updated_at = utcnow()
        audit.record(
            session,
            None,
            audit.Action.NOTIFY_UNCERTAIN,
            f"case:{case.number}",
            {"recipient": row.recipient_key, "owner": row.owner, "reason": "process gone"},
            case=case.number,
        )
        flagged.append(row.recipient_key)
        log.warning("case %s: message to %s left in sending: uncertain", case.number, row.address)
    return flagged
