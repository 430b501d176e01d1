"""The sample gallery generator: reproducible, a valid manifest export, faces where truth says."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nextofkin.errors import InputError
from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.tags import parse_tags
from nextofkin.kin.declared import FaceBox, face_under
from nextofkin.kin.sample.generate import generate

pytestmark = pytest.mark.lfw


def _files(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


@pytest.fixture(scope="module")
def gallery(lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("sample") / "g"
    generate(lfw_dir / "images", root, seed=11, accounts=6, density=0.5)
    return root


def test_same_seed_gives_identical_bytes(gallery: Path, lfw_dir: Path, tmp_path: Path) -> None:
    again = tmp_path / "again"
    generate(lfw_dir / "images", again, seed=11, accounts=6, density=0.5, workers=2)
    assert _files(again) == _files(gallery)
    other = tmp_path / "other"
    generate(lfw_dir / "images", other, seed=12, accounts=6, density=0.5)
    assert (other / "accounts.jsonl").read_bytes() != (gallery / "accounts.jsonl").read_bytes()


def test_export_reads_as_a_manifest_without_errors(gallery: Path) -> None:
    export = read_export(gallery)
    assert len(export.accounts) == 6
    assert not export.problems
    rows = [json.loads(line) for line in (gallery / "accounts.jsonl").read_text().splitlines()]
    assert all(row["contacts"] is not None for row in rows)
    assert any(row.get("friends") for row in rows)


def test_truth_describes_every_photo_and_face(gallery: Path) -> None:
    truth = json.loads((gallery / "truth.json").read_text(encoding="utf-8"))
    photos = {
        json.loads(line)["path"] for line in (gallery / "photos.jsonl").read_text().splitlines()
    }
    assert {p["path"] for p in truth["photos"]} == photos
    assert set(truth["accounts"]) == {
        json.loads(line)["account"]
        for line in (gallery / "accounts.jsonl").read_text().splitlines()
    }
    family = [r for r in truth["relations"] if r["type"] != "friend"]
    assert family, "a gallery without families tests nothing"
    for photo in truth["photos"]:
        with Image.open(gallery / photo["path"]) as img:
            assert img.size == (photo["width"], photo["height"])
        for face in photo["faces"]:
            left, top, right, bottom = face["box"]
            assert 0 <= left < right <= photo["width"] and 0 <= top < bottom <= photo["height"]
            # Detectable sizes (the ingest upsamples pictures under 800 px once).
            assert right - left >= (60 if max(photo["width"], photo["height"]) < 800 else 88)
    # Owners appear in their own accounts.
    for account, pid in truth["accounts"].items():
        own = [p for p in truth["photos"] if p["account"] == account]
        assert any(f["person"] == pid for p in own for f in p["faces"]) or all(
            not p["faces"] for p in own
        )


def test_refuses_a_folder_that_holds_something_else(lfw_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    with pytest.raises(InputError):
        generate(lfw_dir / "images", tmp_path, seed=1, accounts=3)


@pytest.mark.models
def test_hog_finds_the_composited_faces(gallery: Path) -> None:
    import dlib

    detector = dlib.get_frontal_face_detector()
    truth = json.loads((gallery / "truth.json").read_text(encoding="utf-8"))
    found = total = 0
    for photo in [p for p in truth["photos"] if len(p["faces"]) >= 2][:6]:
        pixels = np.asarray(Image.open(gallery / photo["path"]).convert("RGB"))
        upsample = 1 if max(pixels.shape[:2]) < 800 else 0
        rects = detector(pixels, upsample)
        for face in photo["faces"]:
            total += 1
            cx = (face["box"][0] + face["box"][2]) / 2
            cy = (face["box"][1] + face["box"][3]) / 2
            found += any(r.left() <= cx <= r.right() and r.top() <= cy <= r.bottom() for r in rects)
    assert total >= 4
    assert found >= 0.9 * total


def test_declared_relatives_are_true_relatives_but_for_the_noise_truth_names(
    gallery: Path,
) -> None:
    truth = json.loads((gallery / "truth.json").read_text(encoding="utf-8"))
    rows = [json.loads(line) for line in (gallery / "accounts.jsonl").read_text().splitlines()]
    in_manifest = {
        (row["account"], rel["account"], rel["type"])
        for row in rows
        for rel in row.get("relatives", ())
    }
    declared = truth["declared_relatives"]
    assert declared, "a gallery without declared relatives tests nothing"
    assert in_manifest == {(d["account"], d["relative"], d["type"]) for d in declared}
    related = {
        frozenset((r["a_account"], r["b_account"]))
        for r in truth["relations"]
        if r["type"] not in ("friend", "in_law")
    }
    for d in declared:
        assert (frozenset((d["account"], d["relative"])) in related) == (
            d["truth"] not in ("friend", "none")
        )


def test_positioned_tags_point_at_the_tagged_persons_face(gallery: Path) -> None:
    truth = json.loads((gallery / "truth.json").read_text(encoding="utf-8"))
    lines = [json.loads(line) for line in (gallery / "photos.jsonl").read_text().splitlines()]
    manifest = {line["path"]: parse_tags(line.get("tagged")) for line in lines}
    checked = 0
    for photo in truth["photos"]:
        faces = [FaceBox(i, *face["box"]) for i, face in enumerate(photo["faces"])]
        for tag, told in zip(manifest[photo["path"]], photo["tagged"], strict=True):
            assert tag.account == told["account"]
            if told["form"] == "plain":
                assert tag.point is None and tag.box is None
                continue
            found = face_under(tag, faces, photo["width"], photo["height"])
            assert found is not None
            assert photo["faces"][found]["person"] == told["person"]
            checked += 1
    assert checked, "a gallery without positioned tags tests nothing"
