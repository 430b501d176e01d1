"""Drafts, approval and delivery of messages to families, through an idempotent outbox.

The outbox holds one row per (case, recipient): the database refuses a second one, and the row's
state says how far that one message got::

    draft ──approve──▶ approved ──claim (committed)──▶ sending ──▶ sent
      ▲                   ▲  │                            │ └──▶ failed     (nothing was accepted)
      └──── re-draft ─────┘  └◀── temporary failure ──────┘ └──▶ uncertain  (may have been sent)

Every message is bound to the identification it was written for (``identification_id``) and to
the newest review decision of the case at drafting (``decision_id``). Any later decision voids
the case's unsent messages (``void``: re-draft to write for the current identification), and the
approval and the send claim re-check the binding in the same statement that changes the state;
database triggers refuse the same transitions whatever code runs them.

Delivery guarantee: **at most once** per (case, recipient). The ``sending`` state is committed
before the SMTP connection opens, and only a row in ``approved`` can be claimed. If the process
dies during the transaction, or the connection drops after the message body went out, the row is
left in (or set to) ``sending``/``uncertain``, which nothing re-sends automatically: a person
checks the mail server's log for the Message-ID (derived from the idempotency key) and records the
outcome with ``notify mark-sent`` or ``notify release``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.records import Case
from nextofkin.cases.service import CaseState, get_case, transition
from nextofkin.db import utcnow
from nextofkin.errors import (
    InputError,
    NotFound,
    PermanentDeliveryError,
    PolicyViolation,
    TemporaryDeliveryError,
    UncertainDeliveryError,
)
from nextofkin.gallery.accounts import resolve_account
from nextofkin.i18n import gettext
from nextofkin.inquiries.review import confirmed_link
from nextofkin.notify.attachments import outgoing, write_package
from nextofkin.notify.binding import bound_to_current, check_binding, identified
from nextofkin.notify.claims import owner_token, recover_abandoned
from nextofkin.notify.drafting import draft
from nextofkin.notify.letters import render, template_environment
from nextofkin.notify.model import (
    Attach,
    Channel,
    KinPick,
    Language,
    MessageInfo,
    OutboxState,
    SendOutcome,
    Transport,
    message_info,
)
from nextofkin.notify.recipients import kin_recipients
from nextofkin.notify.records import OutboxMessage
from nextofkin.notify.smtp import OutgoingMessage, SmtpChannel
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

# The names callers (CLI, web, tests) import from here; the work lives in the modules above.
__all__ = [
    "Attach",
    "Channel",
    "KinPick",
    "Language",
    "MessageInfo",
    "OutboxState",
    "SendOutcome",
    "Transport",
    "draft",
    "kin_recipients",
    "mark_sent",
    "outbox",
    "recover_abandoned",
    "release",
    "render",
    "send",
    "template_environment",
]

log = logging.getLogger(__name__)


def _approve(
    session: Session, workspace: Workspace, user: str, case: Case, row: OutboxMessage
) -> None:
    number = case.number
    check_binding(session, case, row)
    row.state = OutboxState.APPROVED.value
    row.approved_by = user
    row.approved_at = row.updated_at = utcnow()
    if row.channel == Channel.MANUAL.value:
        row.package_dir = write_package(workspace, number, row)
    audit.record(
        session,
        user,
        audit.Action.NOTIFY_APPROVE,
        f"case:{number}",
        {
            "recipient": row.recipient_key,
            "body_sha256": row.body_sha256,
            "attachment_sha256": row.attachment_sha256,
            "channel": row.channel,
            "package": row.package_dir,
        },
        case=number,
    )


def send(
    workspace: Workspace,
    actor: str | None,
    number: str,
    recipients: Sequence[str] | None = None,
    *,
    transport: Transport | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[SendOutcome]:
    """Approve the drafts of a case (or of ``recipients``) and deliver them, at most once each.

    Needs the ``send`` permission and a confirmed identification (checked again here, not only at
    drafting). E-mail goes through ``transport`` (default: SMTP from the settings) with up to
    ``notify.max_attempts`` attempts and doubling back-off on temporary failures; the manual
    channel gets its package written and waits for ``mark-sent``. Messages already sent, being
    sent or uncertain are reported and left alone.
    """
    todo: list[tuple[int, str]] = []
    outcomes: list[SendOutcome] = []
    with workspace.session() as session:
        user = require(session, actor, Permission.SEND).name
        case = get_case(session, number)
        if confirmed_link(session, case.id) is None:
            identified(session, case)  # a confirmed inquiry link is the other way to write
        recover_abandoned(session)
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.case_id == case.id).order_by(OutboxMessage.id)
        ).all()
        wanted = {_recipient_key(session, r) for r in recipients} if recipients else None
        if wanted is not None:
            missing = wanted - {r.recipient_key for r in rows}
            if missing:
                raise InputError(
                    gettext(
                        "no draft for %(missing)s: draft it first",
                        missing=", ".join(sorted(missing)),
                    )
                )
        for row in rows:
            if wanted is not None and row.recipient_key not in wanted:
                continue
            state = OutboxState(row.state)
            if state is OutboxState.DRAFT:
                _approve(session, workspace, user, case, row)
                state = OutboxState.APPROVED
            if state is OutboxState.APPROVED and row.channel == Channel.EMAIL.value:
                todo.append((row.id, row.recipient_key))
            else:
                outcomes.append(SendOutcome(row.recipient_key, state, False, _note(row, workspace)))
    channel = transport or SmtpChannel(workspace.settings.smtp)
    for row_id, _ in todo:
        outcomes.append(_deliver_one(workspace, user, number, row_id, channel, sleep))
    return outcomes


def _note(row: OutboxMessage, workspace: Workspace) -> str:
    state = OutboxState(row.state)
    if state is OutboxState.SENT:
        return gettext(
            "already sent %(at)s UTC by %(user)s: nothing sent",
            at=f"{row.sent_at:%Y-%m-%d %H:%M}",
            user=row.sent_by,
        )
    if state is OutboxState.SENDING:
        return gettext("being sent by another process right now: nothing sent")
    if state is OutboxState.UNCERTAIN:
        return gettext(
            "NOT re-sent: delivery uncertain (%(error)s); a person must check", error=row.last_error
        )
    if state is OutboxState.APPROVED and row.channel == Channel.MANUAL.value:
        # The full path: the stored one is relative to the workspace's media folder, which is
        # not where a person's shell is.
        return gettext(
            "ready to send by hand: %(path)s", path=workspace.media_dir / str(row.package_dir)
        )
    if state is OutboxState.FAILED:
        return gettext(
            "failed: %(error)s; fix and re-draft, or `notify release`", error=row.last_error
        )
    if state is OutboxState.VOID:
        return gettext(
            "NOT sent: written before the latest review decision of the case; re-draft it for "
            "the current identification"
        )
    return state.value


def _deliver_one(
    workspace: Workspace,
    user: str,
    number: str,
    row_id: int,
    channel: Transport,
    sleep: Callable[[float], None],
) -> SendOutcome:
    settings = workspace.settings.notify
    delay = settings.backoff_seconds
    while True:
        claim = _claim(workspace, user, number, row_id)
        if isinstance(claim, SendOutcome):
            return claim
        message, attempt = claim
        # The claim is committed: from here on, a crash leaves `sending`, never a second send.
        try:
            receipt = channel.deliver(message)
        except TemporaryDeliveryError as exc:
            final = attempt >= settings.max_attempts
            outcome = _record_failure(
                workspace, user, number, row_id, exc, OutboxState.FAILED if final else None
            )
            if final:
                return outcome
            log.info("temporary failure (%s); retrying in %.1f s", exc, delay)
            sleep(delay)
            delay *= 2
            continue
        except PermanentDeliveryError as exc:
            return _record_failure(workspace, user, number, row_id, exc, OutboxState.FAILED)
        except UncertainDeliveryError as exc:
            return _record_failure(workspace, user, number, row_id, exc, OutboxState.UNCERTAIN)
        except Exception as exc:
            # Anything unforeseen after the claim: the message may have left; never retried.
            log.exception("unexpected failure delivering to %s", message.to_address)
            return _record_failure(workspace, user, number, row_id, exc, OutboxState.UNCERTAIN)
        return _record_sent(workspace, user, number, row_id, receipt.reply, by_hand=False)


def _claim(
    workspace: Workspace, user: str, number: str, row_id: int
) -> tuple[OutgoingMessage, int] | SendOutcome:
    """Claim the approved row for this attempt (committed before any connection opens).

    Returns the message and the attempt number, or, when the row cannot be claimed (no longer
    approved, or no longer bound to the case's current identification), what happened instead.
    """
    with workspace.session() as session:
        row = session.get_one(OutboxMessage, row_id)
        message = outgoing(workspace, number, row)
        # Serialise with review decisions on this case (row lock on PostgreSQL).
        session.execute(select(Case.id).where(Case.id == row.case_id).with_for_update())
        claimed = session.execute(
            update(OutboxMessage)
            .where(
                OutboxMessage.id == row_id,
                OutboxMessage.state == OutboxState.APPROVED.value,
                bound_to_current(row.case_id),
            )
            .values(
                state=OutboxState.SENDING.value,
                owner=owner_token(),
                sending_since=utcnow(),
                attempts=OutboxMessage.attempts + 1,
                updated_at=utcnow(),
            )
        ).rowcount  # type: ignore[attr-defined]
        session.refresh(row)
        if claimed != 1:
            note = _note(row, workspace)
            if OutboxState(row.state) is OutboxState.APPROVED:
                note = gettext(
                    "NOT sent: the identification it was written for is no longer the "
                    "case's current one; re-draft"
                )
            return SendOutcome(row.recipient_key, OutboxState(row.state), False, note)
        audit.record(
            session,
            user,
            audit.Action.NOTIFY_SENDING,
            f"case:{number}",
            # An inquirer's address stays out of the log: a family's purge must remove it.
            {
                "recipient": row.recipient_key,
                "attempt": row.attempts,
                "to": row.address if row.inquiry_link_id is None else row.recipient_key,
            },
            case=number,
        )
        return message, row.attempts


def _record_failure(
    workspace: Workspace,
    user: str,
    number: str,
    row_id: int,
    exc: Exception,
    final: OutboxState | None,
) -> SendOutcome:
    """Record a failed attempt: back to ``approved`` for a retry, or the final state."""
    with workspace.session() as session:
        row = session.get_one(OutboxMessage, row_id)
        row.state = (final or OutboxState.APPROVED).value
        row.owner = None
        row.last_error = str(exc)
        row.updated_at = utcnow()
        action = {
            None: audit.Action.NOTIFY_RETRY,
            OutboxState.FAILED: audit.Action.NOTIFY_FAILED,
            OutboxState.UNCERTAIN: audit.Action.NOTIFY_UNCERTAIN,
        }[final]
        audit.record(
            session,
            user,
            action,
            f"case:{number}",
            {"recipient": row.recipient_key, "attempt": row.attempts, "error": str(exc)},
            case=number,
        )
        return SendOutcome(row.recipient_key, OutboxState(row.state), False, _note(row, workspace))


def _record_sent(
    workspace: Workspace, user: str, number: str, row_id: int, detail: str, *, by_hand: bool
) -> SendOutcome:
    with workspace.session() as session:
        row = session.get_one(OutboxMessage, row_id)
        row.state = OutboxState.SENT.value
        row.owner = None
        row.sent_at = row.updated_at = utcnow()
        row.sent_by = user
        row.last_error = None
        audit.record(
            session,
            user,
            audit.Action.NOTIFY_MARK_SENT if by_hand else audit.Action.NOTIFY_SENT,
            f"case:{number}",
            {
                "recipient": row.recipient_key,
                "to": row.address if row.inquiry_link_id is None else row.recipient_key,
                "message_id": row.message_id,
                "detail": detail,
            },
            case=number,
        )
        case = get_case(session, number)
        if CaseState(case.state) is CaseState.IDENTIFIED:
            transition(session, case, CaseState.NOTIFIED, user, f"message to {row.recipient_key}")
        return SendOutcome(
            row.recipient_key,
            OutboxState.SENT,
            True,
            gettext("sent to %(address)s", address=row.address),
        )


def _recipient_key(session: Session, recipient: str) -> str:
    """``inquiry:<id>`` (a family's inquirer) as given; anything else names a gallery account."""
    if recipient.startswith("inquiry:"):
        return recipient
    return f"account:{resolve_account(session, recipient)[1]}"


def _row_for(session: Session, number: str, recipient: str) -> tuple[Case, OutboxMessage]:
    case = get_case(session, number)
    key = _recipient_key(session, recipient)
    row = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.case_id == case.id, OutboxMessage.recipient_key == key
        )
    ).one_or_none()
    if row is None:
        raise NotFound(
            gettext(
                "no message to %(key)s for case %(number)s",
                key=key.removeprefix("account:"),
                number=number,
            )
        )
    return case, row


