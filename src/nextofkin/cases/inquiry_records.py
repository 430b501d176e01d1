"""Tables of missing-person inquiries: a family's report, its photos and faces, the faces of
cases' post-mortem photos they are matched against, and the links found between the two.

They sit with the case tables (the case report lists a case's links); the services that fill
them live in :mod:`nextofkin.inquiries`. An inquiry's rows are deleted by its purge (a family may
withdraw); links reference cases by key, and a case is never deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
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
from sqlalchemy.orm import Mapped, mapped_column

from nextofkin.db import Base, Float32Vector, UTCDateTime, utcnow

LINK_STATES = ("proposed", "confirmed", "rejected", "withdrawn")


class Inquiry(Base):
    """A family's report of a missing person, recorded by an intake user with consent."""

    __tablename__ = "inquiries"
    __table_args__ = (
        # Processing a family's data and photos needs their consent: the row cannot exist without.
        CheckConstraint("consent", name="consent"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    missing_name: Mapped[str] = mapped_column(Text)
    missing_birth_date: Mapped[str | None] = mapped_column(String(10))
    last_seen_place: Mapped[str | None] = mapped_column(Text)
    last_seen_date: Mapped[str | None] = mapped_column(String(10))
    marks: Mapped[str | None] = mapped_column(Text)
    inquirer_name: Mapped[str] = mapped_column(Text)
    inquirer_relation: Mapped[str] = mapped_column(String(100))
    inquirer_email: Mapped[str | None] = mapped_column(Text)
    inquirer_phone: Mapped[str | None] = mapped_column(String(100))
    consent: Mapped[bool] = mapped_column(Boolean)
    consent_note: Mapped[str | None] = mapped_column(Text)  # how consent was given, as recorded
    filed_by: Mapped[str] = mapped_column(String(100), index=True)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InquiryPhoto(Base):
    """A photo of the missing person, given by the family, copied into the workspace."""

    __tablename__ = "inquiry_photos"
    __table_args__ = (UniqueConstraint("inquiry_id", "sha256"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(
        ForeignKey("inquiries.id", ondelete="CASCADE"), index=True
    )
    ordinal: Mapped[int] = mapped_column(Integer)
    stored_path: Mapped[str] = mapped_column(Text)  # relative to the workspace media directory
    original_name: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    # The face used from this photo (None: none found, ``error`` says why).
    box: Mapped[list[int] | None] = mapped_column(JSON)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    quality: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(100))
    embedding: Mapped[np.ndarray | None] = mapped_column(Float32Vector)
    error: Mapped[str | None] = mapped_column(Text)
    added_by: Mapped[str] = mapped_column(String(100))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseProbeFace(Base):
    """The probe-face index: the face used from each post-mortem photo of a case.

    Kept beside the gallery's index so that inquiries can be searched against every case; one
    row per case photo, written the first time a sweep sees the photo (``error`` when it has no
    usable face, so it is not analysed again).
    """

    __tablename__ = "case_probe_faces"
    __table_args__ = (UniqueConstraint("case_photo_id"), {"sqlite_autoincrement": True})

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_photo_id: Mapped[int] = mapped_column(ForeignKey("case_photos.id"))
    box: Mapped[list[int] | None] = mapped_column(JSON)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    quality: Mapped[float | None] = mapped_column(Float)
    model: Mapped[str | None] = mapped_column(String(100))
    embedding: Mapped[np.ndarray | None] = mapped_column(Float32Vector)
    error: Mapped[str | None] = mapped_column(Text)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InquiryLink(Base):
    """A hit: this inquiry's person may be this case's body, for reviewers to confirm or reject.

    The partial unique indexes allow at most one ``confirmed`` link per case (one body, one
    family's person) and per inquiry, in the database itself. Messages to the inquirer point at
    the link and the newest link decision they were written under (``outbox.inquiry_link_id``).
    """

    __tablename__ = "inquiry_links"
    __table_args__ = (
        UniqueConstraint("inquiry_id", "case_id"),
        Index(
            "uq_inquiry_links_case_confirmed",
            "case_id",
            unique=True,
            sqlite_where=text("state = 'confirmed'"),
            postgresql_where=text("state = 'confirmed'"),
        ),
        Index(
            "uq_inquiry_links_inquiry_confirmed",
            "inquiry_id",
            unique=True,
            sqlite_where=text("state = 'confirmed'"),
            postgresql_where=text("state = 'confirmed'"),
        ),
        CheckConstraint(
            "state IN ('proposed', 'confirmed', 'rejected', 'withdrawn')", name="state"
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    inquiry_id: Mapped[int] = mapped_column(
        ForeignKey("inquiries.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    state: Mapped[str] = mapped_column(String(12))
    score: Mapped[float] = mapped_column(Float)  # cosine similarity of the fused faces
    fpir: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(20))  # match | possible
    meaning: Mapped[str] = mapped_column(Text)
    evidence: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    found_by: Mapped[str] = mapped_column(String(100))
    found_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision_id: Mapped[int | None] = mapped_column(Integer)  # the decision that confirmed it
    reviewers: Mapped[list[str]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class InquiryLinkDecision(Base):
    """A reviewer's confirmation or rejection of one link."""

    __tablename__ = "inquiry_link_decisions"
    __table_args__ = (
        CheckConstraint("decision IN ('confirm', 'reject')", name="decision"),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    link_id: Mapped[int] = mapped_column(
        ForeignKey("inquiry_links.id", ondelete="CASCADE"), index=True
    )
    case_id: Mapped[int] = mapped_column(Integer, index=True)
    decision: Mapped[str] = mapped_column(String(10))
    reviewer: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str | None] = mapped_column(Text)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The confirmed identification this confirmation states names the same person (0018).
    corroborates_identification_id: Mapped[int | None] = mapped_column(Integer)
