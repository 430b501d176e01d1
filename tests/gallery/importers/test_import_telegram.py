"""Telegram Desktop JSON exports (issue 13 #1, #6): senders are accounts, photos their posts."""

from __future__ import annotations

import json
from pathlib import Path

from tool_formats import jpeg, tg_chat, tg_message, tg_service, write_tg_full, write_tg_single

from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.tags import Tag


def _family_chat() -> list[dict[str, object]]:
    return [
        tg_service(1, 101),
        tg_message(
            2,
            101,
            "Ivan Petrenko",
            "photos/photo_1@01-05-2024_10-00-00.jpg",
            text=[
                "with ",
                {"type": "mention_name", "text": "mum", "user_id": 102},
                " and ",
                {"type": "mention", "text": "@olena_k"},
            ],
            entities=[
                {"type": "plain", "text": "with "},
                {"type": "mention_name", "text": "mum", "user_id": 102},
                {"type": "plain", "text": " and "},
                {"type": "mention", "text": "@olena_k"},
            ],
        ),
        tg_message(3, 102, "Maria Petrenko", "photos/photo_2@01-05-2024_11-00-00.jpg", "garden"),
        tg_message(4, 102, "Maria Petrenko", text="no photo here"),
        tg_message(
            5,
            101,
            "Ivan Petrenko",
            "(File not included. Change data exporting settings to download.)",
        ),
    ]


def test_single_chat_export_makes_each_sender_an_account_with_captions_and_mentions(
    tmp_path: Path,
) -> None:
    write_tg_single(tmp_path / "ChatExport_2024-05-02", _family_chat())
    export = read_export(tmp_path / "ChatExport_2024-05-02")
    assert export.layout == "telegram"
    names = {a.external_id: (a.platform, a.name) for a in export.accounts}
    assert names == {"101": ("telegram", "Ivan Petrenko"), "102": ("telegram", "Maria Petrenko")}
    by_path = {p.rel_path: p for p in export.photos}
    assert set(by_path) == {
        "photos/photo_1@01-05-2024_10-00-00.jpg",
        "photos/photo_2@01-05-2024_11-00-00.jpg",
    }
    first = by_path["photos/photo_1@01-05-2024_10-00-00.jpg"]
    assert first.account == "101" and first.caption == "with mum and @olena_k"
    assert first.tagged == [Tag("102"), Tag("@olena_k")]
    assert first.posted_at == "2024-05-01T10:00:00+00:00"
    # Service messages and text-only messages are skipped quietly; the placeholder is one
    # summary line, never a problem per message; result.json itself is no "skipped file".
    assert [p.item for p in export.problems] == ["result.json"]
    assert "File not included" in export.problems[0].message


def test_folder_of_chat_exports_is_read_as_one_root(tmp_path: Path) -> None:
    write_tg_single(tmp_path / "ChatExport_a", _family_chat()[:2])
    write_tg_single(tmp_path / "ChatExport_b", _family_chat()[2:3])
    export = read_export(tmp_path)
    assert export.layout == "telegram"
    assert sorted(p.rel_path.split("/")[0] for p in export.photos) == [
        "ChatExport_a",
        "ChatExport_b",
    ]


def test_full_account_export_reads_chats_and_contacts_phones(tmp_path: Path) -> None:
    contacts = [
        {
            "user_id": 102,
            "first_name": "Maria",
            "last_name": "Petrenko",
            "phone_number": "+380 50 111 22 33",
            "date": "2023-01-01T00:00:00",
            "date_unixtime": "1672531200",
        },
        {
            "first_name": "",
            "last_name": "",
            "phone_number": "",
            "date": "2023-01-01T00:00:00",
            "date_unixtime": "1672531200",
        },
    ]
    chat = tg_chat(
        [tg_message(7, 101, "Ivan", "chats/chat_001/photos/photo_7@01-05-2024_10-00-00.jpg")]
    )
    write_tg_full(tmp_path / "DataExport_2024-05-02", contacts, [chat])
    export = read_export(tmp_path / "DataExport_2024-05-02")
    accounts = {a.external_id: a for a in export.accounts}
    assert accounts["102"].contacts == {"phone": "+380 50 111 22 33"}
    assert accounts["102"].name == "Maria Petrenko"
    assert accounts["900"].contacts == {"phone": "+380 44 000 00 00", "telegram": "@team_phone"}
    assert [(p.account, p.rel_path) for p in export.photos] == [
        ("101", "chats/chat_001/photos/photo_7@01-05-2024_10-00-00.jpg")
    ]


def test_result_json_cut_mid_message_keeps_what_came_before_and_says_where(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "ChatExport_cut"
    result = write_tg_single(folder, _family_chat()[:3])
    text = result.read_text("utf-8")
    cut = text.index('"id": 3')  # inside the third message
    result.write_text(text[: cut + 12], "utf-8")
    export = read_export(folder)
    assert [p.account for p in export.photos] == ["101"]
    (problem,) = [p for p in export.problems if p.item.startswith("result.json:near byte")]
    assert "after message 2" in problem.message and "'Family'" in problem.message


def test_message_naming_a_missing_photo_is_a_problem_with_its_message_id(tmp_path: Path) -> None:
    folder = tmp_path / "ChatExport_missing"
    write_tg_single(folder, _family_chat()[1:3])
    (folder / "photos" / "photo_2@01-05-2024_11-00-00.jpg").unlink()
    export = read_export(folder)
    assert [p.rel_path for p in export.photos] == ["photos/photo_1@01-05-2024_10-00-00.jpg"]
    problems = {p.item: p.message for p in export.problems}
    assert "is not there" in problems["result.json:message 3"]


def test_photo_path_escaping_the_export_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "ChatExport_escape"
    jpeg(tmp_path / "outside.jpg")
    folder.mkdir()
    chat = tg_chat([tg_message(9, 101, "Ivan", "../outside.jpg")])
    (folder / "result.json").write_text(json.dumps(chat), "utf-8")
    export = read_export(folder)
    assert export.photos == []
    assert "escapes" in {p.item: p.message for p in export.problems}["result.json:message 9"]