def mark_sent(
    workspace: Workspace, actor: str | None, number: str, recipient: str, note: str | None = None
) -> SendOutcome:
    """Record that a person delivered a message by hand, or found an uncertain one delivered.

    Allowed for an approved manual-channel message and for an ``uncertain`` one; never twice.
    """
    with workspace.session() as session:
        user = require(session, actor, Permission.SEND).name
        case, row = _row_for(session, number, recipient)
        state = OutboxState(row.state)
        manual_ready = state is OutboxState.APPROVED and row.channel == Channel.MANUAL.value
        if state is OutboxState.SENT:
            raise PolicyViolation(
                gettext("already recorded as sent %(at)s UTC", at=f"{row.sent_at:%Y-%m-%d %H:%M}")
            )
        if not (manual_ready or state is OutboxState.UNCERTAIN):
            raise PolicyViolation(
                gettext(
                    "the message is %(value)s: only an approved manual message or an "
                    "uncertain one can be marked sent",
                    value=state.value,
                )
            )
        if manual_ready:
            check_binding(session, case, row)
        row_id = row.id
    return _record_sent(
        workspace, user, number, row_id, note or "marked sent by hand", by_hand=True
    )


def release(
    workspace: Workspace, actor: str | None, number: str, recipient: str, reason: str
) -> MessageInfo:
    """After a person checked that an uncertain or failed message did NOT arrive, allow a resend.

    The ``reason`` (e.g. "not in the server log") is required and audited.
    """
    if not reason.strip():
        raise InputError(gettext("say how you know the message did not arrive: --reason TEXT"))
    with workspace.session() as session:
        user = require(session, actor, Permission.SEND).name
        case, row = _row_for(session, number, recipient)
        state = OutboxState(row.state)
        if state not in (OutboxState.UNCERTAIN, OutboxState.FAILED):
            raise PolicyViolation(
                gettext(
                    "the message is %(value)s: only uncertain or failed ones", value=state.value
                )
            )
        check_binding(session, case, row)
        row.state = OutboxState.APPROVED.value
        row.owner = None
        row.updated_at = utcnow()
        audit.record(
            session,
            user,
            audit.Action.NOTIFY_RELEASE,
            f"case:{number}",
            {"recipient": row.recipient_key, "from": state.value, "reason": reason},
            case=number,
        )
        return message_info(number, row)


def outbox(session: Session, actor: str | None, number: str | None = None) -> list[MessageInfo]:
    """Messages of one case or of all cases (abandoned `sending` claims flagged first)."""
    require(session, actor, Permission.VIEW)
    recover_abandoned(session)
    query = select(OutboxMessage, Case.number).join(Case, Case.id == OutboxMessage.case_id)
    if number is not None:
        query = query.where(Case.number == number)
    return [message_info(n, row) for row, n in session.execute(query.order_by(OutboxMessage.id))]
