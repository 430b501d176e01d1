"""VK API exports (issue 13 #1, #3, #6): declared relatives, tag positions, bad items."""

from __future__ import annotations

from pathlib import Path

from tool_formats import jpeg, vk_photo, vk_user, write_vk_api

from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.tags import Relative, Tag


def _export(root: Path, **kwargs: object) -> Path:
    users = [
        vk_user(
            1001,
            "Ivan",
            "Petrenko",
            domain="ivan.petrenko",
            city={"id": 280, "title": "Kharkiv"},
            relation=4,
            relation_partner={"id": 1004, "first_name": "Anna", "last_name": "P"},
            relatives=[
                {"id": 1002, "type": "parent"},
                {"id": 1003, "type": "sibling"},
                {"id": -5, "type": "child", "name": "Petro"},
            ],
        ),
        vk_user(1002, "Maria", "Petrenko"),
    ]
    photos = {
        1001: [vk_photo(1001, 501, text="with mum"), vk_photo(1001, 502, album=-6)],
        1002: [vk_photo(1002, 601)],
    }
    tags = {
        "1001_501": [
            {
                "user_id": 1002,
                "id": 1,
                "placer_id": 1001,
                "tagged_name": "Maria",
                "x": 10.0,
                "y": 20.0,
                "x2": 30.0,
                "y2": 60.0,
                "viewed": 1,
            }
        ]
    }
    return write_vk_api(root, users, photos, tags, **kwargs)  # type: ignore[arg-type]


def test_vk_api_export_reads_relatives_partner_city_and_tag_frames(tmp_path: Path) -> None:
    export = read_export(_export(tmp_path / "vk"))
    assert export.layout == "vk-api"
    ivan = next(a for a in export.accounts if a.external_id == "1001")
    assert (ivan.platform, ivan.name, ivan.city) == ("vk", "Ivan Petrenko", "Kharkiv")
    assert ivan.url == "https://vk.com/ivan.petrenko"
    # A relative VK knows only by name (no account id) is not a link to anyone.
    assert ivan.relatives == [
        Relative("1002", "parent"),
        Relative("1003", "sibling"),
        Relative("1004", "partner"),
    ]
    photos = {p.rel_path: p for p in export.photos}
    tagged = photos["images/1001_501.jpg"]
    assert tagged.caption == "with mum" and tagged.post_url == "https://vk.com/photo1001_501"
    # The rectangle as VK gives it (percent -> fractions), not reduced to its centre.
    assert tagged.tagged == [Tag("1002", frame=(0.1, 0.2, 0.3, 0.6))]
    assert photos["images/1001_502.jpg"].kind == "profile"
    assert export.problems == []


def test_missing_image_and_image_without_record_are_each_a_problem(tmp_path: Path) -> None:
    root = _export(tmp_path / "vk", skip_images=frozenset({"1002_601"}))
    jpeg(root / "images" / "1001_999.jpg")
    export = read_export(root)
    problems = {p.item: p.message for p in export.problems}
    assert "images/1002_601.* is not there" in problems["photos/1002.json:item 1"]
    assert "no photos.getAll record" in problems["images/1001_999.jpg"]
    assert len(export.photos) == 2


def test_truncated_photos_file_costs_only_that_user(tmp_path: Path) -> None:
    root = _export(tmp_path / "vk")
    cut = root / "photos" / "1002.json"
    cut.write_text(cut.read_text("utf-8")[:40], "utf-8")
    export = read_export(root)
    problems = {p.item: p.message for p in export.problems}
    assert "not valid JSON" in problems["photos/1002.json"]
    assert "line 1, column" in problems["photos/1002.json"]
    assert {p.account for p in export.photos} == {"1001"}
