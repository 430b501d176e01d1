"""Export items that used to be lost or trusted silently (issue 12 #16): each is now ingested or a
per-item problem naming where it is."""

from __future__ import annotations

import json
from pathlib import Path

from nextofkin.gallery.formats import safe_relative
from nextofkin.gallery.importers.detect import read_export


def _lines(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")


def test_folder_named_dotdot_something_is_an_account_not_skipped(tmp_path: Path) -> None:
    (tmp_path / "..dotdot").mkdir()
    (tmp_path / "..dotdot" / "a.jpg").write_bytes(b"x")
    (tmp_path / ".anna").mkdir()
    (tmp_path / ".anna" / "b.jpg").write_bytes(b"x")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "c.jpg").write_bytes(b"x")
    export = read_export(tmp_path)
    assert sorted(a.external_id for a in export.accounts) == ["..dotdot", ".anna"]
    assert sorted(p.rel_path for p in export.photos) == ["..dotdot/a.jpg", ".anna/b.jpg"]
    # A folder left out is said so, never silently.
    assert [(p.item, p.message) for p in export.problems] == [
        (".git", "skipped: a system folder, not an account")
    ]
    assert safe_relative(tmp_path, "..dotdot/a.jpg") == "..dotdot/a.jpg"


def test_duplicate_account_id_keeps_the_first_and_names_the_line(tmp_path: Path) -> None:
    _lines(
        tmp_path / "accounts.jsonl",
        [
            {"account": "u1", "name": "Ivan Petrenko", "contacts": {"email": "ivan@example.org"}},
            {"account": "u2", "name": "Olena"},
            {"account": "u1", "name": "Someone Else", "contacts": {"email": "x@example.org"}},
        ],
    )
    export = read_export(tmp_path)
    accounts = {a.external_id: a for a in export.accounts}
    assert accounts["u1"].name == "Ivan Petrenko"
    assert accounts["u1"].contacts == {"email": "ivan@example.org"}
    assert [(p.item, p.message) for p in export.problems] == [
        ("accounts.jsonl:3", "duplicate account id 'u1' (first on line 1): this line is ignored")
    ]


def test_account_json_symlinked_out_of_the_export_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "export"
    (root / "alice").mkdir(parents=True)
    (root / "alice" / "a.jpg").write_bytes(b"x")
    secret = tmp_path / "secret.json"
    secret.write_text(json.dumps({"name": "read through the link", "contacts": {"e": "x@y.z"}}))
    (root / "alice" / "account.json").symlink_to(secret)
    (root / "bob").mkdir()
    (root / "bob" / "account.json").write_text(json.dumps({"name": "Bob"}))
    (root / "carol").mkdir()
    (root / "carol" / "account.json").symlink_to(root / "bob" / "account.json")  # inside: fine
    export = read_export(root)
    accounts = {a.external_id: a for a in export.accounts}
    assert accounts["alice"].name is None and accounts["alice"].contacts == {}
    assert accounts["bob"].name == "Bob" and accounts["carol"].name == "Bob"
    assert [(p.item, p.message) for p in export.problems] == [
        ("alice/account.json", "ignored: it is a symlink to a file outside the export root")
    ]
    assert [p.rel_path for p in export.photos] == ["alice/a.jpg"]  # the photos still count


def test_manifest_file_symlinked_out_of_the_export_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "export"
    root.mkdir()
    _lines(tmp_path / "elsewhere.jsonl", [{"account": "u9", "name": "not from this export"}])
    (root / "accounts.jsonl").symlink_to(tmp_path / "elsewhere.jsonl")
    export = read_export(root)
    assert export.accounts == []
    assert [p.item for p in export.problems] == ["accounts.jsonl"]


def test_impossible_posted_at_is_not_stored_and_is_reported(tmp_path: Path) -> None:
    _lines(tmp_path / "accounts.jsonl", [{"account": "u1"}])
    _lines(
        tmp_path / "photos.jsonl",
        [
            {"account": "u1", "path": "a.jpg", "posted_at": "2024-02-30"},
            {"account": "u1", "path": "b.jpg", "posted_at": "2024-02-29"},
            {"account": "u1", "path": "c.jpg", "posted_at": "2024-02-29T23:59:00+02:00"},
            {"account": "u1", "path": "d.jpg", "posted_at": "2024-13-01T00:00:00"},
            {"account": "u1", "path": "e.jpg", "posted_at": 1700000000},
            {"account": "u1", "path": "f.jpg"},
        ],
    )
    export = read_export(tmp_path)
    dates = {p.rel_path: p.posted_at for p in export.photos}
    assert dates == {
        "a.jpg": None,
        "b.jpg": "2024-02-29",
        "c.jpg": "2024-02-29T23:59:00+02:00",
        "d.jpg": None,
        "e.jpg": None,
        "f.jpg": None,
    }
    problems = {p.item: p.message for p in export.problems}
    assert set(problems) == {"photos.jsonl:1", "photos.jsonl:4", "photos.jsonl:5"}
    assert problems["photos.jsonl:1"].startswith("posted_at '2024-02-30' is not a valid ISO date")
    assert problems["photos.jsonl:1"].endswith("stored without a date")
