"""cases: one current identification per case; messages bound to the identification they name

Adds ``case_identifications`` (a partial unique index: at most one ``confirmed`` row per case)
and binds each outbox row to the identification and the newest review decision it was written
for. Triggers keep the promise "never the wrong family" in the database itself:

* a new review decision voids every unsent message of the case (draft, approved, failed);
* a message can be approved, claimed for sending or marked sent only while its identification is
  the case's current one and no decision came after its draft;
* no decision is recorded once a message of the case may have reached a family (sending, sent,
  uncertain): that correction is made in person, not by the system;
* a withdrawn identification stays withdrawn, and identifications are never deleted.

Revision ID: 0011_identifications
Revises: 0007_merge
Create Date: 2026-12-02 06:40:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nextofkin.db

revision: str = "0011_identifications"
down_revision: str | Sequence[str] | None = "0007_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BINDING_STALE = (
    "(NEW.identification_id IS NULL"
    " OR NOT EXISTS (SELECT 1 FROM case_identifications i"
    "  WHERE i.id = NEW.identification_id AND i.state = 'confirmed')"
    " OR EXISTS (SELECT 1 FROM case_decisions d"
    "  WHERE d.case_id = NEW.case_id AND d.id > COALESCE(NEW.decision_id, 0)))"
)

# (name, table, timing, condition on OLD/NEW, message): refusals, as in 0002's guards.
GUARDS = [
    (
        "outbox_only_current_identification",
        "outbox",
        "UPDATE",
        "NEW.state IN ('approved', 'sending', 'sent') AND NEW.state <> OLD.state"
        f" AND OLD.state IN ('draft', 'approved', 'failed', 'void') AND {BINDING_STALE}",
        "a message is approved or sent only for the current identification of its case",
    ),
    (
        "decision_not_after_message",
        "case_decisions",
        "INSERT",
        "EXISTS (SELECT 1 FROM outbox o WHERE o.case_id = NEW.case_id"
        " AND o.state IN ('sending', 'sent', 'uncertain'))",
        "a message of this case may have reached a family: no further review decision",
    ),
    (
        "identification_withdrawn_final",
        "case_identifications",
        "UPDATE",
        "OLD.state = 'withdrawn' AND (NEW.state <> 'withdrawn' OR NEW.case_id <> OLD.case_id"
        " OR NEW.account_ref <> OLD.account_ref)",
        "a withdrawn identification stays withdrawn",
    ),
    (
        "identification_no_delete",
        "case_identifications",
        "DELETE",
        None,
        "identifications are never deleted",
    ),
]

VOID_SQL = (
    "UPDATE outbox SET state = 'void' WHERE case_id = NEW.case_id"
    " AND state IN ('draft', 'approved', 'failed')"
)


def _create_guard(
    dialect: str, name: str, table: str, timing: str, cond: str | None, msg: str
) -> None:
    if dialect == "sqlite":
        when = f" WHEN {cond}" if cond else ""
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {timing} ON {table} FOR EACH ROW{when} "
            f"BEGIN SELECT RAISE(ABORT, '{msg}'); END"
        )
    elif dialect == "postgresql":
        returning = "OLD" if timing == "DELETE" else "NEW"
        op.execute(
            f"CREATE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN IF {cond or 'TRUE'} THEN "
            f"RAISE EXCEPTION '{msg}'; END IF; RETURN {returning}; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {timing} ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION {name}_fn()"
        )


def upgrade() -> None:
    op.create_table(
        "case_identifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=True),
        sa.Column("account_ref", sa.String(length=400), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=False),
        sa.Column("reviewers", sa.JSON(), nullable=False),
        sa.Column("confirmed_at", nextofkin.db.UTCDateTime(), nullable=False),
        sa.Column("withdrawn_decision_id", sa.Integer(), nullable=True),
        sa.Column("withdrawn_by", sa.String(length=100), nullable=True),
        sa.Column("withdrawn_at", nextofkin.db.UTCDateTime(), nullable=True),
        sa.CheckConstraint(
            "state IN ('confirmed', 'withdrawn')", name=op.f("ck_case_identifications_state")
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_identifications_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["decision_id"],
            ["case_decisions.id"],
            name=op.f("fk_case_identifications_decision_id_case_decisions"),
        ),
        sa.ForeignKeyConstraint(
            ["withdrawn_decision_id"],
            ["case_decisions.id"],
            name=op.f("fk_case_identifications_withdrawn_decision_id_case_decisions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_identifications")),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ix_case_identifications_case_id", "case_identifications", ["case_id"], unique=False
    )
    op.create_index(
        "uq_case_identifications_current",
        "case_identifications",
        ["case_id"],
        unique=True,
        sqlite_where=sa.text("state = 'confirmed'"),
        postgresql_where=sa.text("state = 'confirmed'"),
    )
    # Plain ADD COLUMN (no table rebuild): rebuilding the outbox on SQLite would drop its triggers.
    dialect = op.get_bind().dialect.name
    if dialect == "sqlite":
        op.execute(
            "ALTER TABLE outbox ADD COLUMN identification_id INTEGER "
            "REFERENCES case_identifications (id)"
        )
    else:
        op.add_column("outbox", sa.Column("identification_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_outbox_identification_id_case_identifications"),
            "outbox",
            "case_identifications",
            ["identification_id"],
            ["id"],
        )
    op.add_column("outbox", sa.Column("decision_id", sa.Integer(), nullable=True))
    op.create_index("ix_outbox_identification_id", "outbox", ["identification_id"], unique=False)

    for name, table, timing, cond, msg in GUARDS:
        _create_guard(dialect, name, table, timing, cond, msg)
    # The void is an AFTER trigger: the decision row exists, then every unsent message goes.
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER decision_voids_unsent AFTER INSERT ON case_decisions FOR EACH ROW "
            f"BEGIN {VOID_SQL}; END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION decision_voids_unsent_fn() RETURNS trigger AS $$ BEGIN "
            f"{VOID_SQL}; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER decision_voids_unsent AFTER INSERT ON case_decisions FOR EACH ROW "
            "EXECUTE FUNCTION decision_voids_unsent_fn()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    names = [(g[0], g[1]) for g in GUARDS] + [("decision_voids_unsent", "case_decisions")]
    for name, table in names:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}_fn()")
    op.drop_index("ix_outbox_identification_id", table_name="outbox")
    op.drop_column("outbox", "decision_id")
    op.drop_column("outbox", "identification_id")
    op.drop_index("uq_case_identifications_current", table_name="case_identifications")
    op.drop_index("ix_case_identifications_case_id", table_name="case_identifications")
    op.drop_table("case_identifications")
