"""Layout detection and refusal (issue 13 #2, #5): nothing that reads nothing looks loaded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select
from tool_formats import gdl_file, gdl_vk, jpeg, vk_photo, vk_user, write_vk_api
from typer.testing import CliRunner

from nextofkin.cli import build_app
from nextofkin.errors import ManifestError
from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.records import Account, Photo, Source
from nextofkin.gallery.registration import register_export, upsert_source
from nextofkin.workspace import Workspace


def test_photos_directly_in_root_are_refused_saying_what_was_expected(tmp_path: Path) -> None:
    jpeg(tmp_path / "a.jpg")
    jpeg(tmp_path / "b.jpg")
    with pytest.raises(ManifestError) as refused:
        read_export(tmp_path)
    message = str(refused.value)
    assert "no known export layout" in message
    assert "one folder per account" in message and "found 2 photos directly in ROOT" in message


def test_manifest_folder_without_accounts_jsonl_is_refused(tmp_path: Path) -> None:
    (tmp_path / "photos.jsonl").write_text(json.dumps({"account": "u", "path": "a.jpg"}) + "\n")
    with pytest.raises(ManifestError, match=r"no accounts\.jsonl"):
        read_export(tmp_path)


def test_cli_ingest_of_a_root_in_no_layout_exits_non_zero(tmp_path: Path) -> None:
    root = tmp_path / "loose"
    jpeg(root / "a.jpg")
    ws = tmp_path / "ws"
    added = CliRunner().invoke(
        build_app(), ["-w", str(ws), "user", "add", "boss", "--role", "admin"]
    )
    assert added.exit_code == 0, added.output
    result = CliRunner().invoke(build_app(), ["-w", str(ws), "ingest", str(root)])
    assert result.exit_code != 0
    assert "expected" in result.output and "directly in ROOT" in result.output


def test_format_option_overrides_detection(tmp_path: Path) -> None:
    gdl_file(tmp_path / "vk" / "ivan" / "1.jpg", gdl_vk(1001, "ivan", "Ivan", 1))
    assert read_export(tmp_path).layout == "gallery-dl"
    forced = read_export(tmp_path, "folders")
    assert forced.layout == "folders" and [a.external_id for a in forced.accounts] == ["vk"]
    with pytest.raises(ManifestError, match="unknown format"):
        read_export(tmp_path, "myspace")


def test_same_vk_user_via_gallery_dl_and_vk_api_is_one_account(
    workspace: Workspace, tmp_path: Path
) -> None:
    gdl_root = tmp_path / "gallery-dl"
    gdl_file(
        gdl_root / "vk" / "ivan.petrenko" / "77.jpg",
        gdl_vk(1001, "ivan.petrenko", "Ivan Petrenko", 77),
    )
    api_root = write_vk_api(
        tmp_path / "vk-api",
        [
            vk_user(
                1001,
                "Ivan",
                "Petrenko",
                relatives=[{"id": 1002, "type": "parent"}],
                mobile_phone="+380 50 000 00 01",
            )
        ],
        {1001: [vk_photo(1001, 501)]},
    )
    for root in (gdl_root, api_root):
        export = read_export(root)
        with workspace.session() as session:
            source = upsert_source(session, root.name, root, export.layout)
            register_export(session, source, export)
    with workspace.session() as session:
        (account,) = session.scalars(select(Account).where(Account.external_id == "1001")).all()
        assert session.get_one(Source, account.source_id).name == "vk"
        assert account.platform == "vk" and account.name == "Ivan Petrenko"
        assert account.relatives == [{"account": "1002", "type": "parent"}]
        assert account.contacts == {"phone": "+380 50 000 00 01"}
        paths = session.scalars(select(Photo.rel_path).where(Photo.account_id == account.id))
        assert sorted(paths) == ["images/1001_501.jpg", "vk/ivan.petrenko/77.jpg"]
