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

import hashlib
import json
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import ColumnElement, and_, exists, func, select, update
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.addresses import normalise_email
from nextofkin.cases.records import Case, CaseDecision, Identification
from nextofkin.cases.review import CONFIRMED, current_identification
from nextofkin.cases.service import CaseState, get_case, transition
from nextofkin.db import utcnow
from nextofkin.errors import (
    ConfigError,
    InputError,
    NotFound,
    PermanentDeliveryError,
    PolicyViolation,
    TemporaryDeliveryError,
    UncertainDeliveryError,
)
from nextofkin.gallery.accounts import resolve_account
from nextofkin.gallery.records import Account
from nextofkin.notify.records import OutboxMessage
from nextofkin.notify.smtp import Attachment, DeliveryReceipt, OutgoingMessage, SmtpChannel
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

# A `sending` claim held by a process on another machine is considered abandoned after this long.
FOREIGN_CLAIM_STALE = timedelta(minutes=15)
IDENTIFIED_STATES = (CaseState.IDENTIFIED, CaseState.NOTIFIED)


class Channel(StrEnum):
    """How a message reaches the family."""

    EMAIL = "email"
    MANUAL = "manual"  # a package a person sends by hand on a platform without an API


class Attach(StrEnum):
    """What picture goes with a message."""

    NONE = "none"
    FACE = "face"  # an upright crop of the face from the post-mortem photo
    PHOTO = "photo"  # the whole post-mortem photo (metadata removed)


class Language(StrEnum):
    """Languages the shipped templates are written in."""

    RU = "ru"
    UK = "uk"
    EN = "en"


class OutboxState(StrEnum):
    """How far one message got (see the module docstring)."""

    DRAFT = "draft"
    APPROVED = "approved"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    UNCERTAIN = "uncertain"
    VOID = "void"  # written for an identification that is no longer the case's current one


# States in which the message may (have) reach(ed) the family: never drafted or sent again.
COMMITTED = (OutboxState.SENDING, OutboxState.SENT, OutboxState.UNCERTAIN)


class Transport(Protocol):
    """A channel that delivers one message or raises a delivery error."""

    channel: str

    def deliver(self, message: OutgoingMessage) -> DeliveryReceipt:
        """Deliver ``message``; Temporary/Permanent/UncertainDeliveryError on failure."""
        ...


@dataclass(frozen=True)
class MessageInfo:
    """One outbox message as the services hand it out."""

    case_number: str
    recipient: str
    recipient_name: str | None
    channel: str
    address: str | None
    language: str
    attach: str
    subject: str
    body: str
    attachment_path: str | None
    attachment_sha256: str | None
    package_dir: str | None
    state: OutboxState
    attempts: int
    last_error: str | None
    idempotency_key: str
    message_id: str
    drafted_by: str
    approved_by: str | None
    sent_at: datetime | None
    sent_by: str | None


@dataclass(frozen=True)
class SendOutcome:
    """What happened to one message in a send."""

    recipient: str
    state: OutboxState
    sent_now: bool
    note: str


def idempotency_key(case_number: str, recipient_key: str) -> str:
    """The one key of the message for (case, recipient): the same inputs, the same key."""
    return hashlib.sha256(f"nextofkin\0{case_number}\0{recipient_key}".encode()).hexdigest()


def message_id(key: str, sender: str) -> str:
    """A Message-ID derived from the idempotency key (so a duplicate would carry the same one)."""
    domain = sender.rpartition("@")[2].strip("<> ") or "nextofkin.invalid"
    return f"<{key[:40]}@{domain}>"


def _info(case_number: str, row: OutboxMessage) -> MessageInfo:
    return MessageInfo(
        case_number=case_number,
        recipient=row.recipient_key,
        recipient_name=row.recipient_name,
        channel=row.channel,
        address=row.address,
        language=row.language,
        attach=row.attach,
        subject=row.subject,
        body=row.body,
        attachment_path=row.attachment_path,
        attachment_sha256=row.attachment_sha256,
        package_dir=row.package_dir,
        state=OutboxState(row.state),
        attempts=row.attempts,
        last_error=row.last_error,
        idempotency_key=row.idempotency_key,
        message_id=row.message_id,
        drafted_by=row.drafted_by,
        approved_by=row.approved_by,
        sent_at=row.sent_at,
        sent_by=row.sent_by,
    )


