"""The API tokens table: a bearer token per user for scripts and integrations.

Only the SHA-256 of a token is stored; the token itself is shown once, when it is made. Tokens name
their user by name (no foreign key), like the audit log, so this table's migration does not depend
on the order in which the users table's branch is applied.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from nextofkin.db import Base, UTCDateTime, utcnow


class ApiToken(Base):
    """One bearer token of one user."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100), index=True)
    label: Mapped[str] = mapped_column(String(200))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(
        String(12)
    )  # shown in lists so a person can tell them apart
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
