"""gallery: cluster ingest shard ledger (issue 14)

``cluster_shards`` records every Parquet shard of a cluster ingest (``nextofkin ingest
--engine ray``) that has been loaded into the records. The loader inserts a shard's row in the
same transaction as the shard's images, faces and postings, so a shard is either wholly loaded
and listed here, or not at all; a resumed run skips the listed ones and redoes the rest whole.
The shard's name is the key (a content hash of its images), so no id is assigned by the
database.

Revision ID: 0016_cluster_shards
Revises: 0015_inquiries
Create Date: 2026-12-02 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016_cluster_shards"
down_revision: str | Sequence[str] | None = "0015_inquiries"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "cluster_shards",
        sa.Column("shard", sa.String(length=64), primary_key=True),
        sa.Column(
            "source_id",
            sa.Integer(),
            sa.ForeignKey("sources.id", ondelete="CASCADE"),
            nullable=False,
            index=True,
        ),
        sa.Column("images", sa.Integer(), nullable=False),
        sa.Column("faces", sa.Integer(), nullable=False),
        sa.Column("loaded_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("cluster_shards")
