"""What sources declare: relatives on a profile, and the face a positioned tag points at.

A VK profile's ``relatives`` (and ``relation_partner``) say what another account is to the
account holder; :func:`kinship_of` turns the declared type into the kin engine's vocabulary
(``nextofkin.kin.cues``), seen from the person. A tag with a position (instaloader's x/y point,
VK's box) says which face of a joint photo is the tagged account: :func:`face_under` picks it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nextofkin.gallery.tags import Tag
from nextofkin.kin.cues import inverse

# VK's relative types (and "partner" for relation_partner) -> what the relative is to the holder.
_KINSHIP = {
    "child": "child",
    "parent": "parent",
    "sibling": "sibling",
    "grandparent": "grandparent",
    "grandchild": "grandchild",
    "partner": "spouse",
}

# People tap a tag on the face or on the body below it; how far below a face (in face heights)
# and how far aside (in face widths) a point still belongs to that face.
BELOW_FACES = 3.0
ASIDE_FACES = 0.75
# A tag's box belongs to a face when it covers at least this share of the face box.
MIN_BOX_COVER = 0.5


def kinship_of(declared_type: str, *, declared_by_person: bool) -> str:
    """What the related account is to the person, from a declared type.

    ``declared_by_person``: the person's profile lists the other account with this type (the
    other account *is* the type); otherwise the other account lists the person (the person is
    the type, so the other account is its inverse). Unknown types are ``family``.
    """
    term = _KINSHIP.get(declared_type, "family")
    return term if declared_by_person else inverse(term)


@dataclass(frozen=True)
class FaceBox:
    """A detected face of an image, in the image's pixels."""

    face_id: int
    left: float
    top: float
    right: float
    bottom: float


def face_under(tag: Tag, faces: Sequence[FaceBox], width: int, height: int) -> int | None:
    """The face a positioned tag points at, or None (no position, or no face near it).

    A point inside a face box is that face (the nearest centre when boxes overlap); a point
    below a face, within its shoulders, is that face too (people tap on the body). A box (or a
    frame, a box in fractions of the image) is the face it covers most (at least half of it),
    the one nearer its middle on a tie; a box that covers no face is read as a point at its
    centre (a small rectangle drawn on the body).
    """
    if tag.point is not None:
        if width <= 0 or height <= 0:
            return None
        return _under_point(faces, tag.point[0] * width, tag.point[1] * height)
    box = tag.box
    if box is None and tag.frame is not None and width > 0 and height > 0:
        left, top, right, bottom = tag.frame
        box = (left * width, top * height, right * width, bottom * height)
    if box is None:
        return None
    covered = _under_box(faces, box)
    if covered is not None:
        return covered
    return _under_point(faces, (box[0] + box[2]) / 2, (box[1] + box[3]) / 2)


def _under_point(faces: Sequence[FaceBox], px: float, py: float) -> int | None:
    inside = [f for f in faces if f.left <= px <= f.right and f.top <= py <= f.bottom]
    if inside:
        return min(inside, key=lambda f: _distance(f, px, py)).face_id
    below = []
    for f in faces:
        w, h = f.right - f.left, f.bottom - f.top
        aside = abs(px - (f.left + f.right) / 2) / max(w, 1e-6)
        if f.bottom < py <= f.bottom + BELOW_FACES * h and aside <= ASIDE_FACES:
            below.append((aside, (py - f.bottom) / max(h, 1e-6), f.face_id))
    return min(below)[2] if below else None


def _under_box(faces: Sequence[FaceBox], box: tuple[float, float, float, float]) -> int | None:
    left, top, right, bottom = box
    centre = (left + right) / 2
    best: tuple[float, float, int] | None = None
    for f in faces:
        ix = max(0.0, min(right, f.right) - max(left, f.left))
        iy = max(0.0, min(bottom, f.bottom) - max(top, f.top))
        cover = ix * iy / max(1e-6, (f.right - f.left) * (f.bottom - f.top))
        if cover < MIN_BOX_COVER:
            continue
        # A loose box may cover a neighbour's face too: the face nearer its middle wins.
        key = (round(cover, 1), -abs((f.left + f.right) / 2 - centre), f.face_id)
        if best is None or key[:2] > best[:2]:
            best = key
    return best[2] if best else None


def _distance(f: FaceBox, px: float, py: float) -> float:
    return ((f.left + f.right) / 2 - px) ** 2 + ((f.top + f.bottom) / 2 - py) ** 2
