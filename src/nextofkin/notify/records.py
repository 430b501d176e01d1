"""The outbox: one row per (case, recipient), which is also the idempotency record."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from nextofkin.db import Base, UTCDateTime, utcnow


class OutboxMessage(Base):
    """A message to one family member about one case, from draft to sent.

    The unique (case, recipient) pair and the unique idempotency key make a second message for the
    same case and recipient impossible at the database level, whatever the code above does.
    """

    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("case_id", "recipient_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    recipient_key: Mapped[str] = mapped_column(String(400))
    account_id: Mapped[int | None] = mapped_column(Integer)
    # What the message was written for: the identification, and the newest review decision of
    # the case at drafting time. A later decision voids the message; the send claim and a
    # database trigger both refuse a message whose binding is no longer current.
    identification_id: Mapped[int | None] = mapped_column(
        ForeignKey("case_identifications.id"), index=True
    )
    decision_id: Mapped[int | None] = mapped_column(Integer)
    # A letter to a family's inquirer is bound instead to the confirmed inquiry link and the
    # newest link decision of the case (migration 0015: the same triggers, for links).
    inquiry_link_id: Mapped[int | None] = mapped_column(ForeignKey("inquiry_links.id"), index=True)
    link_decision_id: Mapped[int | None] = mapped_column(Integer)
    recipient_name: Mapped[str | None] = mapped_column(Text)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    message_id: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(10))
    address: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str] = mapped_column(String(5))
    attach: Mapped[str] = mapped_column(String(10))
    subject: Mapped[str] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    body_sha256: Mapped[str] = mapped_column(String(64))
    attachment_path: Mapped[str | None] = mapped_column(Text)  # relative to the media directory
    attachment_sha256: Mapped[str | None] = mapped_column(String(64))
    package_dir: Mapped[str | None] = mapped_column(Text)  # manual channel, relative to media
    state: Mapped[str] = mapped_column(String(12), index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text)
    owner: Mapped[str | None] = mapped_column(String(200))  # host:pid holding a `sending` claim
    drafted_by: Mapped[str] = mapped_column(String(100))
    drafted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    approved_by: Mapped[str | None] = mapped_column(String(100))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sending_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_by: Mapped[str | None] = mapped_column(String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
