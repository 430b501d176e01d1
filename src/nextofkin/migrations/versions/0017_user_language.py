"""users: each user's language for the web UI (issue 18)

``users.language`` holds ``uk``, ``en`` or ``ru``, or NULL for "follow the browser's
Accept-Language" (nextofkin.i18n.negotiate). A plain added column: a batch rebuild on SQLite
would drop the triggers of the tables around it.

Revision ID: 0017_user_language
Revises: 0016_cluster_shards
Create Date: 2026-12-02 09:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017_user_language"
down_revision: str | Sequence[str] | None = "0016_cluster_shards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("users", sa.Column("language", sa.String(8), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "language")
