"""Owner resolution on controlled vectors."""

from __future__ import annotations

import numpy as np

from nextofkin.gallery.owners import FaceView, resolve_roles
from nextofkin.gallery.records import FaceRole

SAME = 0.82


def _person(rng: np.random.Generator) -> np.ndarray:
    v = rng.normal(size=128)
    return v / np.linalg.norm(v)


def _noisy(v: np.ndarray, rng: np.random.Generator, noise: float = 0.25) -> np.ndarray:
    w = v + rng.normal(size=128) * noise / np.sqrt(128)
    return (w / np.linalg.norm(w)).astype(np.float32)


def _face(
    fid: int, image: int, vector: np.ndarray, *, area: float = 100.0, profile: bool = False
) -> FaceView:
    return FaceView(fid, image, vector, area, 0.8, 0.8, profile)


def test_recurring_face_is_the_owner_and_others_are_companions() -> None:
    rng = np.random.default_rng(3)
    owner, mother, friend = _person(rng), _person(rng), _person(rng)
    faces = [
        _face(1, 10, _noisy(owner, rng)),
        _face(2, 10, _noisy(mother, rng), area=400),  # bigger face, but appears once
        _face(3, 11, _noisy(owner, rng)),
        _face(4, 11, _noisy(friend, rng)),
        _face(5, 12, _noisy(owner, rng), area=50),
    ]
    roles = {d.face_id: d.role for d in resolve_roles(faces, SAME)}
    assert roles == {
        1: FaceRole.OWNER,
        2: FaceRole.COMPANION,
        3: FaceRole.OWNER,
        4: FaceRole.COMPANION,
        5: FaceRole.OWNER,
    }


def test_single_face_in_one_photo_account_is_the_owner() -> None:
    rng = np.random.default_rng(4)
    decisions = resolve_roles([_face(1, 10, _noisy(_person(rng), rng))], SAME)
    assert decisions[0].role == FaceRole.OWNER


def test_one_group_photo_gives_the_most_prominent_face() -> None:
    rng = np.random.default_rng(5)
    faces = [
        _face(1, 10, _noisy(_person(rng), rng), area=90),
        _face(2, 10, _noisy(_person(rng), rng), area=400),
    ]
    roles = {d.face_id: d.role for d in resolve_roles(faces, SAME)}
    assert roles == {1: FaceRole.COMPANION, 2: FaceRole.OWNER}


def test_no_recurring_face_and_no_profile_is_unknown() -> None:
    rng = np.random.default_rng(6)
    faces = [_face(i, 10 + i, _noisy(_person(rng), rng)) for i in range(3)]
    assert {d.role for d in resolve_roles(faces, SAME)} == {FaceRole.UNKNOWN}


def test_profile_photo_decides_when_nothing_recurs() -> None:
    rng = np.random.default_rng(7)
    faces = [
        _face(1, 10, _noisy(_person(rng), rng), profile=True),
        _face(2, 11, _noisy(_person(rng), rng)),
    ]
    roles = {d.face_id: d.role for d in resolve_roles(faces, SAME)}
    assert roles[1] == FaceRole.OWNER and roles[2] == FaceRole.COMPANION


def test_look_alike_in_the_same_image_is_not_the_owner() -> None:
    """A sibling close enough to join the owner's cluster: the face most like the owner's
    faces in other images is the owner, however prominent the sibling is."""
    rng = np.random.default_rng(8)
    owner = _person(rng)
    sibling = _noisy(owner, rng, noise=0.55)
    faces = [
        _face(1, 10, _noisy(owner, rng, 0.2), area=100),
        _face(2, 10, sibling, area=400),
        _face(3, 11, _noisy(owner, rng, 0.2)),
    ]
    assert float(sibling @ faces[2].vector) > SAME
    roles = {d.face_id: d.role for d in resolve_roles(faces, SAME)}
    assert roles == {1: FaceRole.OWNER, 2: FaceRole.COMPANION, 3: FaceRole.OWNER}
