"""cases: standing searches and alerts (issue 16)

Placeholder reserved so that work in parallel keeps one migration head; the owning change fills
it in (tables, indexes, triggers) and rewrites this docstring.

Revision ID: 0014_standing
Revises: 0013_platform
Create Date: 2026-12-02 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0014_standing"
down_revision: str | Sequence[str] | None = "0013_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
