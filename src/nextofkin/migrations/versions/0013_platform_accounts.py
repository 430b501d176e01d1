"""gallery: platform accounts, declared relatives, post URLs (issue 13)

Adds ``accounts.platform`` ("vk", "instagram", "telegram", ...; NULL for accounts of a folder or
manifest export that names none), ``accounts.relatives`` (``[{"account", "type"}]``, the
relatives the platform declares) and ``photos.post_url``. A unique index on
``(platform, external_id)`` holds the identity of a platform account: the same VK user read
through two tools is one row (NULL platforms are distinct, so platform-less accounts stay
unique per source only). ``photos.tagged`` keeps its type; its items may now be objects
(``{"account", "x", "y"}`` or ``{"account", "box"}``) beside plain account ids.

This revision also merges the three heads 0008, 0009 and 0011 into one.

Plain ADD COLUMN (no batch rebuild): rebuilding a table on SQLite would drop its triggers.

Revision ID: 0013_platform
Revises: 0008_ids, 0009_web_sessions, 0011_identifications
Create Date: 2026-12-03 09:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_platform"
down_revision: str | Sequence[str] | None = (
    "0008_ids",
    "0009_web_sessions",
    "0011_identifications",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("accounts", sa.Column("platform", sa.String(length=40), nullable=True))
    op.add_column(
        "accounts",
        sa.Column("relatives", sa.JSON(), nullable=False, server_default=sa.text("'[]'")),
    )
    op.add_column("photos", sa.Column("post_url", sa.Text(), nullable=True))
    op.create_index(
        "uq_accounts_platform_external_id", "accounts", ["platform", "external_id"], unique=True
    )


def downgrade() -> None:
    op.drop_index("uq_accounts_platform_external_id", table_name="accounts")
    op.drop_column("photos", "post_url")
    op.drop_column("accounts", "relatives")
    op.drop_column("accounts", "platform")
