"""Drafting: one message per (case, recipient), written for the case's current identification."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.service import get_case
from nextofkin.db import utcnow
from nextofkin.errors import InputError, PolicyViolation
from nextofkin.gallery.accounts import resolve_account
from nextofkin.gallery.records import Account
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
        raise InputError("name at least one recipient: --to ACCOUNT")
    case = get_case(session, number)
    identification, person = identified(session, case)
    person_ref = identification.account_ref
    latest_decision = newest_decision(session, case)
    # The gallery's current record names the person; the search's copy is the fallback.
    person_account = session.get(Account, person.account_id)
    person_name = (person_account.name if person_account else None) or person.name
    team = workspace.settings.notify
    sender = workspace.settings.smtp.sender
    out: list[MessageInfo] = []
    for ref in recipients:
        account, key_ref = resolve_account(session, ref)
        recipient_key = f"account:{key_ref}"
        if key_ref == person_ref:
            raise PolicyViolation(f"{key_ref} is the identified person's own account")
        existing = session.scalars(
            select(OutboxMessage).where(
                OutboxMessage.case_id == case.id, OutboxMessage.recipient_key == recipient_key
            )
        ).one_or_none()
        if existing is not None and OutboxState(existing.state) in COMMITTED:
            out.append(message_info(number, existing))
            continue
        # Options not given keep what the existing draft chose (so `--send` sends that draft).
        row_channel = Channel(channel or (existing.channel if existing else Channel.EMAIL))
        row_attach = Attach(attach or (existing.attach if existing else Attach.NONE))
        row_language = Language(
            language
            or (existing.language if existing else workspace.settings.notify.default_language)
        )
        address = address_for(account, row_channel)
        if row_channel is Channel.EMAIL and address is not None:
            for other in session.scalars(
                select(OutboxMessage).where(
                    OutboxMessage.case_id == case.id,
                    OutboxMessage.recipient_key != recipient_key,
                    OutboxMessage.channel == Channel.EMAIL.value,
                )
            ):
                if (other.address or "").casefold() == address.casefold():
                    raise PolicyViolation(
                        f"{address} is already the address of {other.recipient_key} for case "
                        f"{number}: one family, one message"
                    )
        key = idempotency_key(number, recipient_key)
        context = {
            "case_number": number,
            "recipient_name": account.name,
            "person_name": person_name or person_ref,
            "found_at": human_date(case.found_at, row_language),
            "place": case.place,
            "team_name": team.team_name,
            "team_email": team.team_email,
            "team_phone": team.team_phone,
            "team_address": team.team_address,
            "attach": row_attach.value,
            "has_attachment": row_attach is not Attach.NONE,
        }
        subject, body = render(workspace, row_language, context)
        team_check(workspace, body)
        attachment = make_attachment(workspace, case, row_attach, key)
        row = existing or OutboxMessage(
            case_id=case.id,
            recipient_key=recipient_key,
            idempotency_key=key,
            message_id=message_id(key, sender),
            attempts=0,
            drafted_by=user.name,
        )
        row.account_id = account.id
        row.identification_id = identification.id
        row.decision_id = latest_decision
        row.recipient_name = account.name
        row.channel = row_channel.value
        row.address = address
        row.language = row_language.value
        row.attach = row_attach.value
        row.subject = subject
        row.body = body
        row.body_sha256 = hashlib.sha256(body.encode()).hexdigest()
        row.attachment_path, row.attachment_sha256 = attachment or (None, None)
        row.package_dir = None
        row.state = OutboxState.DRAFT.value
        row.approved_by = row.approved_at = None
        row.drafted_by = user.name
        row.drafted_at = row.updated_at = utcnow()
        if existing is None:
            session.add(row)
        session.flush()
        audit.record(
            session,
            user.name,
            audit.Action.NOTIFY_DRAFT,
            f"case:{number}",
            {
                "recipient": recipient_key,
                "channel": row_channel.value,
                "address": address,
                "language": row_language.value,
                "attach": row_attach.value,
                "body_sha256": row.body_sha256,
                "attachment_sha256": row.attachment_sha256,
                "key": key,
                "redraft": existing is not None,
                "identification": identification.id,
                "decision": latest_decision,
            },
            case=number,
        )
        out.append(message_info(number, row))
    return out
