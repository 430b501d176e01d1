"""The ONNX model pack: loading, SCRFD decoding, ArcFace alignment and the pipeline plumbing,
with tiny ONNX graphs that the tests build themselves (no outside weights)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from nextofkin.errors import ModelError, ModelMismatch
from nextofkin.gallery.index import IndexDescription
from nextofkin.settings import VisionSettings
from nextofkin.vision import onnx_pack
from nextofkin.vision.dlib_models import DLIB_RESNET_SPEC
from nextofkin.vision.models import ModelRegistry
from nextofkin.vision.pipeline import FacePipeline

DET_SIZE = 32
STRIDES = (8, 16)
DIM = 8


def _save(graph: onnx.GraphProto, path: Path) -> Path:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def make_recogniser(path: Path, seed: int = 0) -> Path:
    """Nx3x112x112 -> 4x4 average pool per channel -> linear map to DIM."""
    rng = np.random.default_rng(seed)
    weight = rng.normal(size=(48, DIM)).astype(np.float32)
    nodes = [
        helper.make_node(
            "AveragePool", ["data"], ["pooled"], kernel_shape=[28, 28], strides=[28, 28]
        ),
        helper.make_node("Flatten", ["pooled"], ["flat"], axis=1),
        helper.make_node("MatMul", ["flat", "w"], ["embedding"]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny-arcface",
        [helper.make_tensor_value_info("data", TensorProto.FLOAT, ["N", 3, 112, 112])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["N", DIM])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    return _save(graph, path)


def detector_outputs() -> list[np.ndarray]:
    """Raw outputs with one face at anchor 5 of stride 8 and a weaker overlapping one at 6."""
    n8, n16 = (DET_SIZE // 8) ** 2, (DET_SIZE // 16) ** 2
    s8 = np.full((n8, 1), 0.01, np.float32)
    s16 = np.full((n16, 1), 0.01, np.float32)
    b8 = np.ones((n8, 4), np.float32)
    b16 = np.ones((n16, 4), np.float32)
    k8 = np.zeros((n8, 10), np.float32)
    k16 = np.zeros((n16, 10), np.float32)
    s8[5] = 0.9  # cell (1, 1): centre (8, 8)
    s8[6] = 0.8  # cell (2, 1): centre (16, 8), box (4, 0, 20, 16): IoU 0.6 with the first
    b8[6] = [1.5, 1.0, 0.5, 1.0]
    # Five points, as offsets from the centre in stride units: two eyes, nose, mouth corners.
    k8[5] = [-0.4, -0.2, 0.4, -0.2, 0.0, 0.2, -0.3, 0.5, 0.3, 0.5]
    return [s8, s16, b8, b16, k8, k16]


def make_detector(path: Path) -> Path:
    """A graph whose outputs are fixed tensors (plus 0 x the input's mean, so it is used)."""
    outs = detector_outputs()
    names = ["score_8", "score_16", "bbox_8", "bbox_16", "kps_8", "kps_16"]
    nodes = [
        helper.make_node("ReduceMean", ["input"], ["mean"], keepdims=0),
        helper.make_node("Mul", ["mean", "zero"], ["nothing"]),
    ]
    inits = [numpy_helper.from_array(np.array(0.0, np.float32), "zero")]
    for name, value in zip(names, outs, strict=True):
        inits.append(numpy_helper.from_array(value, f"{name}_c"))
        nodes.append(helper.make_node("Add", [f"{name}_c", "nothing"], [name]))
    graph = helper.make_graph(
        nodes,
        "tiny-scrfd",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, DET_SIZE, DET_SIZE])],
        [
            helper.make_tensor_value_info(n, TensorProto.FLOAT, list(v.shape))
            for n, v in zip(names, outs, strict=True)
        ],
        initializer=inits,
    )
    return _save(graph, path)


@pytest.fixture
def pack_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "pack"
    directory.mkdir()
    make_detector(directory / "det.onnx")
    make_recogniser(directory / "rec.onnx")
    manifest = {
        "name": "tiny",
        "detector": {
            "file": "det.onnx",
            "input_size": DET_SIZE,
            "strides": list(STRIDES),
            "anchors": 1,
            "score_threshold": 0.5,
        },
        "recogniser": {"file": "rec.onnx", "dim": DIM},
    }
    (directory / "pack.json").write_text(json.dumps(manifest))
    return directory


def test_read_pack_and_errors(pack_dir: Path, tmp_path: Path) -> None:
    pack = onnx_pack.read_pack(pack_dir)
    assert pack.name == "tiny" and pack.detector.strides == STRIDES and pack.recogniser.dim == DIM
    with pytest.raises(ModelError, match=r"pack\.json is missing"):
        onnx_pack.read_pack(tmp_path)
    bad = json.loads((pack_dir / "pack.json").read_text())
    bad["recogniser"]["shape_guess"] = True
    (pack_dir / "pack.json").write_text(json.dumps(bad))
    with pytest.raises(ModelError, match="unknown keys shape_guess"):
        onnx_pack.read_pack(pack_dir)
    del bad["recogniser"]["shape_guess"]
    bad["recogniser"]["file"] = "missing.onnx"
    (pack_dir / "pack.json").write_text(json.dumps(bad))
    with pytest.raises(ModelError, match=r"missing\.onnx not found"):
        onnx_pack.read_pack(pack_dir)


