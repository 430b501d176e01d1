"""dlib's MMOD detector with its network on ONNX Runtime: the same detections as dlib's."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nextofkin.vision.dlib_models import MmodDetector
from nextofkin.vision.dlib_onnx import convert, dat, mmod, specs
from nextofkin.vision.dlib_onnx.runtime import OnnxMmodDetector
from nextofkin.vision.registry import default_registry
from nextofkin.vision.types import Detection

LFW_IMAGES = int(os.environ.get("NEXTOFKIN_LFW_DETECT", "12"))
MAX_BOX_PX = 2.0


@pytest.fixture(scope="module")
def detector(tmp_path_factory: pytest.TempPathFactory) -> OnnxMmodDetector:
    return OnnxMmodDetector(cache_dir=tmp_path_factory.mktemp("onnx-cache"))


@pytest.fixture(scope="module")
def dlib_mmod() -> MmodDetector:
    return MmodDetector()


def lfw_images(lfw_dir: Path, count: int, offset: int = 0) -> list[np.ndarray]:
    people = sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir())
    photos = [sorted(p.glob("*.jpg"))[0] for p in people[offset : offset + count]]
    return [np.asarray(Image.open(p).convert("RGB")) for p in photos]


def group_photo(images: list[np.ndarray], cols: int) -> np.ndarray:
    """Several LFW photos side by side (rows of ``cols``), like a group photo."""
    rows = [np.concatenate(images[i : i + cols], axis=1) for i in range(0, len(images), cols)]
    return np.ascontiguousarray(np.concatenate(rows, axis=0))


def assert_same(ours: list[Detection], theirs: list[Detection]) -> None:
    assert len(ours) == len(theirs), (ours, theirs)
    key = lambda d: (d.box.top, d.box.left)  # noqa: E731
    for a, b in zip(sorted(ours, key=key), sorted(theirs, key=key), strict=True):
        for x, y in zip(a.box.as_list(), b.box.as_list(), strict=True):
            assert abs(x - y) <= MAX_BOX_PX, (a, b)
        assert abs(a.score - b.score) < 1e-3


def test_reader_consumes_the_whole_mmod_file() -> None:
    import face_recognition_models

    data = Path(face_recognition_models.cnn_face_detector_model_location()).read_bytes()
    net = dat.parse(data, specs.mmod_spec())
    assert isinstance(net.loss, dat.MmodLoss)
    assert net.loss.windows == [(80, 80)]
    assert net.input.padding == 10
    assert net.input.outer_padding == 11
    assert sum(isinstance(layer.spec, dat.Conv) for layer in net.layers) == 7


def test_pyramid_layout_matches_dlibs_rules() -> None:
    rects, nr, nc = mmod.pyramid_levels(250, 250, 10, 11)
    assert (rects[0].left, rects[0].top, rects[0].width, rects[0].height) == (11, 11, 250, 250)
    sizes = [(r.height, r.width) for r in rects]
    assert sizes[:4] == [(250, 250), (208, 208), (173, 173), (144, 144)]
    assert min(h for h, _ in sizes) >= mmod.MIN_LEVEL_HEIGHT
    assert nc == 250 + 22
    for r in rects:  # every level inside the tensor, none overlapping another
        assert r.left >= 0 and r.right < nc and r.top >= 0 and r.bottom < nr
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert a.right < b.left or b.right < a.left or a.bottom < b.top or b.bottom < a.top


def test_pyramid_up_size() -> None:
    up = mmod.pyramid_up(np.zeros((10, 20, 3), np.uint8))
    assert up.shape == (21, 42, 3)


def test_nms_uses_dlibs_bounding_box_iou() -> None:
    a = mmod.Rect(0, 0, 9, 9)
    b = mmod.Rect(5, 0, 14, 9)  # true IoU 50/150 = 0.33; dlib's 50/150 too (same rows)
    assert not mmod._overlaps(a, b, 0.34, 1.0)
    c = mmod.Rect(5, 5, 14, 14)  # inner 25, bounding box 225: 0.11 (true IoU 0.14)
    assert not mmod._overlaps(a, c, 0.12, 1.0)
    assert mmod._overlaps(a, c, 0.10, 1.0)


def test_registry_names_the_onnx_detector() -> None:
    registry = default_registry()
    assert "mmod-onnx" in registry.names()["detectors"]
    found = registry.detector("mmod-onnx")
    assert isinstance(found, OnnxMmodDetector)
    assert found.threads == 1


@pytest.mark.models
def test_conversion_is_verified(tmp_path: Path) -> None:
    converted = convert.ensure_model("mmod", tmp_path)
    assert converted.info["reference_max_abs"] < 1e-4
    assert converted.path.name.startswith("dlib-mmod-")


@pytest.mark.models
def test_blank_and_tiny_images_have_no_faces(detector: OnnxMmodDetector) -> None:
    assert detector.detect(np.full((120, 160, 3), 128, np.uint8)) == []
    assert detector.detect(np.zeros((3, 3, 3), np.uint8)) == []


@pytest.mark.models
@pytest.mark.lfw
@pytest.mark.slow
@pytest.mark.parametrize("upsample", [0, 1])
def test_same_detections_as_dlib_on_lfw(
    lfw_dir: Path, detector: OnnxMmodDetector, dlib_mmod: MmodDetector, upsample: int
) -> None:
    images = lfw_images(lfw_dir, LFW_IMAGES)
    batched = detector.detect_many(images, upsample)
    found = 0
    for image, ours in zip(images, batched, strict=True):
        theirs = dlib_mmod.detect(image, upsample)
        assert_same(ours, theirs)
        found += len(theirs)
    assert found >= len(images) * 0.9  # LFW photos are of faces


@pytest.mark.models
@pytest.mark.lfw
@pytest.mark.slow
def test_same_detections_as_dlib_on_group_photos(
    lfw_dir: Path, detector: OnnxMmodDetector, dlib_mmod: MmodDetector
) -> None:
    images = lfw_images(lfw_dir, 12, offset=100)
    groups = [group_photo(images[:6], 3), group_photo(images[6:12], 2)]
    for group in groups:
        theirs = dlib_mmod.detect(group, 0)
        assert len(theirs) >= 5
        assert_same(detector.detect(group, 0), theirs)
    # A smaller group photo upsampled once, as ingest does for small photos.
    small = group_photo([np.asarray(Image.fromarray(i).resize((125, 125))) for i in images[:4]], 2)
    assert_same(detector.detect(small, 1), dlib_mmod.detect(small, 1))


@pytest.mark.models
@pytest.mark.lfw
def test_tiling_gives_the_untiled_detections(
    lfw_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    images = lfw_images(lfw_dir, 9, offset=200)
    group = group_photo(images, 3)  # 750x750: a 6x6 grid of tiles below
    cache = tmp_path_factory.mktemp("onnx-cache-tiles")
    whole = OnnxMmodDetector(cache_dir=cache)
    tiled = OnnxMmodDetector(cache_dir=cache, max_tile_pixels=200 * 200, tile_cells=16)
    a = whole.raw_detections([group])[0]
    b = tiled.raw_detections([group])[0]
    assert len(a) >= 8
    assert [r for r, _ in a] == [r for r, _ in b]
    np.testing.assert_allclose([s for _, s in a], [s for _, s in b], atol=1e-4)


@pytest.mark.models
@pytest.mark.lfw
def test_batches_of_mixed_sizes(lfw_dir: Path, detector: OnnxMmodDetector) -> None:
    images = lfw_images(lfw_dir, 4, offset=300)
    mixed = [images[0], images[1][:200, :180], images[2], images[3][:200, :180]]
    together = detector.detect_many(mixed)
    alone = [detector.detect(image) for image in mixed]
    assert together == alone
