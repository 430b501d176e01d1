"""Tables of standing searches: each searchable case's probe vector, and the alerts rescans raise.

A case's probe is kept as the fused vector its last search used, with a *watermark*: the highest
gallery face id already compared against it. A rescan compares only faces above the watermark, so
its cost grows with what an ingest added, not with the gallery.

An alert is unique per (case, account) and goes ``open`` → ``acknowledged`` only, by a named user.
The database holds those promises (migration ``0014_standing``): a unique constraint, and triggers
that refuse an alert for a closed or identified case, an alert citing a face that is not in the
gallery (purged), and an acknowledged alert going back to open. Alerts point at accounts by id and
readable reference without a foreign key, as decisions do: a purge must not erase what was raised.
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
from sqlalchemy import (
    JSON,
    CheckConstraint,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from nextofkin.db import Base, Float32Vector, UTCDateTime, utcnow


class CaseProbe(Base):
    """The standing search of one case: its probe vector and how far the gallery was compared."""

    __tablename__ = "case_probes"

    case_id: Mapped[int] = mapped_column(
        ForeignKey("cases.id"), primary_key=True, autoincrement=False
    )
    search_id: Mapped[int] = mapped_column(ForeignKey("case_searches.id"))
    model: Mapped[str] = mapped_column(String(100))
    vector: Mapped[np.ndarray] = mapped_column(Float32Vector)
    # The highest gallery face id compared with this probe (the search's index, then rescans).
    watermark: Mapped[int] = mapped_column(Integer, default=0)
    # The case's best candidate so far, as the false-positive identification rate (FPIR) its
    # score meant when it was found: FPIRs stay comparable when a recalibration moves scores.
    best_fpir: Mapped[float | None] = mapped_column(Float)
    best_account_id: Mapped[int | None] = mapped_column(Integer)
    # Accounts the search already showed at `possible` or better: not news, not alerted again.
    presented: Mapped[list[int]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CaseAlert(Base):
    """A rescan found an account worth a reviewer's look for a case."""

    __tablename__ = "case_alerts"
    __table_args__ = (
        UniqueConstraint("case_id", "account_id", name="uq_case_alerts_case_account"),
        CheckConstraint("state IN ('open', 'acknowledged')", name="state"),
        CheckConstraint("reason IN ('possible', 'beats')", name="reason"),
        CheckConstraint(
            "state = 'open' OR (acknowledged_by IS NOT NULL AND acknowledged_at IS NOT NULL)",
            name="acknowledged_named",
        ),
        {"sqlite_autoincrement": True},
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    account_id: Mapped[int] = mapped_column(Integer)
    account_ref: Mapped[str] = mapped_column(String(400))
    face_id: Mapped[int] = mapped_column(Integer)
    score: Mapped[float] = mapped_column(Float)
    similarity: Mapped[float] = mapped_column(Float)
    fpir: Mapped[float] = mapped_column(Float)
    decision: Mapped[str] = mapped_column(String(12))
    meaning: Mapped[str] = mapped_column(Text)
    reason: Mapped[str] = mapped_column(String(12))
    previous_best_fpir: Mapped[float | None] = mapped_column(Float)
    gallery_accounts: Mapped[int] = mapped_column(Integer)
    raised_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    raised_by: Mapped[str] = mapped_column(String(100))
    state: Mapped[str] = mapped_column(String(14), default="open", index=True)
    acknowledged_by: Mapped[str | None] = mapped_column(String(100))
    acknowledged_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    note: Mapped[str | None] = mapped_column(Text)
    mailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
