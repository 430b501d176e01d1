"""The face pipeline on real faces with the real dlib models."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data as skdata

from nextofkin.errors import ModelError, NoFaceFound
from nextofkin.settings import VisionSettings
from nextofkin.vision.pipeline import FacePipeline, equalise, rotate_view
from nextofkin.vision.registry import default_registry
from nextofkin.vision.types import Detection

pytestmark = pytest.mark.models


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline.from_settings(VisionSettings(), default_registry())


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    return np.ascontiguousarray(skdata.astronaut())


def test_finds_and_embeds_the_astronaut(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    found = pipeline.analyse(astronaut)
    # HOG upsampled once (the 512 px photo is below upsample_below) also fires weakly on the
    # badges of her suit, as it does for face_recognition; the face is the confident detection.
    assert 1 <= len(found.faces) <= 3
    face = max(found.faces, key=lambda f: f.detection_score)
    assert face.detection_score > 0.8
    assert all(f.detection_score < 0.7 for f in found.faces if f is not face)
    assert face.embedding.shape == (pipeline.embedder.spec.dim,)
    assert abs(float(np.linalg.norm(face.embedding)) - 1.0) < 1e-4
    assert face.landmarks.shape == (5, 2)
    assert 0.0 < face.quality.overall <= 1.0
    # The face is in the upper middle of the picture.
    assert 100 < (face.box.left + face.box.right) / 2 < 300
    assert face.box.top < 250


@pytest.mark.parametrize("turns", [1, 2, 3])
def test_probe_lying_at_quarter_turns_is_found(
    pipeline: FacePipeline, astronaut: np.ndarray, turns: int
) -> None:
    upright = pipeline.analyse(astronaut).faces[0]
    probe = np.ascontiguousarray(np.rot90(astronaut, k=turns))
    found = pipeline.analyse_probe(probe)
    face = max(found.faces, key=lambda f: f.detection_score)
    assert float(face.embedding @ upright.embedding) > 0.95
    # Landmarks are reported in the probe's own frame: they lie inside the face box there.
    assert face.box.left - 5 <= face.landmarks[:, 0].min()
    assert face.landmarks[:, 0].max() <= face.box.right + 5


@pytest.mark.parametrize("angle", [30, -30, 45])
def test_tilted_probe_is_found(pipeline: FacePipeline, astronaut: np.ndarray, angle: int) -> None:
    upright = pipeline.analyse(astronaut).faces[0]
    probe = rotate_view(astronaut, angle).pixels
    found = pipeline.analyse_probe(probe)
    assert max(float(f.embedding @ upright.embedding) for f in found.faces) > 0.9


def test_dark_probe_is_found(pipeline: FacePipeline, astronaut: np.ndarray) -> None:
    dark = (astronaut.astype(np.float32) * 0.12).astype(np.uint8)
    found = pipeline.analyse_probe(dark)
    assert found.faces


def test_no_face_says_what_was_tried(pipeline: FacePipeline) -> None:
    blank = np.full((200, 200, 3), 128, dtype=np.uint8)
    with pytest.raises(NoFaceFound) as info:
        pipeline.analyse_probe(blank)
    tried = info.value.tried
    assert any("rotated 90°" in t for t in tried)
    assert any("rotated 30°" in t for t in tried)
    assert any("contrast-equalised" in t for t in tried)
    assert "tried" in str(info.value)


def test_equalise_keeps_shape() -> None:
    image = np.random.default_rng(1).integers(0, 60, (50, 70, 3), dtype=np.uint8)
    out = equalise(image)
    assert out.shape == image.shape
    assert out.mean() > image.mean()


class _Blind:
    """A detector that never finds anything (stands in for HOG on a face it cannot see)."""

    name = "blind"

    def detect(self, image: np.ndarray, upsample: int = 0) -> list[Detection]:
        return []


def test_fallback_detector_runs_only_when_the_first_finds_nothing(astronaut: np.ndarray) -> None:
    registry = default_registry()
    settings = VisionSettings()
    assert settings.probe_fallback_detector == "mmod-onnx"
    blind = FacePipeline(
        settings,
        _Blind(),
        registry.landmarks(settings.landmarks),
        registry.embedder(settings.embedder),
        registry.detector("mmod-onnx"),
    )
    found = blind.analyse_probe(astronaut)
    assert found.faces and any(t.startswith("mmod") for t in found.tried)
    assert any(t.startswith("blind") for t in found.tried)

    normal = FacePipeline.from_settings(settings, registry)
    assert not any(t.startswith("mmod") for t in normal.analyse_probe(astronaut).tried)
    # Gallery ingest never uses it.
    assert not blind.analyse(astronaut).faces


def test_no_fallback_when_switched_off_and_a_clear_error_for_an_unknown_one() -> None:
    settings = VisionSettings(probe_fallback_detector=None)
    assert FacePipeline.from_settings(settings, default_registry()).fallback_detector is None
    unknown = VisionSettings(probe_fallback_detector="nonesuch")
    with pytest.raises(ModelError, match="unknown detector 'nonesuch'"):
        FacePipeline.from_settings(unknown, default_registry())
