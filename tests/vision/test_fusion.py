"""Fusion as one vector (vision/fusion.py): the packed chips and the fused cosine.

No model is needed: the parts are small embedders written here, so every property is checked
exactly, on random inputs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nextofkin.errors import ModelError
from nextofkin.vision.fusion import ChipLayout, FusedEmbedder, FusionPart, register_fusion
from nextofkin.vision.models import (
    Embedder,
    EmbedderSpec,
    ModelRegistry,
    l2_normalise,
    quality_chip,
)
from nextofkin.vision.types import Points, RGBImage


class _Linear:
    """A stand-in embedder: a fixed random projection of its chip's pixels, then unit length."""

    def __init__(self, size: int, dim: int, seed: int) -> None:
        self.size = size
        self.matrix = np.random.default_rng(seed).normal(size=(size * size * 3, dim))
        self.spec = EmbedderSpec(f"linear-{seed}", dim, f"box{size}", 0.5, 0.6)

    def align(self, image: RGBImage, landmarks: Points) -> RGBImage:
        top, left = (int(v) for v in landmarks[0])
        return np.ascontiguousarray(image[top : top + self.size, left : left + self.size])

    def embed(self, chips: Sequence[RGBImage]) -> np.ndarray:
        flat = np.stack([c.reshape(-1) for c in chips]).astype(np.float64) / 255.0
        return l2_normalise(flat @ self.matrix)


def _fused(wa: float, wb: float) -> tuple[FusedEmbedder, _Linear, _Linear]:
    first, second = _Linear(6, 5, 1), _Linear(4, 3, 2)
    spec = EmbedderSpec("fused-test", 8, "box6+box4", 0.5, 0.6)
    fused = FusedEmbedder(
        [(first, FusionPart("a", (6, 6), wa)), (second, FusionPart("b", (4, 4), wb))], spec
    )
    return fused, first, second


def _image(seed: int) -> RGBImage:
    return np.random.default_rng(seed).integers(0, 256, (12, 12, 3), dtype=np.uint8)


POINTS = np.array([[1.0, 2.0]] * 5, dtype=np.float32)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.05, 20.0),
    st.floats(0.05, 20.0),
    st.integers(0, 10_000),
    st.integers(0, 10_000),
)
def test_fused_cosine_is_the_weighted_mean_of_the_parts(
    wa: float, wb: float, s1: int, s2: int
) -> None:
    fused, first, second = _fused(wa, wb)
    x, y = _image(s1), _image(s2)
    fx, fy = fused.embed([fused.align(x, POINTS), fused.align(y, POINTS)])
    assert np.linalg.norm(fx) == pytest.approx(1.0, abs=1e-5)
    d = float(first.embed([first.align(x, POINTS)])[0] @ first.embed([first.align(y, POINTS)])[0])
    m = float(
        second.embed([second.align(x, POINTS)])[0] @ second.embed([second.align(y, POINTS)])[0]
    )
    assert float(fx @ fy) == pytest.approx((wa * d + wb * m) / (wa + wb), abs=1e-5)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 9), st.integers(1, 9)), min_size=2, max_size=4))
def test_pack_unpack_and_mirror(shapes: list[tuple[int, int]]) -> None:
    layout = ChipLayout(tuple(shapes))
    rng = np.random.default_rng(len(shapes))
    chips = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in shapes]
    packed = layout.pack(chips)
    for got, want in zip(layout.unpack(packed), chips, strict=True):
        assert np.array_equal(got, want)
    # Centred parts: mirroring the pack mirrors each part in place, when each part's margin is
    # even on both sides (odd margins shift by one column, so the layout check uses equal ones).
    if all((layout.width - w) % 2 == 0 for _, w in shapes):
        mirrored = layout.unpack(np.ascontiguousarray(packed[:, ::-1]))
        for got, want in zip(mirrored, chips, strict=True):
            assert np.array_equal(got, want[:, ::-1])


def test_quality_is_measured_on_the_first_part() -> None:
    fused, first, _ = _fused(1.0, 1.0)
    x = _image(3)
    assert np.array_equal(quality_chip(fused, fused.align(x, POINTS)), first.align(x, POINTS))
    assert quality_chip(first, first.align(x, POINTS)) is not None


def test_bad_chips_and_weights_are_refused() -> None:
    fused, _, _ = _fused(1.0, 1.0)
    with pytest.raises(ModelError):
        fused.embed([np.zeros((5, 5, 3), np.uint8)])
    with pytest.raises(ModelError):
        ChipLayout(((2, 2), (3, 3))).pack([np.zeros((2, 2, 3), np.uint8)] * 2)
    first, second = _Linear(6, 5, 1), _Linear(4, 3, 2)
    spec = EmbedderSpec("f", 8, "x", 0.5, 0.6)
    with pytest.raises(ModelError):
        FusedEmbedder(
            [(first, FusionPart("a", (6, 6), 0.0)), (second, FusionPart("b", (4, 4), 1))], spec
        )


def test_registered_fusion_checks_its_dimension() -> None:
    registry = ModelRegistry()
    registry.add_embedder("a", lambda: _Linear(6, 5, 1))
    registry.add_embedder("b", lambda: _Linear(4, 3, 2))
    parts = [FusionPart("a", (6, 6), 1.0), FusionPart("b", (4, 4), 2.0)]
    register_fusion(registry, "good", parts, EmbedderSpec("g", 8, "x", 0.5, 0.6))
    register_fusion(registry, "bad", parts, EmbedderSpec("b", 9, "x", 0.5, 0.6))
    embedder: Embedder = registry.embedder("good")
    assert embedder.spec.dim == 8
    with pytest.raises(ModelError):
        registry.embedder("bad")