def _human_date(value: str | None, language: str) -> str | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value) if len(value) > 10 else date.fromisoformat(value)
    except ValueError:
        return value
    months = [
        *("January", "February", "March", "April", "May", "June", "July", "August"),
        *("September", "October", "November", "December"),
    ]
    with_time = isinstance(moment, datetime) and (moment.hour or moment.minute)
    if language == Language.EN:
        text = f"{moment.day} {months[moment.month - 1]} {moment.year}"
        return f"{text}, {moment:%H:%M}" if with_time else text
    text = f"{moment:%d.%m.%Y}"
    return f"{text} {moment:%H:%M}" if with_time else text


def template_environment(workspace: Workspace) -> Any:
    """Jinja2 templates: the workspace's ``templates/notify/`` first, then the shipped ones."""
    from jinja2 import ChoiceLoader, FileSystemLoader, PackageLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    return SandboxedEnvironment(
        loader=ChoiceLoader(
            [
                FileSystemLoader(str(workspace.home / "templates" / "notify")),
                PackageLoader("nextofkin.notify", "templates"),
            ]
        ),
        undefined=StrictUndefined,
        autoescape=False,  # plain-text messages
        keep_trailing_newline=True,
    )


def render(workspace: Workspace, language: str, context: dict[str, Any]) -> tuple[str, str]:
    """The subject and body for ``language`` with ``context``."""
    from jinja2 import TemplateError

    env = template_environment(workspace)
    try:
        subject = env.get_template(f"{language}/subject.txt.j2").render(**context)
        body = env.get_template(f"{language}/body.txt.j2").render(**context)
    except TemplateError as exc:
        raise InputError(f"notification template ({language}) failed: {exc}") from exc
    return " ".join(subject.split()), body


def _identified(session: Session, case: Case) -> tuple[Identification, dict[str, Any]]:
    """The current identification and its candidate record; PolicyViolation if there is none."""
    current = current_identification(session, case)
    if CaseState(case.state) not in IDENTIFIED_STATES or current is None:
        raise PolicyViolation(
            f"case {case.number} has no confirmed identification (state {case.state}): a named "
            "reviewer must confirm a candidate (`nextofkin review`) before any message is drafted "
            "or sent"
        )
    for search in sorted(case.searches, key=lambda s: -s.id):
        for candidate in search.candidates or []:
            if f"{candidate['source']}/{candidate['account']}" == current.account_ref:
                return current, candidate
    raise PolicyViolation(
        f"confirmed account {current.account_ref} is in no search of case {case.number}"
    )


def _newest_decision(session: Session, case: Case) -> int:
    return int(
        session.scalar(select(func.max(CaseDecision.id)).where(CaseDecision.case_id == case.id))
        or 0
    )


def _bound_to_current(case_id: int) -> ColumnElement[bool]:
    """SQL: the outbox row was written for the case's current identification, and no decision
    came after its draft (the same test the database trigger makes)."""
    return and_(
        OutboxMessage.identification_id.in_(
            select(Identification.id).where(
                Identification.case_id == case_id, Identification.state == CONFIRMED
            )
        ),
        ~exists().where(
            CaseDecision.case_id == case_id,
            CaseDecision.id > func.coalesce(OutboxMessage.decision_id, 0),
        ),
    )


def _check_binding(session: Session, case: Case, row: OutboxMessage) -> None:
    """PolicyViolation unless ``row`` was written for the case's current identification."""
    current = current_identification(session, case)
    if (
        current is None
        or row.identification_id != current.id
        or (row.decision_id or 0) < _newest_decision(session, case)
    ):
        raise PolicyViolation(
            f"the message to {row.recipient_key} was written before the latest review decision "
            f"of case {case.number}: re-draft it for the current identification"
        )


def _team_check(workspace: Workspace, body: str) -> None:
    """A letter must say who writes and how to reach them (ConfigError/InputError if not)."""
    team = workspace.settings.notify
    contacts = [c for c in (team.team_phone, team.team_email) if c and c.strip()]
    if not (team.team_name and team.team_name.strip()) or not contacts:
        raise ConfigError(
            "a letter to a family needs the team's name and a way to reach it: set "
            "NEXTOFKIN_NOTIFY__TEAM_NAME and NEXTOFKIN_NOTIFY__TEAM_PHONE or __TEAM_EMAIL"
        )
    # A team's own template could leave them out: the rendered text itself must carry them.
    if team.team_name.strip() not in body or not any(c.strip() in body for c in contacts):
        raise InputError(
            "the rendered letter does not contain the team's name and a phone or e-mail to "
            "reach it: check the notification template"
        )


