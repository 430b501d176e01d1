"""Jittered probe chips: a fixed set of small copies, averaged into the probe's vector."""

from __future__ import annotations

import numpy as np
import pytest
from skimage import data as skdata

from nextofkin.settings import VisionSettings
from nextofkin.vision.jitter import VARIANTS, jittered
from nextofkin.vision.models import default_registry
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.vision.types import Face


def test_copies_are_fixed_small_and_the_same_size() -> None:
    chip = np.random.default_rng(0).integers(0, 255, (150, 150, 3), dtype=np.uint8)
    first = jittered(chip, len(VARIANTS))
    again = jittered(chip, len(VARIANTS))
    assert len(first) == len(VARIANTS)
    for a, b in zip(first, again, strict=True):
        assert a.shape == chip.shape and a.dtype == np.uint8
        np.testing.assert_array_equal(a, b)
        assert not np.array_equal(a, chip)
    assert jittered(chip, 0) == []


@pytest.mark.models
def test_jitter_changes_only_probe_vectors_and_only_slightly() -> None:
    registry = default_registry()
    image = np.ascontiguousarray(skdata.astronaut())
    plain = FacePipeline.from_settings(VisionSettings(), registry)
    jitter = FacePipeline.from_settings(VisionSettings(probe_jitter=4), registry)

    def face(faces: list[Face]) -> np.ndarray:
        return max(faces, key=lambda f: f.box.width).embedding

    base = face(plain.analyse_probe(image).faces)
    averaged = face(jitter.analyse_probe(image).faces)
    assert 0.98 < float(base @ averaged) < 1.0
    assert float(np.linalg.norm(averaged)) == pytest.approx(1.0, abs=1e-5)
    # Gallery faces are never jittered.
    np.testing.assert_array_equal(
        face(plain.analyse(image).faces), face(jitter.analyse(image).faces)
    )
