"""Post-mortem degradations: deterministic, named, composable, and doing what they say."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage import data

from nextofkin.errors import InputError
from nextofkin.evaluation import degrade


@pytest.fixture(scope="module")
def face() -> np.ndarray:
    # The astronaut's portrait, cut to LFW-like framing (250x250, face centred).
    img = data.astronaut()[0:300, 100:400]
    import cv2

    return np.ascontiguousarray(cv2.resize(img, (250, 250), interpolation=cv2.INTER_AREA))


ALL = degrade.single_conditions() + degrade.combined_conditions()


@pytest.mark.parametrize("name", ALL)
def test_every_condition_is_deterministic_and_changes_the_image(
    face: np.ndarray, name: str
) -> None:
    cond = degrade.condition(name)
    a = cond.apply(face, seed=7, key="x/y.jpg")
    b = cond.apply(face, seed=7, key="x/y.jpg")
    assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert np.array_equal(a, b)
    assert a.shape != face.shape or not np.array_equal(a, face)


def test_seed_and_key_change_random_conditions(face: np.ndarray) -> None:
    cond = degrade.condition("lowlight")
    a = cond.apply(face, seed=1, key="k")
    assert not np.array_equal(a, cond.apply(face, seed=2, key="k"))
    assert not np.array_equal(a, cond.apply(face, seed=1, key="other"))


def test_quarter_turns_compose_to_identity(face: np.ndarray) -> None:
    out = degrade.condition("rot90+rot270").apply(face, seed=0, key="k")
    assert np.array_equal(out, face)
    twice = degrade.condition("rot90+rot90").apply(face, seed=0, key="k")
    assert np.array_equal(twice, degrade.condition("rot180").apply(face, seed=0, key="k"))


def test_low_light_is_dark_and_grey_blue_is_blue(face: np.ndarray) -> None:
    dark = degrade.condition("lowlight").apply(face, seed=0, key="k")
    assert dark.mean() < 0.35 * face.mean()
    gb = degrade.condition("greyblue").apply(face, seed=0, key="k").astype(float)
    assert gb[..., 2].mean() > gb[..., 0].mean()
    grey = degrade.condition("desaturate").apply(face, seed=0, key="k")
    assert np.array_equal(grey[..., 0], grey[..., 1])


def test_blur_removes_detail(face: np.ndarray) -> None:
    import cv2

    def detail(img: np.ndarray) -> float:
        return float(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), cv2.CV_64F).var())

    for name in ("defocus", "motion"):
        assert detail(degrade.condition(name).apply(face, seed=0, key="k")) < 0.5 * detail(face)


def test_small_face_scale(face: np.ndarray) -> None:
    out = degrade.condition("small").apply(face, seed=0, key="k")
    expected = round(250 * degrade.SMALL_FACE_EYE_PX / degrade.LFW_EYE_OUTER_PX)
    assert out.shape[:2] == (expected, expected)


def test_occlusion_covers_lower_face_only(face: np.ndarray) -> None:
    out = degrade.condition("occlusion").apply(face, seed=0, key="k")
    changed = np.any(out != face, axis=2)
    rows = np.flatnonzero(changed.any(axis=1))
    assert rows.min() >= 0.55 * 250 and rows.max() <= 0.85 * 250


def test_unknown_condition_names_the_known_ones() -> None:
    with pytest.raises(InputError, match="rot90"):
        degrade.condition("rot45")


@given(st.lists(st.sampled_from(degrade.single_conditions()), min_size=1, max_size=3))
@settings(max_examples=25, deadline=None)
def test_any_chain_is_valid(names: list[str]) -> None:
    img = (np.arange(64 * 64 * 3) % 251).astype(np.uint8).reshape(64, 64, 3)
    out = degrade.condition("+".join(names)).apply(img, seed=3, key="k")
    assert out.dtype == np.uint8 and out.ndim == 3
