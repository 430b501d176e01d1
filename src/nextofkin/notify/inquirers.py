"""Letters to the family that filed an inquiry, once reviewers confirmed its link to a case.

The inquirer is a recipient only through the case's confirmed link: the draft is bound to that
link and to the newest link decision and review decision of the case (``outbox.inquiry_link_id``,
``link_decision_id``, ``decision_id``); approval and the send claim re-check the binding
(:mod:`nextofkin.notify.binding`) and the database's triggers refuse a stale one whatever code
runs. Delivery, at-most-once and uncertain sends are the outbox's, as for any letter. The audit
entries name the recipient ``inquiry:<id>``, never the inquirer's address: the audit log is kept
forever, and a family that withdraws must leave nothing behind.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.addresses import normalise_email
from nextofkin.cases.inquiry_records import Inquiry
from nextofkin.cases.records import Case
from nextofkin.cases.service import get_case
from nextofkin.db import utcnow
from nextofkin.errors import InputError, PolicyViolation
from nextofkin.i18n import _
from nextofkin.inquiries.purge import recipient_key
from nextofkin.inquiries.review import confirmed_link
from nextofkin.notify.binding import newest_decision, newest_link_decision
from nextofkin.notify.letters import human_date, render, team_check
from nextofkin.notify.model import (
    COMMITTED,
    Attach,
    Channel,
    Language,
    MessageInfo,
    OutboxState,
    idempotency_key,
    message_id,
    message_info,
)
from nextofkin.notify.records import OutboxMessage
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace


def _address(inquiry: Inquiry, channel: Channel) -> str | None:
    if channel is Channel.EMAIL:
        if not inquiry.inquirer_email:
            raise InputError(
                _(
                    "inquiry %(id)s has no e-mail address for the inquirer: use --channel manual",
                    id=inquiry.id,
                )
            )
        return normalise_email(inquiry.inquirer_email)
    parts = [
        f"{k}: {v}"
        for k, v in (("email", inquiry.inquirer_email), ("phone", inquiry.inquirer_phone))
        if v
    ]
    return "; ".join(parts) or None


def _letter(
    workspace: Workspace, case: Case, inquiry: Inquiry, language: Language
) -> tuple[str, str]:
    """The letter's subject and body from the team's template (checked to say who writes)."""
    team = workspace.settings.notify
    context = {
        "case_number": case.number,
        "recipient_name": inquiry.inquirer_name,
        "person_name": inquiry.missing_name,
        "found_at": human_date(case.found_at, language),
        "place": case.place,
        "team_name": team.team_name,
        "team_email": team.team_email,
        "team_phone": team.team_phone,
        "team_address": team.team_address,
        "attach": Attach.NONE.value,
        "has_attachment": False,
    }
    subject, body = render(workspace, language, context)
    team_check(workspace, body)
    return subject, body


def _fill(
    row: OutboxMessage,
    inquiry: Inquiry,
    channel: Channel,
    language: Language,
    subject: str,
    body: str,
    user: str,
) -> None:
    """A fresh draft's content in ``row`` (whatever an earlier draft held)."""
    row.recipient_name = inquiry.inquirer_name
    row.channel = channel.value
    row.address = _address(inquiry, channel)
    row.language = language.value
    row.attach = Attach.NONE.value  # the family is shown pictures in person, never by mail
    row.subject, row.body = subject, body
    row.body_sha256 = hashlib.sha256(body.encode()).hexdigest()
    row.attachment_path = row.attachment_sha256 = row.package_dir = None
    row.state = OutboxState.DRAFT.value
    row.approved_by = row.approved_at = None
    row.drafted_by = user
    row.drafted_at = row.updated_at = utcnow()


def _audit_draft(
    session: Session, user: str, number: str, row: OutboxMessage, *, existed: bool
) -> None:
    """The draft's audit entry: the recipient by key, never the inquirer's address."""
    details = {
        "recipient": row.recipient_key,
        "channel": row.channel,
        "language": row.language,
        "body_sha256": row.body_sha256,
        "key": row.idempotency_key,
        "redraft": existed,
        "link": row.inquiry_link_id,
        "decision": row.decision_id,
        "link_decision": row.link_decision_id,
    }
    audit.record(session, user, audit.Action.NOTIFY_DRAFT, f"case:{number}", details, case=number)


def draft_for_inquirer(
    session: Session,
    workspace: Workspace,
    actor: str | None,
    number: str,
    *,
    channel: Channel | str | None = None,
    language: Language | str | None = None,
) -> MessageInfo:
    """Write (or rewrite) the letter to the inquirer of case ``number``'s confirmed link.

    Raises :class:`PolicyViolation` when the case has no confirmed link. A letter already being
    sent, sent or uncertain is returned untouched: a family is never written to twice.
    """
    user = require(session, actor, Permission.DRAFT)
    case = get_case(session, number)
    link = confirmed_link(session, case.id)
    if link is None:
        raise PolicyViolation(
            _(
                "case %(number)s has no confirmed inquiry link: reviewers must confirm "
                "one (`nextofkin inquiry review LINK --confirm`) before the family is "
                "written to",
                number=number,
            )
        )
    inquiry = session.get_one(Inquiry, link.inquiry_id)
    key_name = recipient_key(inquiry.id)
    existing = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.case_id == case.id, OutboxMessage.recipient_key == key_name
        )
    ).one_or_none()
    if existing is not None and OutboxState(existing.state) in COMMITTED:
        return message_info(number, existing)
    row_channel = Channel(channel or (existing.channel if existing else Channel.EMAIL))
    row_language = Language(
        language or (existing.language if existing else workspace.settings.notify.default_language)
    )
    subject, body = _letter(workspace, case, inquiry, row_language)
    key = idempotency_key(number, key_name)
    row = existing or OutboxMessage(
        case_id=case.id,
        recipient_key=key_name,
        idempotency_key=key,
        message_id=message_id(key, workspace.settings.smtp.sender),
        attempts=0,
        drafted_by=user.name,
    )
    row.account_id = row.identification_id = None
    row.inquiry_link_id = link.id
    row.decision_id = newest_decision(session, case)
    row.link_decision_id = newest_link_decision(session, case)
    _fill(row, inquiry, row_channel, row_language, subject, body, user.name)
    if existing is None:
        session.add(row)
    session.flush()
    _audit_draft(session, user.name, number, row, existed=existing is not None)
    return message_info(number, row)
