"""The outbox's vocabulary: channels, states and the typed records the notify services hand out.

Kept apart from the services so that the web and CLI layers (and the case report) can name a
message's state without importing the delivery machinery.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from nextofkin.notify.records import OutboxMessage
from nextofkin.notify.smtp import DeliveryReceipt, OutgoingMessage


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


@dataclass(frozen=True)
class KinPick:
    """A relative the kin engine found, proposed as a recipient."""

    ref: str
    name: str | None
    relation: str
    score: float
    reasons: list[str]


def idempotency_key(case_number: str, recipient_key: str) -> str:
    """The one key of the message for (case, recipient): the same inputs, the same key."""
    return hashlib.sha256(f"nextofkin\0{case_number}\0{recipient_key}".encode()).hexdigest()


def message_id(key: str, sender: str) -> str:
    """A Message-ID derived from the idempotency key (so a duplicate would carry the same one)."""
    domain = sender.rpartition("@")[2].strip("<> ") or "nextofkin.invalid"
    return f"<{key[:40]}@{domain}>"


def message_info(case_number: str, row: OutboxMessage) -> MessageInfo:
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
