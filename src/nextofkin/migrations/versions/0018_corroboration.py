"""cases: a gallery identification and an inquiry link of one case must name the same person

A case can be identified from the gallery (``case_identifications``) and linked to a family's
inquiry (``inquiry_links``). The data cannot tell whether account X and inquiry Y's missing person
are the same person, so a reviewer must say so: a confirming decision records which standing
confirmation it corroborates (``case_decisions.corroborates_link_id``,
``inquiry_link_decisions.corroborates_identification_id``). Triggers keep the rule in the database:

* an identification becomes confirmed while a link of the case is confirmed only when its
  confirming decision corroborates that link, and a link becomes confirmed while an identification
  stands only when its confirming decision corroborates that identification;
* a decision corroborates only a confirmation that stands on its own case, and only a confirming
  decision corroborates anything;
* a message is approved, claimed or marked sent only while the case's identification and link, if
  both stand, corroborate one another (data written before this revision included).

Withdrawing either one is a decision, and every decision already voids the case's unsent
messages (0011, 0015), so the other side's letters are voided with no new trigger.

Revision ID: 0018_corroboration
Revises: 0017_user_language
Create Date: 2026-12-02 11:00:00.000000
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018_corroboration"
down_revision: str | Sequence[str] | None = "0017_user_language"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LINK_UNCORROBORATED = (
    "EXISTS (SELECT 1 FROM inquiry_links l WHERE l.case_id = NEW.case_id"
    " AND l.state = 'confirmed' AND NOT EXISTS (SELECT 1 FROM case_decisions d"
    "  WHERE d.id = NEW.decision_id AND d.corroborates_link_id = l.id))"
)
_IDENTIFICATION_UNCORROBORATED = (
    "EXISTS (SELECT 1 FROM case_identifications i WHERE i.case_id = NEW.case_id"
    " AND i.state = 'confirmed' AND NOT EXISTS (SELECT 1 FROM inquiry_link_decisions ld"
    "  WHERE ld.id = NEW.decision_id AND ld.corroborates_identification_id = i.id))"
)
# Both stand and neither's confirming decision names the other.
_DISAGREE = (
    "EXISTS (SELECT 1 FROM case_identifications i JOIN inquiry_links l ON l.case_id = i.case_id"
    " WHERE i.case_id = NEW.case_id AND i.state = 'confirmed' AND l.state = 'confirmed'"
    " AND NOT EXISTS (SELECT 1 FROM case_decisions d WHERE d.id = i.decision_id"
    "  AND d.corroborates_link_id = l.id)"
    " AND NOT EXISTS (SELECT 1 FROM inquiry_link_decisions ld WHERE ld.id = l.decision_id"
    "  AND ld.corroborates_identification_id = i.id))"
)
_STATE_CHANGE = (
    "NEW.state IN ('approved', 'sending', 'sent') AND NEW.state <> OLD.state"
    " AND OLD.state IN ('draft', 'approved', 'failed', 'void')"
)
_MUST_STATE = "; reject one first, or confirm it as corroborating the other"

# (name, table, timing, condition on OLD/NEW, message), as in 0011's and 0015's guards.
GUARDS = [
    (
        "identification_corroborates_link",
        "case_identifications",
        "INSERT",
        f"NEW.state = 'confirmed' AND {_LINK_UNCORROBORATED}",
        "an inquiry link of this case is confirmed: the identification must corroborate it"
        + _MUST_STATE,
    ),
    (
        "identification_corroborates_link_upd",
        "case_identifications",
        "UPDATE",
        f"NEW.state = 'confirmed' AND OLD.state <> 'confirmed' AND {_LINK_UNCORROBORATED}",
        "an inquiry link of this case is confirmed: the identification must corroborate it"
        + _MUST_STATE,
    ),
    (
        "link_corroborates_identification",
        "inquiry_links",
        "UPDATE",
        "NEW.state = 'confirmed' AND OLD.state <> 'confirmed'"
        f" AND {_IDENTIFICATION_UNCORROBORATED}",
        "this case has a confirmed identification: the link must corroborate it" + _MUST_STATE,
    ),
    (
        "link_corroborates_identification_ins",
        "inquiry_links",
        "INSERT",
        f"NEW.state = 'confirmed' AND {_IDENTIFICATION_UNCORROBORATED}",
        "this case has a confirmed identification: the link must corroborate it" + _MUST_STATE,
    ),
    (
        "decision_corroborates_standing_link",
        "case_decisions",
        "INSERT",
        "NEW.corroborates_link_id IS NOT NULL AND (NEW.decision <> 'confirm' OR NOT EXISTS"
        " (SELECT 1 FROM inquiry_links l WHERE l.id = NEW.corroborates_link_id"
        " AND l.case_id = NEW.case_id AND l.state = 'confirmed'))",
        "a confirming decision corroborates only a confirmed inquiry link of its case",
    ),
    (
        "link_decision_corroborates_standing",
        "inquiry_link_decisions",
        "INSERT",
        "NEW.corroborates_identification_id IS NOT NULL AND (NEW.decision <> 'confirm' OR NOT"
        " EXISTS (SELECT 1 FROM case_identifications i WHERE i.id ="
        " NEW.corroborates_identification_id AND i.case_id = NEW.case_id"
        " AND i.state = 'confirmed'))",
        "a confirming link decision corroborates only a confirmed identification of its case",
    ),
    (
        "outbox_identities_agree",
        "outbox",
        "UPDATE",
        f"{_STATE_CHANGE} AND {_DISAGREE}",
        "the identification and the inquiry link of this case do not corroborate one another: "
        "no message is approved or sent",
    ),
]


def _guard(dialect: str, name: str, table: str, timing: str, cond: str, msg: str) -> None:
    if dialect == "sqlite":
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {timing} ON {table} FOR EACH ROW WHEN {cond} "
            f"BEGIN SELECT RAISE(ABORT, '{msg}'); END"
        )
    elif dialect == "postgresql":
        op.execute(
            f"CREATE FUNCTION {name}_fn() RETURNS trigger AS $$ BEGIN IF {cond} THEN "
            f"RAISE EXCEPTION '{msg}'; END IF; RETURN NEW; END $$ LANGUAGE plpgsql"
        )
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {timing} ON {table} FOR EACH ROW "
            f"EXECUTE FUNCTION {name}_fn()"
        )


def upgrade() -> None:
    # Plain ADD COLUMN (no table rebuild): a rebuild on SQLite would drop the tables' triggers.
    # No foreign keys: SQLite cannot add one without a rebuild; the guards check the reference.
    op.add_column("case_decisions", sa.Column("corroborates_link_id", sa.Integer(), nullable=True))
    op.add_column(
        "inquiry_link_decisions",
        sa.Column("corroborates_identification_id", sa.Integer(), nullable=True),
    )
    dialect = op.get_bind().dialect.name
    for guard in GUARDS:
        _guard(dialect, *guard)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    for name, table, *_ in GUARDS:
        if dialect == "sqlite":
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
        elif dialect == "postgresql":
            op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
            op.execute(f"DROP FUNCTION IF EXISTS {name}_fn()")
    op.drop_column("inquiry_link_decisions", "corroborates_identification_id")
    op.drop_column("case_decisions", "corroborates_link_id")