def _best_probe(case: Case) -> dict[str, Any]:
    probes = [p for s in sorted(case.searches, key=lambda s: -s.id) for p in (s.probe_faces or [])]
    probes = [p for p in probes if p.get("case_photo") is not None]
    if not probes:
        raise InputError(
            f"case {case.number} has no searched probe photo to attach: use --attach none"
        )
    return max(probes, key=lambda p: float(p.get("quality", 0.0)))


def _make_attachment(
    workspace: Workspace, case: Case, attach: Attach, key: str
) -> tuple[str, str] | None:
    """Write the attachment into the outbox folder; returns (path relative to media, sha256)."""
    from nextofkin.cases.media import clean_photo, face_crop, jpeg_bytes

    if attach is Attach.NONE:
        return None
    probe = _best_probe(case)
    source = workspace.media_dir / probe["photo"]
    if attach is Attach.FACE:
        picture = face_crop(source, probe["box"], rotation=int(probe.get("rotation", 0)))
    else:
        picture = clean_photo(source)
    data = jpeg_bytes(picture)
    rel = Path("outbox") / str(case.id) / key[:16] / f"{attach.value}.jpg"
    target = workspace.media_dir / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return rel.as_posix(), hashlib.sha256(data).hexdigest()


def _address(account: Account, channel: Channel) -> str | None:
    contacts = account.contacts or {}
    if channel is Channel.EMAIL:
        email = contacts.get("email")
        if not isinstance(email, str) or not email.strip():
            raise InputError(
                f"account {account.external_id} has no e-mail address in its contacts: use "
                "--channel manual"
            )
        return normalise_email(email)
    parts = [f"{k}: {v}" for k, v in sorted(contacts.items()) if v]
    if account.url:
        parts.append(f"profile: {account.url}")
    return "; ".join(parts) or None


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
    identification, person = _identified(session, case)
    person_ref = identification.account_ref
    newest_decision = _newest_decision(session, case)
    # The gallery's current record names the person; the search's copy is the fallback.
    person_account = session.get(Account, int(person["account_id"]))
    person_name = (person_account.name if person_account else None) or person.get("name")
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
            out.append(_info(number, existing))
            continue
        # Options not given keep what the existing draft chose (so `--send` sends that draft).
        row_channel = Channel(channel or (existing.channel if existing else Channel.EMAIL))
        row_attach = Attach(attach or (existing.attach if existing else Attach.NONE))
        row_language = Language(
            language
            or (existing.language if existing else workspace.settings.notify.default_language)
        )
        address = _address(account, row_channel)
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
            "found_at": _human_date(case.found_at, row_language),
            "place": case.place,
            "team_name": team.team_name,
            "team_email": team.team_email,
            "team_phone": team.team_phone,
            "team_address": team.team_address,
            "attach": row_attach.value,
            "has_attachment": row_attach is not Attach.NONE,
        }
        subject, body = render(workspace, row_language, context)
        _team_check(workspace, body)
        attachment = _make_attachment(workspace, case, row_attach, key)
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
        row.decision_id = newest_decision
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
                "decision": newest_decision,
            },
            case=number,
        )
        out.append(_info(number, row))
    return out


@dataclass(frozen=True)
class KinPick:
    """A relative the kin engine found, proposed as a recipient."""

    ref: str
    name: str | None
    relation: str
    score: float
    reasons: list[str]


