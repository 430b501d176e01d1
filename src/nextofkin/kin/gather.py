"""The steps of one kin query, each adding to a :class:`~nextofkin.kin.photos.Gathered`.

1. Companions in the person's photos, resolved to the accounts whose owner they are, unless a
   positioned tag says whose face it is (:func:`add_companions`).
2. The person's own face in other accounts' photos, found gallery-wide through the index and
   kept only where the person's owner face is the nearest of all (:func:`add_appearances`), and
   where a positioned tag of the person points at a face (:func:`add_tagged_appearances`).
3. Explicit links both ways: declared relatives, friend lists, tags (:func:`add_explicit`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin.gallery.records import Face, FaceRole, FaceRoleRecord, Photo
from nextofkin.identify.search import Hit
from nextofkin.kin.declared import FaceBox, kinship_of
from nextofkin.kin.faces import (
    MIN_CONFIDENCE,
    TAG_CONFIDENCE,
    confident,
    nearest_owners,
    similarity_to_owner,
)
from nextofkin.kin.links import AccountInfo, resolve
from nextofkin.kin.photos import (
    Gathered,
    PhotoRow,
    evidence_photo,
    face_boxes,
    image_sizes,
    load_photos,
    pins,
    positioned,
)
from nextofkin.kin.scoring import PERSON, RELATIVE, Declaration


def pins_in_own_photos(
    session: Session, g: Gathered, face_rows: Sequence[Any], photos: list[PhotoRow]
) -> dict[int, tuple[int, str]]:
    """Face id -> (account, "point" or "box"): the person's photos' positioned tags."""
    faces_of: dict[int, list[FaceBox]] = defaultdict(list)
    for r in face_rows:
        faces_of[r.image_id].append(FaceBox(r.id, r.left, r.top, r.right, r.bottom))
    with_positions = {p.image_id: p for p in photos if p.image_id in faces_of and positioned(p)}
    sizes = image_sizes(session, [i for i in with_positions if i is not None])
    mine = g.links.accounts[g.me]
    pinned: dict[int, tuple[int, str]] = {}
    for image, photo in with_positions.items():
        if image is not None:
            pinned |= pins(g.links, mine, photo, faces_of[image], sizes.get(image))
    return pinned


def add_companions(
    g: Gathered,
    companions: Sequence[Any],
    pinned: dict[int, tuple[int, str]],
    by_image: dict[int, PhotoRow],
) -> None:
    """Companions of the person's photos: the account whose owner face is nearest (the person's
    own account left out), unless a positioned tag says whose face it is."""
    resolved: list[tuple[int, float] | None] = [None] * len(companions)
    if companions:
        vectors = np.stack([r.embedding for r in companions]).astype(np.float32)
        for i, near in enumerate(nearest_owners(g.links, vectors, exclude=g.me)):
            if near is not None and confident(g.confidence, near):
                resolved[i] = (near[0], near[1])
    per_image: dict[int, int] = defaultdict(int)
    for r in companions:
        per_image[r.image_id] += 1
    for row, match in zip(companions, resolved, strict=True):
        pin = pinned.get(row.id)
        form: str | None = None
        if pin is not None and pin[0] != g.me:
            other, form = pin
            to_owner = similarity_to_owner(g.links, other, row.embedding)
            sim = to_owner if to_owner is not None else 0.0
            sure = max(TAG_CONFIDENCE, g.confidence(sim) if to_owner is not None else 0.0)
        elif match is None:
            continue
        else:
            other, sim = match
            sure = g.confidence(sim)
            if sure < MIN_CONFIDENCE:
                continue
        photo = by_image.get(row.image_id)
        if photo is not None:
            g.add_joint(other, photo, sure, per_image[row.image_id], appears=False, sim=sim,
                        form=form)  # fmt: skip


def _appearing_faces(g: Gathered, hits: list[list[Hit]]) -> dict[int, dict[int, float]]:
    """Account -> face -> similarity of the non-owner faces the person's search found; owner
    faces close enough to be the person's own go to ``g.same_face``."""
    found: dict[int, dict[int, float]] = defaultdict(dict)
    for row_hits in hits:
        for hit in row_hits:
            if hit.account_id == g.me:
                continue
            if hit.role == FaceRole.OWNER.value:
                if hit.similarity >= g.confidence.same_face:
                    g.same_face[hit.account_id] = max(
                        g.same_face.get(hit.account_id, -1.0), hit.similarity
                    )
                continue
            if g.confidence(hit.similarity) < MIN_CONFIDENCE:
                continue
            faces = found[hit.account_id]
            faces[hit.face_id] = max(faces.get(hit.face_id, -1.0), hit.similarity)
    return found


