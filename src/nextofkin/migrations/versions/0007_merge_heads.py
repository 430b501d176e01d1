"""merge the cases and web branches: one point later migrations start from

Revision ID: 0007_merge
Revises: 0002_cases, 0006_web
Create Date: 2026-12-02 06:20:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

revision: str = "0007_merge"
down_revision: str | Sequence[str] | None = ("0002_cases", "0006_web")
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to change: this revision only joins two branches."""


def downgrade() -> None:
    """Nothing to change."""
