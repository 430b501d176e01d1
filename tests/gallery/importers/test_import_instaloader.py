"""instaloader profile folders (issue 13 #1, #5, #6): metadata, positions, profile picture."""

from __future__ import annotations

from pathlib import Path

from tool_formats import insta_post, insta_profile, insta_tag, jpeg

from nextofkin.gallery.importers.common import caption_mentions
from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.tags import Tag


def _download(root: Path) -> Path:
    olena = root / "olena.k"
    olena.mkdir(parents=True)
    insta_profile(olena, "olena.k", 55501, "Olena Koval")
    insta_post(
        olena,
        "2024-05-01_10-00-00",
        (55501, "olena.k"),
        "C1abc",
        "with my brother",
        [insta_tag(55502, "taras.k", 0.25, 0.5)],
    )
    insta_post(
        olena,
        "2024-05-02_10-00-00",
        (55501, "olena.k"),
        "C2def",
        "holidays",
        [],
        slides=[[insta_tag(None, "taras.k", 0.7, 0.4)], []],
    )
    jpeg(olena / "2024-01-01_00-00-00_UTC_profile_pic.jpg", 5)
    (olena / "2024-05-01_10-00-00_UTC_comments.json").write_text("[]", "utf-8")
    (olena / "2024-05-01_10-00-00_UTC.mp4").write_bytes(b"\x00")
    taras = root / "taras.k"
    taras.mkdir()
    insta_profile(taras, "taras.k", 55502, "Taras Koval")
    return root


def test_instaloader_download_reads_owner_caption_shortcode_and_tag_points(tmp_path: Path) -> None:
    export = read_export(_download(tmp_path / "dl"))
    assert export.layout == "instaloader"
    accounts = {a.external_id: a for a in export.accounts}
    assert accounts["55501"].name == "Olena Koval"
    assert accounts["55501"].platform == "instagram"
    assert accounts["55501"].extra == {"username": "olena.k", "biography": "Kharkiv"}
    photos = {p.rel_path.split("/")[1]: p for p in export.photos}
    post = photos["2024-05-01_10-00-00_UTC.jpg"]
    assert (post.account, post.caption) == ("55501", "with my brother")
    assert post.post_url == "https://www.instagram.com/p/C1abc/"
    assert post.posted_at == "2024-05-01T10:00:00+00:00"
    assert post.tagged == [Tag("55502", point=(0.25, 0.5))]
    # A slide's tag is that slide's; a tag by handle resolves to the id this export knows.
    assert photos["2024-05-02_10-00-00_UTC_1.jpg"].tagged == [Tag("55502", point=(0.7, 0.4))]
    assert photos["2024-05-02_10-00-00_UTC_2.jpg"].tagged == []
    assert photos["2024-01-01_00-00-00_UTC_profile_pic.jpg"].kind == "profile"
    # Captions (.txt), comments, videos and the id file are side files: never reported.
    assert export.problems == []


def test_one_profile_folder_is_read_as_root(tmp_path: Path) -> None:
    export = read_export(_download(tmp_path / "dl") / "olena.k")
    assert export.layout == "instaloader"
    assert {p.account for p in export.photos} == {"55501"}


def test_truncated_json_xz_is_a_problem_and_its_photo_still_ingested(tmp_path: Path) -> None:
    root = _download(tmp_path / "dl")
    node = root / "olena.k" / "2024-05-01_10-00-00_UTC.json.xz"
    node.write_bytes(node.read_bytes()[:30])
    export = read_export(root)
    problems = {p.item: p.message for p in export.problems}
    assert "xz" in problems["olena.k/2024-05-01_10-00-00_UTC.json.xz"]
    photo = next(p for p in export.photos if p.rel_path.endswith("10-00-00_UTC.jpg"))
    assert photo.account == "55501" and photo.caption is None and photo.kind == "post"


def test_metadata_without_its_image_is_a_problem(tmp_path: Path) -> None:
    root = _download(tmp_path / "dl")
    insta_post(
        root / "olena.k",
        "2024-06-01_10-00-00",
        (55501, "olena.k"),
        "C3",
        "x",
        [],
        write_images=False,
    )
    export = read_export(root)
    problems = {p.item: p.message for p in export.problems}
    assert "without its photo" in problems["olena.k/2024-06-01_10-00-00_UTC.json.xz"]


def test_caption_mentions_are_tags_without_a_position(tmp_path: Path) -> None:
    root = _download(tmp_path / "dl")
    insta_post(
        root / "olena.k",
        "2024-05-03_10-00-00",
        (55501, "olena.k"),
        "C3ghi",
        "З @Taras.K і @nina_p, пишіть на olena@mail.ua (@olena.k це я)",
        [insta_tag(55502, "taras.k", 0.3, 0.5)],
    )
    export = read_export(root)
    post = next(p for p in export.photos if p.rel_path.endswith("2024-05-03_10-00-00_UTC.jpg"))
    # Taras is tagged already (by id, with his point); Nina is not in this download; an e-mail
    # address and the poster's own handle are no mention.
    assert post.tagged == [Tag("55502", point=(0.3, 0.5)), Tag("@nina_p")]


def test_caption_mentions_reads_handles_once_and_in_order() -> None:
    assert caption_mentions("@b hi @a. and @B again, x@y.z") == ["b", "a"]
    assert caption_mentions(None) == []
