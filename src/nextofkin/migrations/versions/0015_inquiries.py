"""cases: missing-person inquiries and their links to cases (issue 16)

Placeholder reserved so that work in parallel keeps one migration head; the owning change fills
it in (tables, indexes, triggers) and rewrites this docstring.

Revision ID: 0015_inquiries
Revises: 0014_standing
Create Date: 2026-12-02 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0015_inquiries"
down_revision: str | Sequence[str] | None = "0014_standing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
