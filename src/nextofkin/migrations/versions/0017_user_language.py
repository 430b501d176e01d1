"""users: each user's language for the web UI (issue 18)

Placeholder reserved so that work in parallel keeps one migration head; the owning change fills
it in and rewrites this docstring.

Revision ID: 0017_user_language
Revises: 0016_cluster_shards
Create Date: 2026-12-02 09:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0017_user_language"
down_revision: str | Sequence[str] | None = "0016_cluster_shards"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
