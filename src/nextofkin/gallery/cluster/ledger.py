"""The shard ledger: which Parquet shards of a cluster ingest are loaded into the records."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from nextofkin.db import Base, UTCDateTime, utcnow


class ClusterShard(Base):
    """One loaded shard. Written in the same transaction as the shard's rows (migration 0016)."""

    __tablename__ = "cluster_shards"

    shard: Mapped[str] = mapped_column(String(64), primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"), index=True)
    images: Mapped[int] = mapped_column(Integer)
    faces: Mapped[int] = mapped_column(Integer)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