def test_detector_decodes_boxes_landmarks_and_suppresses_overlaps(pack_dir: Path) -> None:
    detector = onnx_pack.ScrfdDetector(onnx_pack.read_pack(pack_dir).detector)
    image = np.zeros((64, 48, 3), np.uint8)  # letterboxed: scale 32/64 = 0.5
    found = detector.detect(image)
    assert len(found) == 1  # the 0.8 anchor overlaps the 0.9 one at IoU 0.6
    det = found[0]
    assert det.score == pytest.approx(0.9)
    # Box (0, 0, 16, 16) in the 32-px input is (0, 0, 32, 32) in the image.
    assert [det.box.left, det.box.top, det.box.right, det.box.bottom] == pytest.approx(
        [0, 0, 32, 32]
    )
    assert det.landmarks is not None
    # Left eye: centre (8, 8) + (-0.4, -0.2) * 8 = (4.8, 6.4) in the input, x2 in the image.
    assert det.landmarks[0] == pytest.approx([9.6, 12.8])


def test_detector_refuses_outputs_that_do_not_fit(pack_dir: Path) -> None:
    detector = onnx_pack.ScrfdDetector(onnx_pack.read_pack(pack_dir).detector)
    with pytest.raises(ModelError, match="outputs"):
        detector.decode(detector_outputs()[:4], 1.0)


def test_alignment_puts_landmarks_on_the_template(pack_dir: Path) -> None:
    embedder = onnx_pack.ArcFaceEmbedder(onnx_pack.read_pack(pack_dir))
    # The template scaled by 2, rotated 25 degrees and shifted: a face larger and tilted.
    angle = np.deg2rad(25)
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    points = (onnx_pack.ARCFACE_TEMPLATE @ rot.T * 2.0 + [60, 40]).astype(np.float32)
    matrix = onnx_pack.similarity_transform(points, onnx_pack.ARCFACE_TEMPLATE)
    mapped = np.hstack([points, np.ones((5, 1))]) @ matrix.T
    assert mapped == pytest.approx(onnx_pack.ARCFACE_TEMPLATE, abs=1e-3)
    image = np.zeros((320, 320, 3), np.uint8)
    x, y = np.round(points[2]).astype(int)  # a bright dot on the nose tip
    image[y - 2 : y + 3, x - 2 : x + 3] = 255
    chip = embedder.align(image, points)
    assert chip.shape == (112, 112, 3)
    tx, ty = np.round(onnx_pack.ARCFACE_TEMPLATE[2]).astype(int)
    assert chip[ty, tx].min() > 200
    with pytest.raises(ModelError, match="5 landmarks"):
        embedder.align(image, points[:3])


def test_embedder_vectors_and_model_label(pack_dir: Path, tmp_path: Path) -> None:
    pack = onnx_pack.read_pack(pack_dir)
    embedder = onnx_pack.ArcFaceEmbedder(pack)
    rng = np.random.default_rng(1)
    chips = [rng.integers(0, 255, (112, 112, 3), dtype=np.uint8) for _ in range(3)]
    vectors = embedder.embed(chips)
    assert vectors.shape == (3, DIM) and vectors.dtype == np.float32
    assert np.linalg.norm(vectors, axis=1) == pytest.approx(np.ones(3), abs=1e-5)
    assert not np.allclose(vectors[0], vectors[1])
    assert embedder.embed([]).shape == (0, DIM)
    # Another recogniser file is another model: its vectors never enter this index.
    make_recogniser(pack_dir / "rec.onnx", seed=2)
    other = onnx_pack.ArcFaceEmbedder(onnx_pack.read_pack(pack_dir))
    assert other.spec.name != embedder.spec.name
    desc = IndexDescription(embedder.spec.name, embedder.spec.alignment, embedder.spec.dim)
    desc.check(embedder.spec)
    with pytest.raises(ModelMismatch):
        desc.check(other.spec)
    with pytest.raises(ModelMismatch):
        desc.check(DLIB_RESNET_SPEC)


def test_registry_and_pipeline_plumbing(pack_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = ModelRegistry()
    monkeypatch.setenv(onnx_pack.PACK_ENV, str(pack_dir))
    onnx_pack.register_configured(registry)
    assert "onnx-pack" in registry.names()["detectors"]
    assert "onnx-pack" in registry.names()["embedders"]

    class NoLandmarks:
        name = "unused"

        def locate(self, image: np.ndarray, box: object) -> np.ndarray:
            raise AssertionError("the pack's detector gives landmarks itself")

    pipeline = FacePipeline(
        VisionSettings(detector="onnx-pack", embedder="onnx-pack"),
        registry.detector("onnx-pack"),
        NoLandmarks(),
        registry.embedder("onnx-pack"),
    )
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)
    found = pipeline.analyse(image)
    assert len(found.faces) == 1
    face = found.faces[0]
    assert face.embedding.shape == (DIM,)
    assert face.landmarks.shape == (5, 2)


def test_broken_pack_leaves_other_models_usable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = ModelRegistry()
    monkeypatch.setenv(onnx_pack.PACK_ENV, str(tmp_path))
    onnx_pack.register_configured(registry)
    with pytest.raises(ModelError, match="unknown embedder 'onnx-pack'"):
        registry.embedder("onnx-pack")
