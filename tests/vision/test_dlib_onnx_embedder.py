"""dlib's ResNet on ONNX Runtime: the .dat reader, the cached conversion, and equality with dlib."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nextofkin.errors import ModelError
from nextofkin.vision.dlib_models import DLIB_RESNET_SPEC, DlibFivePoint, DlibResnetEmbedder
from nextofkin.vision.dlib_onnx import convert, dat, specs
from nextofkin.vision.dlib_onnx.runtime import OnnxResnetEmbedder
from nextofkin.vision.registry import default_registry
from nextofkin.vision.types import Box

# 1,000 LFW faces, as the issue asks (about 2-3 minutes, most of it in dlib-bin's reference run);
# NEXTOFKIN_LFW_FACES=200 for a quicker local run.
LFW_FACES = int(os.environ.get("NEXTOFKIN_LFW_FACES", "1000"))
MAX_COSINE_DISTANCE = 1e-4


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("onnx-cache")


def test_reader_consumes_the_whole_resnet_file() -> None:
    import face_recognition_models

    data = Path(face_recognition_models.face_recognition_model_location()).read_bytes()
    net = dat.parse(data, specs.resnet_spec())
    convs = [layer for layer in net.layers if isinstance(layer.spec, dat.Conv)]
    assert len(convs) == 29
    assert convs[0].weights["weight"].shape == (32, 3, 7, 7)
    assert net.input.size == (150, 150)
    assert net.input.mean == pytest.approx((122.782, 117.001, 104.298), abs=1e-4)


def test_reader_refuses_another_network() -> None:
    import face_recognition_models

    data = Path(face_recognition_models.cnn_face_detector_model_location()).read_bytes()
    with pytest.raises(dat.DatFormatError):
        dat.parse(data, specs.resnet_spec())


def test_reader_refuses_a_truncated_file() -> None:
    import face_recognition_models

    data = Path(face_recognition_models.face_recognition_model_location()).read_bytes()
    with pytest.raises(dat.DatFormatError):
        dat.parse(data[: len(data) // 2], specs.resnet_spec())


@pytest.mark.models
def test_conversion_is_verified_and_cached_by_hash(cache_dir: Path) -> None:
    first = convert.ensure_model("resnet", cache_dir)
    assert first.path.is_file()
    assert first.info["dlib_max_cosine_distance"] < 1e-5
    assert first.info["reference_max_abs"] < 1e-4
    assert first.info["source_sha256"][:16] in first.path.name
    mtime = first.path.stat().st_mtime_ns
    second = convert.ensure_model("resnet", cache_dir)
    assert second.path == first.path
    assert second.path.stat().st_mtime_ns == mtime  # not converted again


def test_unknown_network_is_an_error(cache_dir: Path) -> None:
    with pytest.raises(ModelError):
        convert.ensure_model("vgg", cache_dir)


def test_registry_names_the_onnx_embedder() -> None:
    registry = default_registry()
    assert "dlib-resnet-onnx" in registry.names()["embedders"]
    embedder = registry.embedder("dlib-resnet-onnx")
    assert embedder.spec == DLIB_RESNET_SPEC  # same vectors, same label
    assert isinstance(embedder, OnnxResnetEmbedder)
    assert embedder.threads == 1


@pytest.mark.models
def test_empty_batch(cache_dir: Path) -> None:
    out = OnnxResnetEmbedder(cache_dir=cache_dir).embed([])
    assert out.shape == (0, 128)


@pytest.mark.models
def test_wrong_chip_size_is_an_error(cache_dir: Path) -> None:
    with pytest.raises(ModelError):
        OnnxResnetEmbedder(cache_dir=cache_dir).embed([np.zeros((112, 112, 3), np.uint8)])


def lfw_chips(lfw_dir: Path, count: int) -> list[np.ndarray]:
    """``count`` aligned chips from LFW (first photo of each person, in name order)."""
    landmarks = DlibFivePoint()
    # LFW's deep-funneled photos are 250x250 with the face roughly centred in this box.
    box = Box(70, 70, 180, 180)
    people = sorted(p for p in (lfw_dir / "images").iterdir() if p.is_dir())
    chips = []
    embedder = DlibResnetEmbedder()
    for person in people:
        photo = sorted(person.glob("*.jpg"))[0]
        image = np.asarray(Image.open(photo).convert("RGB"))
        chips.append(embedder.align(image, landmarks.locate(image, box)))
        if len(chips) == count:
            break
    return chips


@pytest.mark.models
@pytest.mark.lfw
@pytest.mark.slow
def test_embeddings_equal_dlibs_on_lfw(lfw_dir: Path, cache_dir: Path) -> None:
    chips = lfw_chips(lfw_dir, LFW_FACES)
    ours = OnnxResnetEmbedder(cache_dir=cache_dir, batch_size=32).embed(chips)
    theirs = DlibResnetEmbedder().embed(chips)
    assert ours.shape == theirs.shape == (len(chips), 128)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    distance = 1.0 - (ours * theirs).sum(axis=1)
    print(f"\n{len(chips)} LFW faces: max cosine distance {distance.max():.2e}")
    assert distance.max() < MAX_COSINE_DISTANCE


@pytest.mark.models
def test_batches_give_the_same_vectors_as_single_chips(cache_dir: Path) -> None:
    rng = np.random.default_rng(3)
    chips = [rng.integers(0, 256, (150, 150, 3), dtype=np.uint8) for _ in range(5)]
    embedder = OnnxResnetEmbedder(cache_dir=cache_dir, batch_size=2)
    together = embedder.embed(chips)
    alone = np.concatenate([embedder.embed([c]) for c in chips])
    np.testing.assert_allclose(together, alone, atol=1e-5)