def kin_recipients(
    workspace: Workspace,
    actor: str | None,
    number: str,
    *,
    top: int = 3,
    channel: Channel | str = Channel.EMAIL,
    kin_service: Any = None,
) -> list[KinPick]:
    """The ``top`` strongest relatives of the identified person that ``channel`` can reach.

    Uses the kin engine (``nextofkin.kin``) on the confirmed account; relatives without an e-mail
    address are skipped for the e-mail channel, relatives without any contact for the manual one.
    ``kin_service`` is an object with ``kin(account, source=..., top=...)`` (default: KinService).
    """
    channel = Channel(channel)
    with workspace.session() as session:
        require(session, actor, Permission.DRAFT)
        case = get_case(session, number)
        person_ref = _identified(session, case)[0].account_ref
    source, _, external = person_ref.partition("/")
    if kin_service is None:
        from nextofkin.kin.engine import KinService

        kin_service = KinService(workspace)
    result = kin_service.kin(external, source=source, top=max(top * 4, 10))
    picks: list[KinPick] = []
    for rel in result.relations:
        contacts = rel.contacts or {}
        email = contacts.get("email")
        reachable = (
            isinstance(email, str) and "@" in email
            if channel is Channel.EMAIL
            else any(contacts.values())
        )
        if reachable:
            picks.append(
                KinPick(
                    f"{rel.source}/{rel.account}",
                    rel.name,
                    rel.relation,
                    rel.score,
                    list(rel.reasons),
                )
            )
        if len(picks) == top:
            break
    return picks


def _owner_token() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _claim_abandoned(owner: str | None, since: datetime | None) -> bool:
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
        if not _claim_abandoned(row.owner, row.sending_since):
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


def _outgoing(workspace: Workspace, number: str, row: OutboxMessage) -> OutgoingMessage:
    attachment = None
    if row.attachment_path:
        path = workspace.media_dir / row.attachment_path
        if hashlib.sha256(path.read_bytes()).hexdigest() != row.attachment_sha256:
            raise PolicyViolation(f"attachment {path} changed since it was drafted: re-draft")
        attachment = Attachment(path, f"{row.attach}.jpg")
    if hashlib.sha256(row.body.encode()).hexdigest() != row.body_sha256:
        raise PolicyViolation("message body changed since it was drafted: re-draft")
    # Checked again before the claim: a bad address must fail here, never leave a row `sending`.
    return OutgoingMessage(
        to_address=normalise_email(row.address or ""),
        to_name=row.recipient_name,
        subject=row.subject,
        body=row.body,
        message_id=row.message_id,
        idempotency_key=row.idempotency_key,
        case_number=number,
        language=row.language,
        attachment=attachment,
    )


def _write_package(workspace: Workspace, number: str, row: OutboxMessage) -> str:
    """The manual channel's ready-to-send folder: text, attachment, recipient, instructions."""
    rel = Path("outbox") / str(row.case_id) / row.idempotency_key[:16]
    folder = workspace.media_dir / rel
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "message.txt").write_text(f"{row.subject}\n\n{row.body}", encoding="utf-8")
    (folder / "recipient.json").write_text(
        json.dumps(
            {
                "case": number,
                "recipient": row.recipient_key,
                "name": row.recipient_name,
                "contacts": row.address,
                "message_id": row.message_id,
                "attachment": Path(row.attachment_path).name if row.attachment_path else None,
            },
            ensure_ascii=False,
            indent=2,
        ),
        encoding="utf-8",
    )
    (folder / "README.txt").write_text(
        f"Send message.txt{' and the attached picture' if row.attachment_path else ''} to "
        f"{row.recipient_name or row.recipient_key} ({row.address or 'see the profile'}) by "
        "hand.\nThen record it:\n"
        f"  nextofkin notify mark-sent {number} --to {row.recipient_key.removeprefix('account:')}"
        "\nSend it once only. If in doubt whether it went out, ask before sending again.\n",
        encoding="utf-8",
    )
    return rel.as_posix()


