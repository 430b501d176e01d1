"""Tables of the audit log: the entries, and the head (last sequence number and hash).

The head row lets appends serialise on one row lock and lets ``verify`` notice entries deleted from
the end of the log, which the chain alone cannot show.
"""

from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from nextofkin.db import Base


class AuditEntry(Base):
    """One recorded action. Never updated or deleted (database triggers refuse both)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    # ISO-8601 UTC text, exactly as hashed: a timestamp type could round it differently on re-read.
    at: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str | None] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(50), index=True)
    subject: Mapped[str] = mapped_column(String(400))
    case_number: Mapped[str | None] = mapped_column(String(100), index=True)
    details: Mapped[str] = mapped_column(Text)  # canonical JSON
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64), unique=True)


class AuditHead(Base):
    """The single row (id 1) naming the newest entry."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[str] = mapped_column(String(64))
