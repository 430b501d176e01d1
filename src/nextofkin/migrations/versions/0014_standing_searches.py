"""cases: standing searches and alerts (issue 16)

Adds ``case_probes`` (per searchable case: the fused probe vector of its last search, the
watermark of gallery faces already compared, the best candidate's FPIR so far) and
``case_alerts`` (one row per case and account a rescan found worth a look). Triggers hold the
alert promises in the database itself:

* no alert for a case that is closed, identified or notified (it is not searched any more);
* no alert citing a face that is not in the gallery (a purged face is never alerted);
* an acknowledged alert stays acknowledged, by the user who acknowledged it;

and a unique constraint allows one alert per (case, account).

Revision ID: 0014_standing
Revises: 0013_platform
Create Date: 2026-12-02 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nextofkin.db

revision: str = "0014_standing"
down_revision: str | Sequence[str] | None = "0013_platform"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, timing, condition on OLD/NEW, message): refusals, as in 0011's guards.
GUARDS = [
    (
        "alert_only_searchable_case",
        "INSERT",
        "EXISTS (SELECT 1 FROM cases c WHERE c.id = NEW.case_id"
        " AND c.state IN ('closed', 'identified', 'notified'))",
        "a closed or identified case is never alerted",
    ),
    (
        "alert_only_gallery_face",
        "INSERT",
        "NOT EXISTS (SELECT 1 FROM faces f WHERE f.id = NEW.face_id)",
        "an alert cites a face of the gallery (a purged face is never alerted)",
    ),
    (
        "alert_acknowledged_final",
        "UPDATE",
        "OLD.state = 'acknowledged' AND (NEW.state <> 'acknowledged'"
        " OR NEW.acknowledged_by <> OLD.acknowledged_by OR NEW.case_id <> OLD.case_id"
        " OR NEW.account_id <> OLD.account_id)",
        "an acknowledged alert stays acknowledged",
    ),
]


def _create_guard(dialect: str, name: str, timing: str, cond: str, msg: str) -> None:
    if dialect == "sqlite":
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {timing} ON case_alerts FOR EACH ROW WHEN {cond} "
            f"BEGIN SELECT RAISE(ABORT, '{msg}'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN IF {cond} THEN "
            f"RAISE EXCEPTION '{msg}'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {timing} ON case_alerts FOR EACH ROW "
            f"EXECUTE FUNCTION {name}_fn()"
        )


def upgrade() -> None:
    op.create_table(
        "case_probes",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("search_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=100), nullable=False),
        sa.Column("vector", nextofkin.db.Float32Vector(), nullable=False),
        sa.Column("watermark", sa.Integer(), nullable=False),
        sa.Column("best_fpir", sa.Float(), nullable=True),
        sa.Column("best_account_id", sa.Integer(), nullable=True),
        sa.Column("presented", sa.JSON(), nullable=False),
        sa.Column("updated_at", nextofkin.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_probes_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["case_searches.id"],
            name=op.f("fk_case_probes_search_id_case_searches"),
        ),
        sa.PrimaryKeyConstraint("case_id", name=op.f("pk_case_probes")),
    )
    _create_alerts()
    dialect = op.get_bind().dialect.name
    for name, timing, cond, msg in GUARDS:
        _create_guard(dialect, name, timing, cond, msg)


def _create_alerts() -> None:
    op.create_table(
        "case_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("account_ref", sa.String(length=400), nullable=False),
        sa.Column("face_id", sa.Integer(), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("similarity", sa.Float(), nullable=False),
        sa.Column("fpir", sa.Float(), nullable=False),
        sa.Column("decision", sa.String(length=12), nullable=False),
        sa.Column("meaning", sa.Text(), nullable=False),
        sa.Column("reason", sa.String(length=12), nullable=False),
        sa.Column("previous_best_fpir", sa.Float(), nullable=True),
        sa.Column("gallery_accounts", sa.Integer(), nullable=False),
        sa.Column("raised_at", nextofkin.db.UTCDateTime(), nullable=False),
        sa.Column("raised_by", sa.String(length=100), nullable=False),
        sa.Column("state", sa.String(length=14), nullable=False),
        sa.Column("acknowledged_by", sa.String(length=100), nullable=True),
        sa.Column("acknowledged_at", nextofkin.db.UTCDateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("mailed_at", nextofkin.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint("state IN ('open', 'acknowledged')", name=op.f("ck_case_alerts_state")),
        sa.CheckConstraint("reason IN ('possible', 'beats')", name=op.f("ck_case_alerts_reason")),
        sa.CheckConstraint(
            "state = 'open' OR (acknowledged_by IS NOT NULL AND acknowledged_at IS NOT NULL)",
            name=op.f("ck_case_alerts_acknowledged_named"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_alerts_case_id_cases")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_alerts")),
        sa.UniqueConstraint("case_id", "account_id", name="uq_case_alerts_case_account"),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_case_alerts_case_id", "case_alerts", ["case_id"], unique=False)
    op.create_index("ix_case_alerts_state", "case_alerts", ["state"], unique=False)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, _timing, _cond, _msg in GUARDS:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON case_alerts")
            op.execute(f"DROP FUNCTION IF EXISTS {name}_fn()")
    op.drop_index("ix_case_alerts_state", table_name="case_alerts")
    op.drop_index("ix_case_alerts_case_id", table_name="case_alerts")
    op.drop_table("case_alerts")
    op.drop_table("case_probes")
