"""Flip test-time augmentation: the wrapper's vectors and its separate spec."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from skimage import data as skdata

from nextofkin.errors import NextOfKinError
from nextofkin.gallery.index import FaissIndex
from nextofkin.settings import IndexSettings, VisionSettings
from nextofkin.vision.flip import FLIP_SUFFIX, plain_embedder_name
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.vision.registry import default_registry

pytestmark = pytest.mark.models


def test_plain_name_strips_only_the_flip_suffix() -> None:
    assert plain_embedder_name("dlib-resnet-onnx" + FLIP_SUFFIX) == "dlib-resnet-onnx"
    assert plain_embedder_name("dlib-resnet-onnx") == "dlib-resnet-onnx"


def test_flip_form_has_its_own_name_and_its_base_geometry() -> None:
    spec = default_registry().embedder("dlib-resnet-onnx-flip").spec
    plain = default_registry().embedder("dlib-resnet-onnx").spec
    assert spec.name != plain.name
    assert (spec.dim, spec.alignment) == (plain.dim, plain.alignment)


def test_flip_vector_is_the_mean_of_both_views_on_a_real_face() -> None:
    registry = default_registry()
    plain_pipeline = FacePipeline.from_settings(
        VisionSettings(embedder="dlib-resnet-onnx"), registry
    )
    found = plain_pipeline.analyse(np.ascontiguousarray(skdata.astronaut()), keep_chips=True)
    face = max(found.faces, key=lambda f: f.detection_score)
    assert face.chip is not None
    plain = registry.embedder("dlib-resnet-onnx")
    flipped = registry.embedder("dlib-resnet-onnx-flip")
    a = plain.embed([face.chip])[0]
    b = plain.embed([np.ascontiguousarray(face.chip[:, ::-1])])[0]
    expected = (a + b) / np.linalg.norm(a + b)
    got = flipped.embed([face.chip])[0]
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert abs(float(np.linalg.norm(got)) - 1.0) < 1e-5
    # A real change, not the plain vector again: the mirror is a different view.
    assert float(a @ got) < 0.9999
    # Batches: several chips give the same vectors as one at a time.
    both = flipped.embed([face.chip, face.chip[::-1].copy()])
    np.testing.assert_allclose(both[0], got, atol=1e-5)
    assert flipped.embed([]).shape == (0, 128)


def test_an_index_of_plain_vectors_refuses_flip_vectors(tmp_path: Path) -> None:
    registry = default_registry()
    plain_spec = registry.embedder("dlib-resnet-onnx").spec
    flip_spec = registry.embedder("dlib-resnet-onnx-flip").spec
    index = FaissIndex.create(tmp_path / "index", plain_spec, policy=IndexSettings())
    index.save()
    with pytest.raises(NextOfKinError, match=r"dlib-resnet-v1\+flip"):
        FaissIndex.open(tmp_path / "index", flip_spec, policy=IndexSettings())
