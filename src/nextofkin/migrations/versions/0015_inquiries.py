"""cases: missing-person inquiries, the probe-face index, and links from inquiries to cases

Adds ``inquiries`` (consent required by a CHECK), ``inquiry_photos`` (with the face used from each
photo), ``case_probe_faces`` (the face of each post-mortem photo: the index inquiries are searched
against), ``inquiry_links`` (partial unique indexes: at most one ``confirmed`` link per case and
per inquiry) and ``inquiry_link_decisions``; binds outbox rows to the link and the newest link
decision they were written under (``outbox.inquiry_link_id``, ``outbox.link_decision_id``).
Triggers keep the identification rules for letters to inquirers in the database itself:

* a link decision voids every unsent message of the case (as a review decision does);
* a message to an inquirer is approved, claimed or marked sent only while its link is confirmed
  and no link decision or review decision of the case came after its draft (the identification
  guard of 0011 is narrowed to messages without a link);
* no decision on a link once a message to its inquirer may have reached them;
* a link becomes confirmed only with a recorded confirming decision of that link.

Revision ID: 0015_inquiries
Revises: 0014_standing
Create Date: 2026-12-02 09:30:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nextofkin.db

revision: str = "0015_inquiries"
down_revision: str | Sequence[str] | None = "0014_standing"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_STATE_CHANGE = (
    "NEW.state IN ('approved', 'sending', 'sent') AND NEW.state <> OLD.state"
    " AND OLD.state IN ('draft', 'approved', 'failed', 'void')"
)
# 0011's test, unchanged, for messages written for an identification.
IDENTIFICATION_STALE = (
    "(NEW.identification_id IS NULL"
    " OR NOT EXISTS (SELECT 1 FROM case_identifications i"
    "  WHERE i.id = NEW.identification_id AND i.state = 'confirmed')"
    " OR EXISTS (SELECT 1 FROM case_decisions d"
    "  WHERE d.case_id = NEW.case_id AND d.id > COALESCE(NEW.decision_id, 0)))"
)
LINK_STALE = (
    "(NOT EXISTS (SELECT 1 FROM inquiry_links l WHERE l.id = NEW.inquiry_link_id"
    "  AND l.case_id = NEW.case_id AND l.state = 'confirmed')"
    " OR EXISTS (SELECT 1 FROM inquiry_link_decisions ld"
    "  WHERE ld.case_id = NEW.case_id AND ld.id > COALESCE(NEW.link_decision_id, 0))"
    " OR EXISTS (SELECT 1 FROM case_decisions d"
    "  WHERE d.case_id = NEW.case_id AND d.id > COALESCE(NEW.decision_id, 0)))"
)
IDENTIFICATION_GUARD = (
    "outbox_only_current_identification",
    "outbox",
    "UPDATE",
    f"{_STATE_CHANGE} AND {IDENTIFICATION_STALE}",
    "a message is approved or sent only for the current identification of its case",
)
NARROWED_GUARD = (
    "outbox_only_current_identification",
    "outbox",
    "UPDATE",
    f"NEW.inquiry_link_id IS NULL AND {_STATE_CHANGE} AND {IDENTIFICATION_STALE}",
    "a message is approved or sent only for the current identification of its case",
)
GUARDS = [
    (
        "outbox_only_confirmed_link",
        "outbox",
        "UPDATE",
        f"NEW.inquiry_link_id IS NOT NULL AND {_STATE_CHANGE} AND {LINK_STALE}",
        "a message to an inquirer is approved or sent only for a confirmed link of its case",
    ),
    (
        "link_decision_not_after_message",
        "inquiry_link_decisions",
        "INSERT",
        "EXISTS (SELECT 1 FROM outbox o WHERE o.inquiry_link_id = NEW.link_id"
        " AND o.state IN ('sending', 'sent', 'uncertain'))",
        "a message to this inquirer may have reached them: no further decision on the link",
    ),
    (
        "link_confirmed_by_decision",
        "inquiry_links",
        "UPDATE",
        "NEW.state = 'confirmed' AND OLD.state <> 'confirmed' AND NOT EXISTS (SELECT 1 FROM"
        " inquiry_link_decisions ld WHERE ld.id = NEW.decision_id AND ld.link_id = NEW.id"
        " AND ld.decision = 'confirm')",
        "a link is confirmed only by a recorded confirming decision",
    ),
]
VOID_SQL = (
    "UPDATE outbox SET state = 'void' WHERE case_id = NEW.case_id"
    " AND state IN ('draft', 'approved', 'failed')"
)


def _guard(dialect: str, name: str, table: str, timing: str, cond: str, msg: str) -> None:
    if dialect == "sqlite":
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {timing} ON {table} FOR EACH ROW WHEN {cond} "
            f"BEGIN SELECT RAISE(ABORT, '{msg}'); END"
        )
    elif dialect == "postgresql":
        returning = "OLD" if timing == "DELETE" else "NEW"
        # CREATE OR REPLACE: the identification guard's function exists since 0011.
        op.execute(
            f"CREATE OR REPLACE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN IF {cond} THEN "
            f"RAISE EXCEPTION '{msg}'; END IF; RETURN {returning}; END $$ LANGUAGE plpgsql"
        )
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {timing} ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION {name}_fn()"
        )


def _face_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("box", sa.JSON(), nullable=True),
        sa.Column("rotation", sa.Integer(), nullable=False),
        sa.Column("quality", sa.Float(), nullable=True),
        sa.Column("model", sa.String(length=100), nullable=True),
        sa.Column("embedding", nextofkin.db.Float32Vector(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
    ]


def _tables() -> None:
    op.create_table(
        "inquiries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("missing_name", sa.Text(), nullable=False),
        sa.Column("missing_birth_date", sa.String(length=10), nullable=True),
        sa.Column("last_seen_place", sa.Text(), nullable=True),
        sa.Column("last_seen_date", sa.String(length=10), nullable=True),
        sa.Column("marks", sa.Text(), nullable=True),
        sa.Column("inquirer_name", sa.Text(), nullable=False),
        sa.Column("inquirer_relation", sa.String(length=100), nullable=False),
        sa.Column("inquirer_email", sa.Text(), nullable=True),
        sa.Column("inquirer_phone", sa.String(length=100), nullable=True),
        sa.Column("consent", sa.Boolean(), nullable=False),
        sa.Column("consent_note", sa.Text(), nullable=True),
        sa.Column("filed_by", sa.String(length=100), nullable=False),
        sa.Column("filed_at", nextofkin.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint("consent", name=op.f("ck_inquiries_consent")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiries")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inquiries_filed_by", "inquiries", ["filed_by"])
    op.create_table(
        "inquiry_photos",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inquiry_id", sa.Integer(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("stored_path", sa.Text(), nullable=False),
        sa.Column("original_name", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        *_face_columns(),
        sa.Column("added_by", sa.String(length=100), nullable=False),
        sa.Column("added_at", nextofkin.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["inquiry_id"],
            ["inquiries.id"],
            name=op.f("fk_inquiry_photos_inquiry_id_inquiries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_photos")),
        sa.UniqueConstraint("inquiry_id", "sha256", name=op.f("uq_inquiry_photos_inquiry_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inquiry_photos_inquiry_id", "inquiry_photos", ["inquiry_id"])
    op.create_table(
        "case_probe_faces",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("case_photo_id", sa.Integer(), nullable=False),
        *_face_columns(),
        sa.Column("indexed_at", nextofkin.db.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_case_probe_faces_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["case_photo_id"],
            ["case_photos.id"],
            name=op.f("fk_case_probe_faces_case_photo_id_case_photos"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_case_probe_faces")),
        sa.UniqueConstraint("case_photo_id", name=op.f("uq_case_probe_faces_case_photo_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_case_probe_faces_case_id", "case_probe_faces", ["case_id"])
    _link_tables()


def _link_tables() -> None:
    op.create_table(
        "inquiry_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("inquiry_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=12), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("fpir", sa.Float(), nullable=False),
        sa.Column("decision", sa.String(length=20), nullable=False),
        sa.Column("meaning", sa.Text(), nullable=False),
        sa.Column("evidence", sa.JSON(), nullable=False),
        sa.Column("found_by", sa.String(length=100), nullable=False),
        sa.Column("found_at", nextofkin.db.UTCDateTime(), nullable=False),
        sa.Column("decision_id", sa.Integer(), nullable=True),
        sa.Column("reviewers", sa.JSON(), nullable=False),
        sa.Column("updated_at", nextofkin.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "state IN ('proposed', 'confirmed', 'rejected', 'withdrawn')",
            name=op.f("ck_inquiry_links_state"),
        ),
        sa.ForeignKeyConstraint(
            ["case_id"], ["cases.id"], name=op.f("fk_inquiry_links_case_id_cases")
        ),
        sa.ForeignKeyConstraint(
            ["inquiry_id"],
            ["inquiries.id"],
            name=op.f("fk_inquiry_links_inquiry_id_inquiries"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_links")),
        sa.UniqueConstraint("inquiry_id", "case_id", name=op.f("uq_inquiry_links_inquiry_id")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inquiry_links_case_id", "inquiry_links", ["case_id"])
    op.create_index("ix_inquiry_links_inquiry_id", "inquiry_links", ["inquiry_id"])
    for column in ("case_id", "inquiry_id"):
        op.create_index(
            f"uq_inquiry_links_{column.split('_')[0]}_confirmed",
            "inquiry_links",
            [column],
            unique=True,
            sqlite_where=sa.text("state = 'confirmed'"),
            postgresql_where=sa.text("state = 'confirmed'"),
        )
    op.create_table(
        "inquiry_link_decisions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("link_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reviewer", sa.String(length=100), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("at", nextofkin.db.UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "decision IN ('confirm', 'reject')", name=op.f("ck_inquiry_link_decisions_decision")
        ),
        sa.ForeignKeyConstraint(
            ["link_id"],
            ["inquiry_links.id"],
            name=op.f("fk_inquiry_link_decisions_link_id_inquiry_links"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inquiry_link_decisions")),
        sqlite_autoincrement=True,
    )
    op.create_index("ix_inquiry_link_decisions_link_id", "inquiry_link_decisions", ["link_id"])
    op.create_index("ix_inquiry_link_decisions_case_id", "inquiry_link_decisions", ["case_id"])


def upgrade() -> None:
    _tables()
    dialect = op.get_bind().dialect.name
    # Plain ADD COLUMN (no table rebuild): rebuilding the outbox on SQLite would drop its triggers.
    if dialect == "sqlite":
        op.execute(
            "ALTER TABLE outbox ADD COLUMN inquiry_link_id INTEGER REFERENCES inquiry_links (id)"
        )
    else:
        op.add_column("outbox", sa.Column("inquiry_link_id", sa.Integer(), nullable=True))
        op.create_foreign_key(
            op.f("fk_outbox_inquiry_link_id_inquiry_links"),
            "outbox",
            "inquiry_links",
            ["inquiry_link_id"],
            ["id"],
        )
    op.add_column("outbox", sa.Column("link_decision_id", sa.Integer(), nullable=True))
    op.create_index("ix_outbox_inquiry_link_id", "outbox", ["inquiry_link_id"])
    for guard in [NARROWED_GUARD, *GUARDS]:
        _guard(dialect, *guard)
    if dialect == "sqlite":
        op.execute(
            "CREATE TRIGGER link_decision_voids_unsent AFTER INSERT ON inquiry_link_decisions "
            f"FOR EACH ROW BEGIN {VOID_SQL}; END"
        )
    elif dialect == "postgresql":
        op.execute(
            "CREATE FUNCTION link_decision_voids_unsent_fn() RETURNS trigger AS $$ BEGIN "
            f"{VOID_SQL}; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            "CREATE TRIGGER link_decision_voids_unsent AFTER INSERT ON inquiry_link_decisions "
            "FOR EACH ROW EXECUTE FUNCTION link_decision_voids_unsent_fn()"
        )


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    names = [(g[0], g[1]) for g in GUARDS] + [
        ("link_decision_voids_unsent", "inquiry_link_decisions")
    ]
    for name, table in names:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}_fn()")
    _guard(dialect, *IDENTIFICATION_GUARD)
    op.drop_index("ix_outbox_inquiry_link_id", table_name="outbox")
    op.drop_column("outbox", "link_decision_id")
    op.drop_column("outbox", "inquiry_link_id")
    for table in ("inquiry_link_decisions", "inquiry_links", "case_probe_faces"):
        op.drop_table(table)
    op.drop_table("inquiry_photos")
    op.drop_table("inquiries")
