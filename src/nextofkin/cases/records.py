"""Tables of cases: the case, its probe photos, its searches and the reviewers' decisions.

Rows here point at gallery accounts by id *and* by a readable reference (``source/external-id``)
without a foreign key: purging an account's biometric data must not erase the record of what was
decided about it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from nextofkin.db import Base, UTCDateTime, utcnow


class Case(Base):
    """One unidentified person, known by the team's case number."""

    __tablename__ = "cases"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(100), unique=True)
    state: Mapped[str] = mapped_column(String(20), index=True)
    found_at: Mapped[str | None] = mapped_column(String(40))  # ISO date or date-time, as given
    place: Mapped[str | None] = mapped_column(Text)
    notes: Mapped[str | None] = mapped_column(Text)
    opened_by: Mapped[str] = mapped_column(String(100))
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    identified_account_id: Mapped[int | None] = mapped_column(Integer)
    identified_ref: Mapped[str | None] = mapped_column(String(400))
    closed_reason: Mapped[str | None] = mapped_column(Text)

    photos: Mapped[list[CasePhoto]] = relationship(
        back_populates="case", order_by="CasePhoto.ordinal"
    )
    searches: Mapped[list[CaseSearch]] = relationship(
        back_populates="case", order_by="CaseSearch.id"
    )
    decisions: Mapped[list[CaseDecision]] = relationship(
        back_populates="case", order_by="CaseDecision.id"
    )


class CasePhoto(Base):
    """A post-mortem photo, copied into the workspace with its SHA-256 (chain of custody)."""

    __tablename__ = "case_photos"
    __table_args__ = (UniqueConstraint("case_id", "sha256"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    stored_path: Mapped[str] = mapped_column(Text)  # relative to the workspace media directory
    original_name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    case: Mapped[Case] = relationship(back_populates="photos")


class CaseSearch(Base):
    """One search run for a case: who ran it, when, with what, and the ranked candidates."""

    __tablename__ = "case_searches"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    run_by: Mapped[str] = mapped_column(String(100))
    run_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    model: Mapped[str | None] = mapped_column(String(100))
    gallery_size: Mapped[int | None] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    probe_faces: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)

    case: Mapped[Case] = relationship(back_populates="searches")


class CaseDecision(Base):
    """A reviewer's confirmation or rejection of one candidate."""

    __tablename__ = "case_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    search_id: Mapped[int | None] = mapped_column(ForeignKey("case_searches.id"))
    account_id: Mapped[int | None] = mapped_column(Integer)
    account_ref: Mapped[str] = mapped_column(String(400))
    decision: Mapped[str] = mapped_column(String(10))  # confirm | reject
    reviewer: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    candidate_decision: Mapped[str | None] = mapped_column(String(20))
    score: Mapped[float | None] = mapped_column(Float)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The confirmed inquiry link this confirmation states names the same person (0018).
    corroborates_link_id: Mapped[int | None] = mapped_column(Integer)

    case: Mapped[Case] = relationship(back_populates="decisions")


class Identification(Base):
    """Who a case's body was identified as: one row per identification, current or withdrawn.

    The partial unique index allows at most one ``confirmed`` row per case in the database itself,
    so no code path can leave a body with two identities. Replacing an identification means
    withdrawing this one first (a recorded rejection), which keeps the old row as history.
    Messages to families point at the row they were written for (``outbox.identification_id``).
    """

    __tablename__ = "case_identifications"
    __table_args__ = (
        Index(
            "uq_case_identifications_current",
            "case_id",
            unique=True,
            sqlite_where=text("state = 'confirmed'"),
            postgresql_where=text("state = 'confirmed'"),
        ),
        CheckConstraint("state IN ('confirmed', 'withdrawn')", name="state"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    account_id: Mapped[int | None] = mapped_column(Integer)
    account_ref: Mapped[str] = mapped_column(String(400))
    state: Mapped[str] = mapped_column(String(12))  # confirmed | withdrawn
    # The decision that completed the confirmation, and the reviewers whose confirmations counted.
    decision_id: Mapped[int] = mapped_column(ForeignKey("case_decisions.id"))
    reviewers: Mapped[list[str]] = mapped_column(JSON, default=list)
    confirmed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    withdrawn_decision_id: Mapped[int | None] = mapped_column(ForeignKey("case_decisions.id"))
    withdrawn_by: Mapped[str | None] = mapped_column(String(100))
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
