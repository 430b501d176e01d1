"""Platform accounts and the richer manifest (issue 13 #2, #3): the schema the kin engine reads."""

from __future__ import annotations

import json
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.records import Account, Photo, Source
from nextofkin.gallery.registration import register_export, upsert_source
from nextofkin.gallery.tags import Relative, Tag, parse_tags, tagged_accounts
from nextofkin.workspace import MIGRATIONS, Workspace, make_engine, migrate


def _manifest(
    root: Path, accounts: list[dict[str, object]], photos: list[dict[str, object]]
) -> Path:
    root.mkdir(parents=True)
    for name, rows in (("accounts.jsonl", accounts), ("photos.jsonl", photos)):
        (root / name).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return root


def _register(workspace: Workspace, root: Path) -> None:
    export = read_export(root)
    with workspace.session() as session:
        source = upsert_source(session, root.name, root, export.layout)
        register_export(session, source, export)


def test_manifest_reads_platform_relatives_post_url_and_positioned_tags(tmp_path: Path) -> None:
    root = _manifest(
        tmp_path / "m",
        [
            {
                "account": "101",
                "platform": "vk",
                "relatives": [{"account": "102", "type": "sibling"}],
            }
        ],
        [
            {
                "account": "101",
                "path": "a.jpg",
                "post_url": "https://vk.com/photo101_5",
                "tagged": [
                    "103",
                    {"account": "102", "x": 0.25, "y": 0.5},
                    {"account": "104", "box": [10, 20, 60, 90]},
                ],
            }
        ],
    )
    export = read_export(root)
    (account,) = export.accounts
    assert account.platform == "vk"
    assert account.relatives == [Relative("102", "sibling")]
    (photo,) = export.photos
    assert photo.platform == "vk" and photo.post_url == "https://vk.com/photo101_5"
    assert photo.tagged == [
        Tag("103"),
        Tag("102", point=(0.25, 0.5)),
        Tag("104", box=(10.0, 20.0, 60.0, 90.0)),
    ]


def test_same_platform_user_in_two_exports_is_one_account(
    workspace: Workspace, tmp_path: Path
) -> None:
    first = _manifest(
        tmp_path / "gallery-dl",
        [{"account": "5001", "platform": "vk", "name": "Ivan Petrenko"}],
        [
            {
                "account": "5001",
                "path": "vk/5001/a.jpg",
                "tagged": [{"account": "5002", "x": 0.1, "y": 0.2}],
            }
        ],
    )
    second = _manifest(
        tmp_path / "vk-api",
        [
            {
                "account": "5001",
                "platform": "vk",
                "contacts": {"phone": "+380 1"},
                "relatives": [{"account": "5002", "type": "parent"}],
            }
        ],
        [{"account": "5001", "path": "photos/b.jpg"}],
    )
    _register(workspace, first)
    _register(workspace, second)
    with workspace.session() as session:
        accounts = session.scalars(select(Account).where(Account.external_id == "5001")).all()
        assert len(accounts) == 1
        account = accounts[0]
        # Each export adds what it knows; neither blanks the other's fields.
        assert account.platform == "vk" and account.name == "Ivan Petrenko"
        assert account.contacts == {"phone": "+380 1"}
        assert account.relatives == [{"account": "5002", "type": "parent"}]
        assert session.get_one(Source, account.source_id).name == "vk"
        photos = session.scalars(select(Photo).where(Photo.account_id == account.id)).all()
        # Each photo stays in the export it came from (its root resolves its path).
        by_source = {session.get_one(Source, p.source_id).name: p for p in photos}
        assert set(by_source) == {"gallery-dl", "vk-api"}
        assert by_source["gallery-dl"].tagged == [{"account": "5002", "x": 0.1, "y": 0.2}]


def test_old_string_tag_lists_stay_readable() -> None:
    stored = ["u2", {"account": "u3", "x": 0.5, "y": 0.5}, {"account": "u4", "box": [1, 2, 3, 4]}]
    assert tagged_accounts(stored) == ["u2", "u3", "u4"]
    # Malformed items (a newer writer, a hand-edited row) are skipped, never fatal.
    assert parse_tags([None, 3.5, {"x": 1}, {"account": "u5", "x": "a"}]) == [Tag("u5")]


def test_upgrade_to_0013_keeps_old_rows_readable(tmp_path: Path) -> None:
    """A workspace made before 0013: its accounts get no platform and no relatives, its string
    tag lists stay as they were and still read."""
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "0011_identifications")
        for statement in (
            "INSERT INTO sources (id, name, root, layout, created_at) "
            "VALUES (1, 'old', '/x', 'folders', '2026-01-01 00:00:00')",
            "INSERT INTO accounts (id, source_id, external_id, contacts, friends, extra, "
            "roles_dirty) VALUES (1, 1, 'a', '{}', '[]', '{}', 0)",
            "INSERT INTO photos (id, source_id, account_id, rel_path, kind, tagged, status) "
            "VALUES (1, 1, 1, 'a/1.jpg', 'post', '[\"b\"]', 'pending')",
        ):
            connection.exec_driver_sql(statement)
    migrate(engine)
    with Session(engine) as session:
        account = session.get_one(Account, 1)
        assert (account.platform, account.relatives) == (None, [])
        photo = session.get_one(Photo, 1)
        assert photo.post_url is None and tagged_accounts(photo.tagged) == ["b"]
