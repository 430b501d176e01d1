"""Reading both gallery layouts, with per-item problems for bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nextofkin.errors import PathEscapesRoot
from nextofkin.gallery.formats import safe_relative
from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.tags import Tag


def test_folder_layout_with_account_json(tmp_path: Path) -> None:
    (tmp_path / "alice").mkdir()
    (tmp_path / "alice" / "a.jpg").write_bytes(b"x")
    (tmp_path / "alice" / "notes.txt").write_text("hello")
    (tmp_path / "alice" / "account.json").write_text(
        json.dumps({"name": "Alice", "contacts": {"email": "a@example.org"}, "friends": ["bob"]})
    )
    (tmp_path / "bob").mkdir()
    (tmp_path / "bob" / "account.json").write_text("{broken")
    (tmp_path / "bob" / "b.PNG").write_bytes(b"x")
    export = read_export(tmp_path)
    assert export.layout == "folders"
    accounts = {a.external_id: a for a in export.accounts}
    assert accounts["alice"].contacts == {"email": "a@example.org"}
    assert accounts["alice"].friends == ["bob"]
    assert accounts["bob"].name is None
    assert sorted(p.rel_path for p in export.photos) == ["alice/a.jpg", "bob/b.PNG"]
    items = {p.item for p in export.problems}
    assert items == {"alice/notes.txt", "bob/account.json"}


def test_manifest_layout_reports_each_bad_line(tmp_path: Path) -> None:
    (tmp_path / "accounts.jsonl").write_text(
        "\n".join(
            [
                json.dumps({"account": "u1", "name": "Ivan Ivanov", "city": "Kyiv"}),
                "{not json",
                json.dumps({"name": "no id"}),
                json.dumps({"id": "u2", "profile_photo": "p/u2.jpg", "extra_field": 1}),
                json.dumps([1, 2]),
            ]
        ),
        encoding="utf-8",
    )
    (tmp_path / "photos.jsonl").write_text(
        "\n".join(
            [
                json.dumps(
                    {
                        "account": "u1",
                        "path": "p/1.jpg",
                        "caption": "с мамой",
                        "tagged": ["u2"],
                        "posted_at": "2021-06-01",
                    }
                ),
                json.dumps({"account": "u1", "path": "../../etc/passwd"}),
                json.dumps({"account": "u1", "path": "/etc/passwd"}),
                json.dumps({"account": "u1"}),
                json.dumps({"account": "u3", "path": "p/3.jpg"}),
                "",
            ]
        ),
        encoding="utf-8",
    )
    export = read_export(tmp_path)
    assert export.layout == "manifest"
    ids = sorted(a.external_id for a in export.accounts)
    assert ids == ["u1", "u2", "u3"]
    u2 = next(a for a in export.accounts if a.external_id == "u2")
    assert u2.extra == {"extra_field": 1}
    photos = {(p.account, p.rel_path, p.kind) for p in export.photos}
    assert photos == {
        ("u1", "p/1.jpg", "post"),
        ("u3", "p/3.jpg", "post"),
        ("u2", "p/u2.jpg", "profile"),
    }
    first = next(p for p in export.photos if p.rel_path == "p/1.jpg")
    assert first.caption == "с мамой" and first.tagged == [Tag("u2")]
    problems = {p.item: p.message for p in export.problems}
    assert set(problems) == {
        "accounts.jsonl:2",
        "accounts.jsonl:3",
        "accounts.jsonl:5",
        "photos.jsonl:2",
        "photos.jsonl:3",
        "photos.jsonl:4",
    }
    assert "escapes" in problems["photos.jsonl:2"]
    assert "absolute" in problems["photos.jsonl:3"]


@pytest.mark.parametrize("bad", ["../x.jpg", "a/../../x.jpg", "/abs.jpg", "C:/x.jpg", ""])
def test_paths_that_escape_are_refused(tmp_path: Path, bad: str) -> None:
    with pytest.raises(PathEscapesRoot):
        safe_relative(tmp_path, bad)


def test_symlink_out_of_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "root"
    root.mkdir()
    outside = tmp_path / "secret.jpg"
    outside.write_bytes(b"x")
    (root / "link.jpg").symlink_to(outside)
    with pytest.raises(PathEscapesRoot, match="resolves outside"):
        safe_relative(root, "link.jpg")
    assert safe_relative(root, "./a/../b.jpg") == "b.jpg"


def test_header_injection_address_is_dropped_at_ingest_and_reported(tmp_path: Path) -> None:
    injected = "victim@example.org\r\nBcc: spy@evil.example"
    (tmp_path / "accounts.jsonl").write_text(
        "\n".join(
            json.dumps({"account": a, "contacts": {"email": e, "phone": "+380 1"}})
            for a, e in (("u1", injected), ("u2", "Maria@Example.org"))
        ),
        encoding="utf-8",
    )
    (tmp_path / "photos.jsonl").write_text("", encoding="utf-8")
    export = read_export(tmp_path)
    contacts = {a.external_id: a.contacts for a in export.accounts}
    assert contacts["u1"] == {"phone": "+380 1"}  # the account stays, without the address
    assert contacts["u2"]["email"] == "Maria@example.org"  # domain normalised
    assert any("contacts.email dropped" in p.message for p in export.problems)
    folder = tmp_path / "folders" / "anna"
    folder.mkdir(parents=True)
    (folder / "account.json").write_text(json.dumps({"contacts": {"email": injected}}))
    assert read_export(tmp_path / "folders").accounts[0].contacts == {}
