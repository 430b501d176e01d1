"""MobileFaceNet from ``faceplugin-face-recognition-js`` and the product's fusion, on real faces.

The model tests need the package's ONNX file (``scripts/setup.sh`` unpacks it with npm); where it
is missing they say so and skip, since no stand-in can check the publisher's weights. The
alignment's geometry needs nothing installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data

from nextofkin.errors import ModelError
from nextofkin.settings import VisionSettings
from nextofkin.vision import mobilefacenet as mfn
from nextofkin.vision.onnx_runtime import OnnxRuntime, make_session
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.vision.registry import default_registry

LFW = Path(__file__).resolve().parents[3] / "shared" / "datasets" / "lfw" / "images"
needs_weights = pytest.mark.skipif(
    not mfn.model_path().is_file(),
    reason=f"{mfn.model_path()} missing: scripts/setup.sh unpacks {mfn.NPM_PACKAGE}",
)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(-3.1, 3.1),
    st.floats(0.2, 5.0),
    st.floats(-200, 200),
    st.floats(-200, 200),
)
def test_similarity_transform_recovers_a_known_one(
    angle: float, scale: float, dx: float, dy: float
) -> None:
    src = np.random.default_rng(0).normal(size=(5, 2)) * 40
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    dst = scale * src @ rot.T + [dx, dy]
    m = mfn.similarity_transform(src, dst)
    assert np.allclose(np.c_[src, np.ones(5)] @ m.T, dst, atol=1e-6)


def test_chip_puts_dlib_points_on_the_template() -> None:
    image = data.astronaut()
    # Points already on the template, shifted and doubled: the chip's warp undoes exactly that.
    points = (mfn.DLIB5_IN_ARCFACE112 * 2 + [100, 50]).astype(np.float32)
    m = mfn.similarity_transform(points, mfn.DLIB5_IN_ARCFACE112)
    assert np.allclose(m, [[0.5, 0, -50], [0, 0.5, -25]], atol=1e-5)  # float32 points
    chip = mfn.arcface_chip(image, points)
    assert chip.shape == (112, 112, 3) and chip.dtype == np.uint8
    with pytest.raises(ModelError):
        mfn.arcface_chip(image, points[:3])


@needs_weights
@pytest.mark.models
def test_batched_graph_equals_the_published_one_on_real_chips(tmp_path: Path) -> None:
    image = data.astronaut()
    pipeline = FacePipeline.from_settings(
        VisionSettings(embedder="faceplugin-mfn"), default_registry(VisionSettings(device="cpu"))
    )
    face = pipeline.analyse(image, keep_chips=True).faces[0]
    assert face.chip is not None
    chips = [face.chip, np.ascontiguousarray(face.chip[:, ::-1])]
    x = ((np.stack(chips).astype(np.float32) - 127) / 128).transpose(0, 3, 1, 2)
    runtime = OnnxRuntime("cpu")
    published = make_session(mfn.model_path(), runtime)
    one = np.concatenate(
        [published.run(None, {"input": np.ascontiguousarray(x[i : i + 1])})[0] for i in range(2)]
    )
    batched = make_session(mfn.ensure_batched(tmp_path, runtime), runtime)
    assert np.max(np.abs(batched.run(None, {"input": np.ascontiguousarray(x)})[0] - one)) < 1e-4
    vec = one[0] / np.linalg.norm(one[0])
    assert float(vec @ face.embedding) == pytest.approx(1.0, abs=1e-5)


@needs_weights
def test_other_weights_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    changed = tmp_path / "fr_feature.onnx"
    shutil.copyfile(mfn.model_path(), changed)
    with changed.open("ab") as f:
        f.write(b"\0")
    monkeypatch.setenv(mfn.MODEL_ENV, str(changed))
    with pytest.raises(ModelError, match="SHA-256"):
        mfn.ensure_batched(tmp_path / "cache")
    monkeypatch.setenv(mfn.MODEL_ENV, str(tmp_path / "absent.onnx"))
    with pytest.raises(ModelError, match=r"setup\.sh"):
        mfn.ensure_batched(tmp_path / "cache")


def _lfw(name: str, number: int) -> np.ndarray:
    from PIL import Image

    return np.asarray(Image.open(LFW / name / f"{name}_{number:04d}.jpg").convert("RGB"))


@needs_weights
@pytest.mark.models
@pytest.mark.lfw
@pytest.mark.skipif(not LFW.is_dir(), reason="LFW absent")
def test_fused_vectors_on_lfw_people() -> None:
    """Same person scores above different people, for each part and the fusion, and the fused
    cosine is the weighted mean of the parts' cosines on real faces."""
    registry = default_registry(VisionSettings(device="cpu"))
    pipelines = {
        name: FacePipeline.from_settings(VisionSettings(embedder=name), registry)
        for name in ("dlib-resnet-onnx-flip", "faceplugin-mfn-flip", mfn.FUSED_NAME)
    }
    photos = [_lfw("Colin_Powell", 1), _lfw("Colin_Powell", 2), _lfw("Serena_Williams", 1)]
    vecs = {
        name: [p.analyse(img).faces[0].embedding for img in photos] for name, p in pipelines.items()
    }
    for name, (a, b, c) in vecs.items():
        assert a @ b > a @ c + 0.1, name
        assert a @ b > b @ c + 0.1, name
    a, b = mfn.FUSED_WEIGHT_DLIB, mfn.FUSED_WEIGHT_MFN
    for i, j in ((0, 1), (0, 2), (1, 2)):
        d = vecs["dlib-resnet-onnx-flip"][i] @ vecs["dlib-resnet-onnx-flip"][j]
        m = vecs["faceplugin-mfn-flip"][i] @ vecs["faceplugin-mfn-flip"][j]
        fused = vecs[mfn.FUSED_NAME][i] @ vecs[mfn.FUSED_NAME][j]
        assert float(fused) == pytest.approx(float((a * d + b * m) / (a + b)), abs=1e-5)


@needs_weights
@pytest.mark.models
def test_fused_quality_equals_dlib_quality() -> None:
    registry = default_registry(VisionSettings(device="cpu"))
    image = data.astronaut()
    fused = FacePipeline.from_settings(VisionSettings(embedder=mfn.FUSED_NAME), registry)
    plain = FacePipeline.from_settings(VisionSettings(embedder="dlib-resnet-onnx-flip"), registry)
    got, want = fused.analyse(image).faces[0], plain.analyse(image).faces[0]
    assert got.quality == want.quality
    assert got.embedding.shape == (mfn.FUSED_SPEC.dim,)
    assert fused.embedder.spec.name != plain.embedder.spec.name


def test_new_workspaces_default_to_the_fusion() -> None:
    """The default is the fusion, whose first part (dlib's flip form) also gives face quality."""
    assert VisionSettings().embedder == mfn.FUSED_NAME
    spec = default_registry().embedder(VisionSettings().embedder).spec
    assert spec == mfn.FUSED_SPEC
