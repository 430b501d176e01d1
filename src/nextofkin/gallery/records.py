"""Tables of the gallery: sources, accounts, photos (postings), images (content), faces, roles.

An *image* is one distinct file content (by SHA-256): identical files are stored and processed
once. A *photo* is a posting of an image by an account in a source. A *face* belongs to an image;
its role (owner / companion) belongs to the pair (account, face), because the same joint photo can
show the owner of one account and a companion of another.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
from sqlalchemy import (
    JSON,
    Boolean,
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

from nextofkin.db import Base, Float32Vector, UTCDateTime, utcnow


class PhotoStatus(StrEnum):
    """Where a photo is in the ingest."""

    PENDING = "pending"
    DONE = "done"
    FAILED = "failed"


class FaceRole(StrEnum):
    """Whose face this is, from the point of view of one account."""

    OWNER = "owner"
    COMPANION = "companion"
    UNKNOWN = "unknown"


class Source(Base):
    """One gallery export (an ingest root)."""

    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    root: Mapped[str] = mapped_column(Text)
    layout: Mapped[str] = mapped_column(String(20))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    accounts: Mapped[list[Account]] = relationship(back_populates="source")


class Account(Base):
    """A social-media profile in a source.

    An account with a ``platform`` lives in the source named after that platform and is unique
    by (platform, external id): the same VK user read through two tools is one account
    (docs/FORMATS.md, "Platform accounts"). Its photos keep the source of the export they came
    from.
    """

    __tablename__ = "accounts"
    __table_args__ = (
        UniqueConstraint("source_id", "external_id"),
        Index("uq_accounts_platform_external_id", "platform", "external_id", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    external_id: Mapped[str] = mapped_column(String(300))
    platform: Mapped[str | None] = mapped_column(String(40))
    name: Mapped[str | None] = mapped_column(String(300))
    url: Mapped[str | None] = mapped_column(Text)
    city: Mapped[str | None] = mapped_column(String(200))
    contacts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    friends: Mapped[list[str]] = mapped_column(JSON, default=list)
    # [{"account": "<external id on the same platform>", "type": "<VK relative type|partner>"}]
    relatives: Mapped[list[dict[str, str]]] = mapped_column(
        JSON, default=list, server_default=text("'[]'")
    )
    extra: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    profile_photo: Mapped[str | None] = mapped_column(Text)
    roles_dirty: Mapped[bool] = mapped_column(Boolean, default=True)

    source: Mapped[Source] = relationship(back_populates="accounts")
    photos: Mapped[list[Photo]] = relationship(back_populates="account")


class Image(Base):
    """One distinct file content, processed once however many times it is posted."""

    __tablename__ = "images"

    id: Mapped[int] = mapped_column(primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)  # absolute path of the first posting seen
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    size_bytes: Mapped[int] = mapped_column(Integer)
    detector: Mapped[str] = mapped_column(String(50))
    tried: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    faces: Mapped[list[Face]] = relationship(back_populates="image", cascade="all, delete-orphan")


class Photo(Base):
    """A posting of an image by an account."""

    __tablename__ = "photos"
    __table_args__ = (
        UniqueConstraint("account_id", "rel_path"),
        Index("ix_photos_status", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    rel_path: Mapped[str] = mapped_column(Text)
    kind: Mapped[str] = mapped_column(String(20), default="post")
    caption: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[str | None] = mapped_column(String(40))
    # Items: an account id (str), {"account", "x", "y"} (0..1) or {"account", "box"} (pixels);
    # read them with gallery.tags.parse_tags.
    tagged: Mapped[list[str | dict[str, Any]]] = mapped_column(JSON, default=list)
    post_url: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=PhotoStatus.PENDING)
    error: Mapped[str | None] = mapped_column(Text)
    image_id: Mapped[int | None] = mapped_column(
        ForeignKey("images.id", ondelete="SET NULL"), index=True
    )

    account: Mapped[Account] = relationship(back_populates="photos")
    image: Mapped[Image | None] = relationship()


class Face(Base):
    """A face found in an image, with its vector and the model that made it."""

    __tablename__ = "faces"
    __table_args__ = (UniqueConstraint("image_id", "ordinal", "model"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    image_id: Mapped[int] = mapped_column(ForeignKey("images.id", ondelete="CASCADE"), index=True)
    ordinal: Mapped[int] = mapped_column(Integer)
    left: Mapped[float] = mapped_column(Float)
    top: Mapped[float] = mapped_column(Float)
    right: Mapped[float] = mapped_column(Float)
    bottom: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list[list[float]]] = mapped_column(JSON)
    detection_score: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    quality_parts: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    rotation: Mapped[int] = mapped_column(Integer, default=0)
    model: Mapped[str] = mapped_column(String(50))
    alignment: Mapped[str] = mapped_column(String(50))
    embedding: Mapped[np.ndarray] = mapped_column(Float32Vector)

    image: Mapped[Image] = relationship(back_populates="faces")

    @property
    def box(self) -> list[float]:
        """The face box as ``[left, top, right, bottom]``."""
        return [self.left, self.top, self.right, self.bottom]


class FaceRoleRecord(Base):
    """Whether a face is an account's owner or a companion, as owner resolution decided."""

    __tablename__ = "face_roles"

    account_id: Mapped[int] = mapped_column(
        ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    role: Mapped[str] = mapped_column(String(12))
    confidence: Mapped[float] = mapped_column(Float)
    cluster: Mapped[int] = mapped_column(Integer)


class IngestError(Base):
    """A per-item problem found while reading an export (bad manifest line, bad path)."""

    __tablename__ = "ingest_errors"
    __table_args__ = (UniqueConstraint("source_id", "item"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    item: Mapped[str] = mapped_column(Text)
    message: Mapped[str] = mapped_column(Text)