def add_appearances(session: Session, g: Gathered, hits: list[list[Hit]]) -> None:
    """The person's own face in other accounts' photos (gallery-wide, through the index)."""
    appear_faces = _appearing_faces(g, hits)
    if not appear_faces:
        return
    face_ids = sorted({f for faces in appear_faces.values() for f in faces})
    rows = session.execute(
        select(Face.id, Face.image_id, Face.embedding).where(Face.id.in_(face_ids))
    ).all()
    image_of = {r[0]: r[1] for r in rows}
    # A face in another account's photo is the person only if, among every owner face of the
    # gallery, the person's is its nearest, by a margin: a stranger who merely resembles the
    # person is nearer to someone else (or to no one in particular).
    vectors = np.stack([r[2] for r in rows]).astype(np.float32)
    nearest = dict(zip([r[0] for r in rows], nearest_owners(g.links, vectors), strict=True))
    kept = {
        account: {
            f: s
            for f, s in faces.items()
            if (n := nearest.get(f)) is not None and n[0] == g.me and confident(g.confidence, n)
        }
        for account, faces in appear_faces.items()
    }
    kept = {a: f for a, f in kept.items() if f}
    image_ids = sorted(set(image_of.values()))
    faces_in_image = dict(
        session.execute(
            select(Face.image_id, func.count(Face.id))
            .where(Face.image_id.in_(image_ids))
            .group_by(Face.image_id)
        ).all()
    )
    their_photos = load_photos(
        session, [Photo.image_id.in_(image_ids), Photo.account_id.in_(list(kept))]
    )
    photo_by_key = {(p.account_id, p.image_id): p for p in their_photos}
    for other, faces in kept.items():
        for face_id, sim in faces.items():
            image_id = image_of.get(face_id)
            photo = photo_by_key.get((other, image_id))
            if photo is None or image_id is None:
                continue
            others = faces_in_image.get(image_id, 1) - 1
            g.add_joint(other, photo, g.confidence(sim), others, appears=True, sim=sim)


def add_tagged_appearances(session: Session, g: Gathered, tag_photos: list[PhotoRow]) -> None:
    """Other accounts' photos whose positioned tag of the person points at a face: the face
    under the tag is the person's, whether or not face search found it."""
    tagged = [p for p in tag_photos if p.image_id is not None and positioned(p)]
    if not tagged:
        return
    image_ids = sorted({p.image_id for p in tagged if p.image_id is not None})
    faces_of = face_boxes(session, image_ids)
    owner_faces = {
        (r[0], r[1])
        for r in session.execute(
            select(FaceRoleRecord.account_id, FaceRoleRecord.face_id).where(
                FaceRoleRecord.face_id.in_([f.face_id for fs in faces_of.values() for f in fs]),
                FaceRoleRecord.role == FaceRole.OWNER.value,
            )
        )
    }
    sizes = image_sizes(session, image_ids)
    for photo in tagged:
        image, poster = photo.image_id, g.links.accounts.get(photo.account_id)
        if image is None or poster is None:
            continue
        faces = faces_of.get(image, [])
        pinned = pins(g.links, poster, photo, faces, sizes.get(image))
        face = next((f for f, (acc, _) in pinned.items() if acc == g.me), None)
        # A tag of the person on the poster's own face is a mis-tap (or a shared account).
        if face is None or (photo.account_id, face) in owner_faces:
            continue
        form = pinned[face][1]
        for shown in g.photos_of[photo.account_id]:
            if shown.photo_id == photo.photo_id:
                shown.tag = form
        g.add_joint(photo.account_id, photo, TAG_CONFIDENCE, len(faces) - 1, appears=True,
                    sim=None, form=form)  # fmt: skip


def add_explicit(
    g: Gathered,
    mine: AccountInfo,
    photos: list[PhotoRow],
    tag_photos: list[PhotoRow],
    *,
    declared: bool,
) -> None:
    """Declared relatives (when ``declared``), friend lists and tags, both directions."""
    links = g.links
    for other, kind in links.declares.get(g.me, ()) if declared else ():
        kinship = kinship_of(kind, declared_by_person=True)
        g.evidence[other].declared.append(Declaration(PERSON, kind, kinship))
    for other, kind in links.declared_by.get(g.me, ()) if declared else ():
        kinship = kinship_of(kind, declared_by_person=False)
        g.evidence[other].declared.append(Declaration(RELATIVE, kind, kinship))
    for ext in mine.friends:
        friend = links.by_external.get((mine.source_id, ext))
        if friend is not None and friend != g.me:
            g.evidence[friend].listed_by_person = True
    for lister in links.listed_by.get(g.me, ()):
        g.evidence[lister].lists_person = True
    for photo in photos:
        for tag in photo.tagged:
            tagged = _resolve_tag(g, mine, tag.account)
            if tagged is not None:
                g.evidence[tagged].tags_by_person += 1
                if photo.image_id not in g.evidence[tagged].companion_images:
                    g.photos_of[tagged].append(evidence_photo(links, photo, "tag", None))
    for photo in tag_photos:
        e = g.evidence[photo.account_id]
        e.tags_person += 1
        if photo.image_id not in e.appears_images:
            g.photos_of[photo.account_id].append(evidence_photo(links, photo, "tag", None))


def _resolve_tag(g: Gathered, mine: AccountInfo, ext: str) -> int | None:
    other = resolve(g.links, mine, ext)
    return other if other is not None and other != g.me else None
