"""The in-memory search engine on synthetic identities (no models needed)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nextofkin.evaluation.cache import CachedFace, FaceCache, ImageFaces
from nextofkin.evaluation.engine import (
    EngineOptions,
    ProbeInput,
    build_gallery,
    gallery_impostor_top1,
    run_searches,
)
from nextofkin.evaluation.metrics import open_set

DIM = 16


def _face(
    vec: np.ndarray, box: tuple[float, float, float, float] = (40, 40, 110, 110)
) -> CachedFace:
    unit = (vec / np.linalg.norm(vec)).astype(np.float32)
    return CachedFace(
        box=list(box),
        landmarks=[[60, 60], [70, 60], [90, 60], [80, 60], [75, 80]],
        detection_score=0.9,
        quality=0.8,
        size=1.0,
        sharpness=0.8,
        pose=0.9,
        eye_distance_px=30.0,
        rotation=0,
        embedding=unit,
        flipped=unit,
    )


def _image(*faces: CachedFace) -> ImageFaces:
    return ImageFaces(150, 150, list(faces))


@pytest.fixture
def world() -> tuple[list[tuple[str, list[ImageFaces]]], list[ProbeInput]]:
    """40 identities with a shared common component (as dlib's vectors have), 30 enrolled."""
    rng = np.random.default_rng(0)
    common = rng.normal(size=DIM) * 3
    ids = [common + rng.normal(size=DIM) for _ in range(40)]
    gallery = [(f"acc{i}", [_image(_face(ids[i] + 0.3 * rng.normal(size=DIM)))]) for i in range(30)]
    probes = [
        ProbeInput(
            f"p{i}",
            f"acc{i}" if i < 30 else None,
            [_image(_face(ids[i] + 0.3 * rng.normal(size=DIM)))],
        )
        for i in range(40)
    ]
    probes.append(ProbeInput("blank", "acc0", [ImageFaces(150, 150, [], error="no face found")]))
    return gallery, probes


@pytest.mark.parametrize(
    "options",
    [
        EngineOptions(),
        EngineOptions(flip=True),
        EngineOptions(normalise="snorm", cohort=10),
        EngineOptions(centre="mean"),
        EngineOptions(centre="whiten"),
    ],
    ids=lambda o: o.label(),
)
def test_searches_find_mates(world: tuple, options: EngineOptions) -> None:
    gallery_in, probes = world
    gallery = build_gallery(gallery_in, options)
    searches = run_searches(gallery, probes, options)
    res = open_set(searches)
    assert res.mated_searches == 31 and res.mated_failures == 1
    assert res.rank1 == pytest.approx(30 / 31)
    assert searches[-1].error == "no face found" and not searches[-1].candidates
    assert all(len(s.candidates) <= options.top for s in searches)
    assert all(
        [c.score for c in s.candidates] == sorted((c.score for c in s.candidates), reverse=True)
        for s in searches
    )


def test_centring_separates_strangers_more(world: tuple) -> None:
    gallery_in, probes = world
    gaps = {}
    for centre in ("none", "mean"):
        options = EngineOptions(centre=centre)
        gallery = build_gallery(gallery_in, options)
        searches = run_searches(gallery, probes, options)
        mated = np.mean([s.candidates[0].score for s in searches if s.mate and s.candidates])
        strangers = np.mean([s.candidates[0].score for s in searches if s.mate is None])
        gaps[centre] = (mated - strangers) / np.std(
            [s.candidates[0].score for s in searches if s.candidates]
        )
    assert gaps["mean"] > gaps["none"]


def test_owner_is_the_prominent_face_and_impostors_leave_self_out(world: tuple) -> None:
    gallery_in, _ = world
    rng = np.random.default_rng(5)
    # acc0's photo also shows a small companion at the edge: the owner is the big central face.
    owner_face = gallery_in[0][1][0].faces[0]
    companion = _face(rng.normal(size=DIM), box=(0, 0, 20, 20))
    gallery_in = [("acc0", [_image(companion, owner_face)]), *gallery_in[1:]]
    options = EngineOptions()
    gallery = build_gallery(gallery_in, options)
    assert len(gallery.vectors) == 30
    assert np.allclose(gallery.vectors[0], owner_face.embedding)
    top1 = gallery_impostor_top1(gallery, options)
    assert len(top1) == 30
    assert np.all(top1 < 0.999)  # never the account's own face


def test_cache_round_trip(tmp_path: Path) -> None:
    cache = FaceCache(tmp_path / "c.sqlite")
    face = _face(np.arange(DIM, dtype=np.float32) + 1)
    items = [
        ("a", _image(face, face)),
        ("b", ImageFaces(10, 10, [], error="no face found", tried=6)),
    ]
    cache.put_many(items)
    got = cache.get_many(["a", "b", "c"])
    assert set(got) == {"a", "b"}
    assert got["b"].error == "no face found" and got["b"].tried == 6
    assert np.array_equal(got["a"].faces[1].embedding, face.embedding)
    assert got["a"].faces[0].box == face.box
