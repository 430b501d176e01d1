"""Ids the database assigns are never handed out twice, also in a workspace made before 0008."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, inspect

from nextofkin.db import has_surrogate_id
from nextofkin.schema import metadata
from nextofkin.settings import Settings
from nextofkin.workspace import MIGRATIONS, Workspace, make_engine, migrate


def _sqlite_only(settings: Settings) -> None:
    if settings.database_url:
        pytest.skip("AUTOINCREMENT is SQLite's; PostgreSQL sequences never reuse ids")


def test_every_table_with_database_assigned_ids_never_reuses_them(workspace: Workspace) -> None:
    _sqlite_only(workspace.settings)
    with workspace.engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type='table'")
        sql = {str(name): str(text) for name, text in rows}
    surrogate = [t.name for t in metadata.sorted_tables if has_surrogate_id(t)]
    assert {"faces", "images", "photos", "accounts", "case_searches", "outbox"} <= set(surrogate)
    missing = [n for n in surrogate if n in sql and "AUTOINCREMENT" not in sql[n].upper()]
    assert not missing, f"tables that may reuse ids after a delete: {missing}"


def _upgrade_to(engine: Engine, revision: str) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _fill(engine: Engine) -> None:
    """A pre-0008 workspace: a gallery with roles, a case whose search cites face 3 and
    account 2, a sent message; then face 3 (the highest) and account 2 are purged."""
    evidence = [{"face_id": 3, "photo_id": 3, "photo": "c.jpg"}]
    candidates = [{"account_id": 2, "account": "b", "source": "vk", "evidence": evidence}]
    statements = [
        "INSERT INTO sources (id, name, root, layout, created_at) "
        "VALUES (1, 'vk', '/x', 'folder', '2026-01-01 00:00:00')",
        "INSERT INTO accounts (id, source_id, external_id, contacts, friends, extra, roles_dirty) "
        "VALUES (1, 1, 'a', '{}', '[]', '{}', 0), (2, 1, 'b', '{}', '[]', '{}', 0)",
        "INSERT INTO images (id, sha256, path, width, height, size_bytes, detector, tried, "
        "created_at) VALUES (1, 'h1', '/x/1', 1, 1, 1, 'hog', '[]', '2026-01-01 00:00:00'), "
        "(2, 'h2', '/x/2', 1, 1, 1, 'hog', '[]', '2026-01-01 00:00:00')",
        "INSERT INTO photos (id, source_id, account_id, rel_path, kind, tagged, status, image_id)"
        " VALUES (1, 1, 1, '1.jpg', 'post', '[]', 'done', 1), "
        "(2, 1, 1, '2.jpg', 'post', '[]', 'done', 2)",
        "INSERT INTO faces (id, image_id, ordinal, left, top, right, bottom, landmarks, "
        "detection_score, quality, quality_parts, rotation, model, alignment, embedding) VALUES "
        "(1, 1, 0, 0, 0, 1, 1, '[]', 1, 1, '{}', 0, 'm', 'a', x'00'), "
        "(2, 2, 0, 0, 0, 1, 1, '[]', 1, 1, '{}', 0, 'm', 'a', x'00'), "
        "(3, 2, 1, 0, 0, 1, 1, '[]', 1, 1, '{}', 0, 'm', 'a', x'00')",
        "INSERT INTO face_roles (account_id, face_id, role, confidence, cluster) "
        "VALUES (1, 1, 'owner', 1, 0), (1, 2, 'owner', 1, 0)",
        "INSERT INTO cases (id, number, state, opened_by, opened_at, updated_at) "
        "VALUES (1, 'K-1', 'searched', 'ivan', '2026-01-01 00:00:00', '2026-01-01 00:00:00')",
        "INSERT INTO case_searches (id, case_id, run_by, run_at, params, probe_faces, "
        "candidates) VALUES (1, 1, 'ivan', '2026-01-01 00:00:00', '{}', '[]', "
        f"'{json.dumps(candidates)}')",
        "DELETE FROM faces WHERE id = 3",
        "DELETE FROM accounts WHERE id = 2",
    ]
    with engine.begin() as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)


def _schema(engine: Engine) -> dict[str, object]:
    """What must survive a table rebuild: columns, keys, indexes, triggers."""
    inspector = inspect(engine)
    out: dict[str, object] = {}
    for table in inspector.get_table_names():
        out[table] = (
            [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)],
            sorted(str(fk) for fk in inspector.get_foreign_keys(table)),
            sorted(
                (
                    str(ix["name"]),
                    str(ix["column_names"]),
                    bool(ix["unique"]),
                    str(ix.get("dialect_options", {}).get("sqlite_where")),
                )
                for ix in inspector.get_indexes(table)
            ),
            sorted(str(uq) for uq in inspector.get_unique_constraints(table)),
        )
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT name, sql FROM sqlite_master WHERE type='trigger'")
        out["triggers"] = sorted((str(name), str(sql)) for name, sql in rows)
    return out


def test_upgrade_to_never_reused_ids_keeps_every_row_and_skips_cited_ids(
    settings: Settings, tmp_path: Path
) -> None:
    _sqlite_only(settings)
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    with engine.connect() as conn:  # as an older nextofkin left it: no pragma games
        conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
    _upgrade_to(engine, "0007_merge")
    _fill(engine)
    engine.dispose()
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    migrate(engine)  # to every head, 0008_ids among them
    with engine.begin() as conn:
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM face_roles").scalar() == 2
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM faces").scalar() == 2
        assert conn.exec_driver_sql("SELECT COUNT(*) FROM photos").scalar() == 2
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        conn.exec_driver_sql(
            "INSERT INTO faces (image_id, ordinal, left, top, right, bottom, landmarks, "
            "detection_score, quality, quality_parts, rotation, model, alignment, embedding) "
            "VALUES (2, 5, 0, 0, 1, 1, '[]', 1, 1, '{}', 0, 'm', 'a', x'00')"
        )
        conn.exec_driver_sql(
            "INSERT INTO accounts (source_id, external_id, contacts, friends, extra, roles_dirty)"
            " VALUES (1, 'new', '{}', '[]', '{}', 0)"
        )
        new_face = conn.exec_driver_sql("SELECT MAX(id) FROM faces").scalar()
        new_account = conn.exec_driver_sql("SELECT MAX(id) FROM accounts").scalar()
    # Face 3 and account 2 were deleted before the upgrade, but the case still cites them.
    assert new_face == 4 and new_account == 3
    # The rebuilt tables keep their columns, keys, indexes and triggers.
    fresh = make_engine(f"sqlite:///{tmp_path / 'fresh.db'}")
    migrate(fresh)
    assert _schema(engine) == _schema(fresh)
    engine.dispose()
    fresh.dispose()
