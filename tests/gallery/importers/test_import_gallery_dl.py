"""gallery-dl downloads (issue 13 #1, #2, #5, #6): the metadata, not the folder, names whose."""

from __future__ import annotations

from pathlib import Path

from tool_formats import gdl_file, gdl_instagram, gdl_vk, jpeg

from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.tags import Tag


def _tool_root(root: Path) -> Path:
    vk = root / "vk" / "ivan.petrenko"
    gdl_file(vk / "456239017.jpg", gdl_vk(1001, "ivan.petrenko", "Ivan Petrenko", 456239017))
    gdl_file(vk / "456239018.jpg", gdl_vk(1001, "ivan.petrenko", "Ivan Petrenko", 456239018))
    (vk / "info.json").write_text('{"user": {"id": "1001"}, "category": "vk"}', "utf-8")
    insta = root / "instagram" / "olena.k"
    gdl_file(
        insta / "3100000000000000002.jpg",
        gdl_instagram(
            55501,
            "olena.k",
            "Olena Koval",
            "C1abc",
            [{"id": "55502", "username": "taras.k", "full_name": "Taras"}],
        ),
    )
    other = root / "twitter" / "someone"
    gdl_file(other / "1.jpg", {"category": "twitter", "tweet_id": 1})
    return root


def test_tool_root_reads_vk_and_instagram_accounts_by_platform_user_id(tmp_path: Path) -> None:
    export = read_export(_tool_root(tmp_path / "gallery-dl"))
    assert export.layout == "gallery-dl"
    accounts = {(a.platform, a.external_id): a for a in export.accounts}
    assert set(accounts) == {("vk", "1001"), ("instagram", "55501")}
    assert accounts[("vk", "1001")].name == "Ivan Petrenko"
    assert accounts[("vk", "1001")].extra == {"username": "ivan.petrenko"}
    photos = {p.rel_path: p for p in export.photos}
    vk_photo = photos["vk/ivan.petrenko/456239017.jpg"]
    assert vk_photo.post_url == "https://vk.com/photo1001_456239017"
    insta = photos["instagram/olena.k/3100000000000000002.jpg"]
    assert (insta.account, insta.caption) == ("55501", "at grandma's")
    assert insta.posted_at == "2024-05-01T10:00:00"
    assert insta.tagged == [Tag("55502")]
    # info.json is a side file; another site is one summary line, not a line per file.
    assert [(p.item, p.message) for p in export.problems] == [
        ("gallery-dl:twitter", "1 file from site 'twitter': only vk and instagram are read")
    ]


def test_any_folder_below_the_tool_root_is_read_as_gallery_dl(tmp_path: Path) -> None:
    root = _tool_root(tmp_path / "gallery-dl")
    for below in (root / "vk", root / "vk" / "ivan.petrenko"):
        export = read_export(below)
        assert export.layout == "gallery-dl"
        assert {(a.platform, a.external_id) for a in export.accounts} == {("vk", "1001")}


def test_metadata_without_file_and_file_without_metadata_are_problems(tmp_path: Path) -> None:
    root = _tool_root(tmp_path / "gallery-dl")
    vk = root / "vk" / "ivan.petrenko"
    gdl_file(vk / "9.jpg", gdl_vk(1001, "ivan.petrenko", "Ivan Petrenko", 9), write_image=False)
    jpeg(vk / "10.jpg")
    bad = vk / "11.jpg"
    jpeg(bad)
    bad.with_name("11.jpg.json").write_text('{"category": "vk", "user": {"id": ', "utf-8")
    export = read_export(root)
    problems = {p.item: p.message for p in export.problems}
    assert "without its file" in problems["vk/ivan.petrenko/9.jpg.json"]
    assert "--write-metadata" in problems["vk/ivan.petrenko/10.jpg"]
    assert "not valid JSON" in problems["vk/ivan.petrenko/11.jpg.json"]
    assert len([p for p in export.photos if p.platform == "vk"]) == 2


def test_instagram_description_mentions_are_tags(tmp_path: Path) -> None:
    folder = tmp_path / "gallery-dl" / "instagram" / "olena.k"
    meta = gdl_instagram(
        55501, "olena.k", "Olena Koval", "C1abc",
        [{"id": "55502", "username": "taras.k", "full_name": "Taras"}],
    ) | {"description": "з @taras.k та @Nina_P 🎉 (@olena.k)"}  # fmt: skip
    gdl_file(folder / "3100000000000000002.jpg", meta)
    export = read_export(tmp_path / "gallery-dl")
    (photo,) = export.photos
    # Taras is tagged already; the poster's own handle is no mention.
    assert photo.tagged == [Tag("55502"), Tag("@nina_p")]
