"""ids are never reused: SQLite tables with database-assigned ids get AUTOINCREMENT

Without AUTOINCREMENT, SQLite gives the next row ``max(id) + 1``: after a purge removed the
highest face id, the next ingested face took it, and everything that remembered the id (a
case's evidence, a cached picture, an index) then meant another person. Every table whose single
integer key the database assigns is rebuilt with AUTOINCREMENT, keeping its rows, indexes and
triggers. Each table's sequence starts above the highest id the case records still mention, so
an id freed before this upgrade is not handed out either.

PostgreSQL sequences never reuse ids: nothing to do there.

The rebuild needs ``PRAGMA foreign_keys=OFF`` (``workspace.migrate`` sets it): with foreign keys
on, dropping the old table would cascade-delete the rows that refer to it.

Revision ID: 0008_ids
Revises: 0007_merge
Create Date: 2026-12-02 07:30:00.000000
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0008_ids"
down_revision: str | Sequence[str] | None = "0007_merge"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Keyed by an integer the code sets, not the database: nothing to reuse.
CODE_KEYED = {"audit_head"}


def _tables_to_rebuild(bind: sa.Connection) -> list[str]:
    """Tables keyed by one database-assigned integer ``id`` that lack AUTOINCREMENT."""
    names = []
    inspector = sa.inspect(bind)
    for name in inspector.get_table_names():
        if name in CODE_KEYED or name.startswith(("sqlite_", "alembic_", "_alembic_tmp_")):
            continue
        pk = inspector.get_pk_constraint(name).get("constrained_columns") or []
        if pk != ["id"]:
            continue
        column = next(c for c in inspector.get_columns(name) if c["name"] == "id")
        if not isinstance(column["type"], sa.Integer):
            continue
        sql = bind.exec_driver_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).scalar_one()
        if "AUTOINCREMENT" not in str(sql).upper():
            names.append(name)
    return sorted(names)


def _max(bind: sa.Connection, table: str, column: str = "id") -> int:
    return int(
        bind.scalar(sa.select(sa.func.max(sa.column(column))).select_from(sa.table(table))) or 0
    )


def _count(bind: sa.Connection, table: str) -> int:
    return int(bind.scalar(sa.select(sa.func.count()).select_from(sa.table(table))) or 0)


def _walk(value: Any, key: str) -> Iterator[int]:
    """Every integer stored under ``key`` anywhere in a JSON value."""
    if isinstance(value, dict):
        for k, v in value.items():
            if k == key and isinstance(v, int) and not isinstance(v, bool):
                yield v
            else:
                yield from _walk(v, key)
    elif isinstance(value, list):
        for item in value:
            yield from _walk(item, key)


def _referenced(bind: sa.Connection, tables: set[str]) -> dict[str, int]:
    """The highest id of each gallery table that case records still mention."""
    found = {"faces": 0, "photos": 0, "accounts": 0}
    if "case_searches" in tables:
        for candidates, probes in bind.exec_driver_sql(
            "SELECT candidates, probe_faces FROM case_searches"
        ):
            for text in (candidates, probes):
                try:
                    data = json.loads(text) if isinstance(text, str) else text
                except ValueError:
                    continue
                found["faces"] = max([found["faces"], *_walk(data, "face_id")])
                found["photos"] = max([found["photos"], *_walk(data, "photo_id")])
                found["accounts"] = max([found["accounts"], *_walk(data, "account_id")])
    for table, column in (
        ("case_decisions", "account_id"),
        ("outbox", "account_id"),
        ("cases", "identified_account_id"),
        ("case_identifications", "account_id"),
    ):
        if table in tables:
            found["accounts"] = max(found["accounts"], _max(bind, table, column))
    return found


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "sqlite":
        return
    if bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError(
            "0008_ids rebuilds tables and needs PRAGMA foreign_keys=OFF (dropping a table with "
            "foreign keys on deletes the rows referring to it); run it through nextofkin"
        )
    rebuild = _tables_to_rebuild(bind)
    all_tables = set(sa.inspect(bind).get_table_names())
    # Triggers are not kept by a table rebuild, and a rename re-checks every trigger body: take
    # them all out first and put them back, verbatim, at the end.
    triggers = bind.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' ORDER BY rowid"
    ).all()
    for name, _sql in triggers:
        op.execute(f'DROP TRIGGER "{name}"')
    for table in rebuild:
        # Indexes are put back from their own SQL (a partial index keeps its WHERE).
        indexes = bind.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            "AND sql IS NOT NULL",
            (table,),
        ).all()
        before = _count(bind, table)
        with op.batch_alter_table(
            table, recreate="always", table_kwargs={"sqlite_autoincrement": True}
        ):
            pass
        for name, sql in indexes:
            op.execute(f'DROP INDEX IF EXISTS "{name}"')
            op.execute(sql)
        after = _count(bind, table)
        if after != before:
            raise RuntimeError(f"rebuilding {table} kept {after} of {before} rows")
    for _name, sql in triggers:
        op.execute(sql)
    referenced = _referenced(bind, all_tables)
    for table in rebuild:
        floor = max(_max(bind, table), referenced.get(table, 0))
        bind.exec_driver_sql("DELETE FROM sqlite_sequence WHERE name = ?", (table,))
        bind.exec_driver_sql(
            "INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, floor)
        )


def downgrade() -> None:
    """Nothing to undo that matters: AUTOINCREMENT only stops id reuse."""
