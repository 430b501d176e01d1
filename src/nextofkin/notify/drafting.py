"""Drafting: one message per (case, recipient), written for the case's current identification."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.records import Case, Identification
from nextofkin.cases.service import get_case
from nextofkin.db import utcnow
from nextofkin.errors import InputError, PolicyViolation
from nextofkin.gallery.accounts import resolve_account
from nextofkin.gallery.records import Account
from nextofkin.i18n import _
from nextofkin.notify.attachments import make_attachment
from nextofkin.notify.binding import identified, newest_decision
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
from nextofkin.notify.recipients import address_for
from nextofkin.notify.records import OutboxMessage
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace


@dataclass(frozen=True)
class _Basis:
    """What every message of one drafting is written for: the case's current identification."""

    case: Case
    identification: Identification
    decision_id: int  # the newest review decision when drafting
    person_name: str
    user: str


@dataclass(frozen=True)
class _Choice:
    """How one message goes: channel, picture and language."""

    channel: Channel
    attach: Attach
    language: Language


def draft(
    session: Session,
    workspace: Workspace,
    actor: str | None,
    number: str,
    recipients: Sequence[str],
    *,
    channel: Channel | str | None = None,
    attach: Attach | str | None = None,
    language: Language | str | None = None,
) -> list[MessageInfo]:
    """Write (or rewrite) the draft for each recipient of a case with a confirmed identification.

    A recipient whose message is already sending, sent or uncertain is left untouched and
    returned as it is: a family is never written to twice about one case. ``channel``,
    ``attach`` and ``language`` left as None keep the existing draft's choice (defaults: e-mail,
    no picture, ``notify.default_language``). Raises
    :class:`PolicyViolation` without a confirmed identification, for the identified person's own
    account, and for an address that another recipient of the case already uses.
    """
    user = require(session, actor, Permission.DRAFT)
    if not recipients:
        raise InputError(_("name at least one recipient: --to ACCOUNT"))
    case = get_case(session, number)
    identification, person = identified(session, case)
    # The gallery's current record names the person; the search's copy is the fallback.
    person_account = session.get(Account, person.account_id)
    person_name = (person_account.name if person_account else None) or person.name
    basis = _Basis(
        case,
        identification,
        newest_decision(session, case),
        person_name or identification.account_ref,
        user.name,
    )
    return [
        _draft_one(session, workspace, basis, ref, channel, attach, language) for ref in recipients
    ]


def _draft_one(
    session: Session,
    workspace: Workspace,
    basis: _Basis,
    ref: str,
    channel: Channel | str | None,
    attach: Attach | str | None,
    language: Language | str | None,
) -> MessageInfo:
    """Draft the message to one recipient (or hand back the one already on its way)."""
    number = basis.case.number
    account, key_ref = resolve_account(session, ref)
    recipient_key = f"account:{key_ref}"
    if key_ref == basis.identification.account_ref:
        raise PolicyViolation(
            _("%(key_ref)s is the identified person's own account", key_ref=key_ref)
        )
    existing = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.case_id == basis.case.id, OutboxMessage.recipient_key == recipient_key
        )
    ).one_or_none()
    if existing is not None and OutboxState(existing.state) in COMMITTED:
        return message_info(number, existing)
    # Options not given keep what the existing draft chose (so `--send` sends that draft).
    choice = _Choice(
        Channel(channel or (existing.channel if existing else Channel.EMAIL)),
        Attach(attach or (existing.attach if existing else Attach.NONE)),
        Language(
            language
            or (existing.language if existing else workspace.settings.notify.default_language)
        ),
    )
    address = address_for(account, choice.channel)
    _refuse_shared_address(session, basis.case, recipient_key, choice.channel, address)
    key = idempotency_key(number, recipient_key)
    subject, body = render(
        workspace, choice.language, _letter_context(workspace, basis, account, choice)
    )
    team_check(workspace, body)
    attachment = make_attachment(workspace, basis.case, choice.attach, key)
    row = existing or OutboxMessage(
        case_id=basis.case.id,
        recipient_key=recipient_key,
        idempotency_key=key,
        message_id=message_id(key, workspace.settings.smtp.sender),
        attempts=0,
        drafted_by=basis.user,
    )
    _fill(row, basis, account, choice, address, (subject, body), attachment)
    if existing is None:
        session.add(row)
    session.flush()
    _audit_draft(session, basis, row, redraft=existing is not None)
    return message_info(number, row)


def _fill(
    row: OutboxMessage,
    basis: _Basis,
    account: Account,
    choice: _Choice,
    address: str | None,
    text: tuple[str, str],
    attachment: tuple[str, str] | None,
) -> None:
    """Write the draft into ``row``: what it says, to whom, bound to which identification."""
    subject, body = text
    row.account_id = account.id
    row.identification_id = basis.identification.id
    row.decision_id = basis.decision_id
    row.recipient_name = account.name
    row.channel = choice.channel.value
    row.address = address
    row.language = choice.language.value
    row.attach = choice.attach.value
    row.subject = subject
    row.body = body
    row.body_sha256 = hashlib.sha256(body.encode()).hexdigest()
    row.attachment_path, row.attachment_sha256 = attachment or (None, None)
    row.package_dir = None
    row.state = OutboxState.DRAFT.value
    row.approved_by = row.approved_at = None
    row.drafted_by = basis.user
    row.drafted_at = row.updated_at = utcnow()


def _refuse_shared_address(
    session: Session, case: Case, recipient_key: str, channel: Channel, address: str | None
) -> None:
    """PolicyViolation when another recipient of the case already has this e-mail address."""
    if channel is not Channel.EMAIL or address is None:
        return
    for other in session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.case_id == case.id,
            OutboxMessage.recipient_key != recipient_key,
            OutboxMessage.channel == Channel.EMAIL.value,
        )
    ):
        if (other.address or "").casefold() == address.casefold():
            raise PolicyViolation(
                _(
                    "%(address)s is already the address of %(recipient_key)s for case "
                    "%(number)s: one family, one message",
                    address=address,
                    recipient_key=other.recipient_key,
                    number=case.number,
                )
            )


def _letter_context(
    workspace: Workspace, basis: _Basis, account: Account, choice: _Choice
) -> dict[str, object]:
    """What the letter's template is filled with."""
    team = workspace.settings.notify
    return {
        "case_number": basis.case.number,
        "recipient_name": account.name,
        "person_name": basis.person_name,
        "found_at": human_date(basis.case.found_at, choice.language),
        "place": basis.case.place,
        "team_name": team.team_name,
        "team_email": team.team_email,
        "team_phone": team.team_phone,
        "team_address": team.team_address,
        "attach": choice.attach.value,
        "has_attachment": choice.attach is not Attach.NONE,
    }


def _audit_draft(session: Session, basis: _Basis, row: OutboxMessage, *, redraft: bool) -> None:
    number = basis.case.number
    audit.record(
        session,
        basis.user,
        audit.Action.NOTIFY_DRAFT,
        f"case:{number}",
        {
            "recipient": row.recipient_key,
            "channel": row.channel,
            "address": row.address,
            "language": row.language,
            "attach": row.attach,
            "body_sha256": row.body_sha256,
            "attachment_sha256": row.attachment_sha256,
            "key": row.idempotency_key,
            "redraft": redraft,
            "identification": basis.identification.id,
            "decision": basis.decision_id,
        },
        case=number,
    )