def _approve(
    session: Session, workspace: Workspace, user: str, case: Case, row: OutboxMessage
) -> None:
    number = case.number
    _check_binding(session, case, row)
    row.state = OutboxState.APPROVED.value
    row.approved_by = user
    row.approved_at = row.updated_at = utcnow()
    if row.channel == Channel.MANUAL.value:
        row.package_dir = _write_package(workspace, number, row)
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
        _identified(session, case)
        recover_abandoned(session)
        rows = session.scalars(
            select(OutboxMessage).where(OutboxMessage.case_id == case.id).order_by(OutboxMessage.id)
        ).all()
        wanted = (
            {f"account:{resolve_account(session, r)[1]}" for r in recipients}
            if recipients
            else None
        )
        if wanted is not None:
            missing = wanted - {r.recipient_key for r in rows}
            if missing:
                raise InputError(f"no draft for {', '.join(sorted(missing))}: draft it first")
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
        return f"already sent {row.sent_at:%Y-%m-%d %H:%M} UTC by {row.sent_by}: nothing sent"
    if state is OutboxState.SENDING:
        return "being sent by another process right now: nothing sent"
    if state is OutboxState.UNCERTAIN:
        return f"NOT re-sent: delivery uncertain ({row.last_error}); a person must check"
    if state is OutboxState.APPROVED and row.channel == Channel.MANUAL.value:
        # The full path: the stored one is relative to the workspace's media folder, which is
        # not where a person's shell is.
        return f"ready to send by hand: {workspace.media_dir / str(row.package_dir)}"
    if state is OutboxState.FAILED:
        return f"failed: {row.last_error}; fix and re-draft, or `notify release`"
    if state is OutboxState.VOID:
        return (
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
        with workspace.session() as session:
            row = session.get_one(OutboxMessage, row_id)
            message = _outgoing(workspace, number, row)
            # Serialise with review decisions on this case (row lock on PostgreSQL).
            session.execute(select(Case.id).where(Case.id == row.case_id).with_for_update())
            claimed = session.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == row_id,
                    OutboxMessage.state == OutboxState.APPROVED.value,
                    _bound_to_current(row.case_id),
                )
                .values(
                    state=OutboxState.SENDING.value,
                    owner=_owner_token(),
                    sending_since=utcnow(),
                    attempts=OutboxMessage.attempts + 1,
                    updated_at=utcnow(),
                )
            ).rowcount  # type: ignore[attr-defined]
            if claimed != 1:
                session.refresh(row)
                note = _note(row, workspace)
                if OutboxState(row.state) is OutboxState.APPROVED:
                    note = (
                        "NOT sent: the identification it was written for is no longer the "
                        "case's current one; re-draft"
                    )
                return SendOutcome(row.recipient_key, OutboxState(row.state), False, note)
            session.refresh(row)
            audit.record(
                session,
                user,
                audit.Action.NOTIFY_SENDING,
                f"case:{number}",
                {"recipient": row.recipient_key, "attempt": row.attempts, "to": row.address},
                case=number,
            )
            attempt = row.attempts
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
                "to": row.address,
                "message_id": row.message_id,
                "detail": detail,
            },
            case=number,
        )
        case = get_case(session, number)
        if CaseState(case.state) is CaseState.IDENTIFIED:
            transition(session, case, CaseState.NOTIFIED, user, f"message to {row.recipient_key}")
        return SendOutcome(row.recipient_key, OutboxState.SENT, True, f"sent to {row.address}")


def _row_for(session: Session, number: str, recipient: str) -> tuple[Case, OutboxMessage]:
    case = get_case(session, number)
    _, key_ref = resolve_account(session, recipient)
    row = session.scalars(
        select(OutboxMessage).where(
            OutboxMessage.case_id == case.id, OutboxMessage.recipient_key == f"account:{key_ref}"
        )
    ).one_or_none()
    if row is None:
        raise NotFound(f"no message to {key_ref} for case {number}")
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
            raise PolicyViolation(f"already recorded as sent {row.sent_at:%Y-%m-%d %H:%M} UTC")
        if not (manual_ready or state is OutboxState.UNCERTAIN):
            raise PolicyViolation(
                f"the message is {state.value}: only an approved manual message or an uncertain "
                "one can be marked sent"
            )
        if manual_ready:
            _check_binding(session, case, row)
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
        raise InputError("say how you know the message did not arrive: --reason TEXT")
    with workspace.session() as session:
        user = require(session, actor, Permission.SEND).name
        case, row = _row_for(session, number, recipient)
        state = OutboxState(row.state)
        if state not in (OutboxState.UNCERTAIN, OutboxState.FAILED):
            raise PolicyViolation(f"the message is {state.value}: only uncertain or failed ones")
        _check_binding(session, case, row)
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
        return _info(number, row)


def outbox(session: Session, actor: str | None, number: str | None = None) -> list[MessageInfo]:
    """Messages of one case or of all cases (abandoned `sending` claims flagged first)."""
    require(session, actor, Permission.VIEW)
    recover_abandoned(session)
    query = select(OutboxMessage, Case.number).join(Case, Case.id == OutboxMessage.case_id)
    if number is not None:
        query = query.where(Case.number == number)
    return [_info(n, row) for row, n in session.execute(query.order_by(OutboxMessage.id))]
