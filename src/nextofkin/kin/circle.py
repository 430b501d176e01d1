"""The family circle: a relative is usually linked with the person's *other* relatives too.

A friend of the person meets the person; a relative meets the family: the spouse's parents
appear with the spouse, a sibling with the parents. Two accounts are linked when they are seen
together (one's owner a confident companion in the other's photo, or two accounts' owners side by
side in a third's photo), list each other as friends, or one declares a relative of the other.
:func:`family_circle` gives, for a candidate, the person's other family candidates it is linked
with; the score counts them (:attr:`nextofkin.kin.scoring.Weights.circle`), and the reason names
them.

The links are computed per query, only around the person's family candidates
(:func:`links_to_family`): the companion faces that could resolve to one of them (a cheap product
with their owner faces bounds which), the images those and the family's own posts are in, and the
faces of those images. :func:`load_together` builds the same links for the whole gallery at once;
it resolves every companion face of the gallery, which took 20 s at 50,000 faces, so it is kept
as the reference the per-query computation is tested against, not used by the engine.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from itertools import combinations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import InstrumentedAttribute, Session

from nextofkin.gallery.records import Face, FaceRole, FaceRoleRecord
from nextofkin.kin.faces import MIN_CONFIDENCE, FaceConfidence, confident, nearest_owners_many
from nextofkin.kin.links import Links

# Companion faces resolved per matrix product (bounds memory on large galleries).
CHUNK = 4096


@dataclass(frozen=True)
class CompanionFaces:
    """Every companion face of the gallery, one row per role record: the account that posted
    it, its image, and its unit vector. Loaded once per service (no resolution: that is the
    expensive part, done per query for the few faces that can matter)."""

    posters: np.ndarray  # int64
    images: np.ndarray  # int64
    vectors: np.ndarray  # float32, one unit row per face


def load_companions(session: Session, model: str) -> CompanionFaces:
    """The companion faces of embedder ``model``."""
    rows = session.execute(
        select(FaceRoleRecord.account_id, Face.image_id, Face.embedding)
        .join(Face, Face.id == FaceRoleRecord.face_id)
        .where(FaceRoleRecord.role != FaceRole.OWNER.value, Face.model == model)
    ).all()
    vectors = (
        np.stack([r[2] for r in rows]).astype(np.float32) if rows else np.zeros((0, 1), np.float32)
    )
    return CompanionFaces(
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        vectors,
    )


def lowest_confident_similarity(confidence: FaceConfidence) -> float:
    """A similarity below which no face match passes the confidence gate (confidence grows
    with similarity), a hair below the exact boundary so that rounding cannot drop a face."""
    lo, hi = -1.0, 1.0
    if confidence(hi) < MIN_CONFIDENCE:
        return 2.0  # nothing is ever confident
    for _ in range(40):
        mid = (lo + hi) / 2
        if confidence(mid) >= MIN_CONFIDENCE:
            hi = mid
        else:
            lo = mid
    return lo - 1e-4


def links_to_family(
    session: Session,
    links: Links,
    companions: CompanionFaces,
    confidence: FaceConfidence,
    model: str,
    family: Collection[int],
    candidates: Collection[int],
    *,
    declared: bool,
) -> dict[int, set[int]]:
    """Account -> the members of ``family`` it is linked with: what :func:`load_together` gives
    for the pairs with a side in ``family``, computed from the family's faces and images only.
    Faces in those images are resolved only if they can be one of ``candidates`` (the query's
    candidates: the others cannot be in anyone's circle), so for an account outside
    ``candidates`` a link seen in a photo may be missing."""
    together: dict[int, set[int]] = defaultdict(set)

    def link(a: int, b: int) -> None:
        if a != b:
            together[a].add(b)
            together[b].add(a)

    for member in family:
        for lister in links.listed_by.get(member, ()):
            if member in links.listed_by.get(lister, ()):  # both friend lists name the other
                link(member, lister)
        for other, _ in links.declares.get(member, ()) if declared else ():
            link(member, other)
        for other, _ in links.declared_by.get(member, ()) if declared else ():
            link(member, other)
    seen = _images_of(session, links, companions, confidence, model, family, candidates)
    for accounts in seen.values():
        for member in accounts.intersection(family):
            for other in accounts:
                link(member, other)
    return together


def _images_of(
    session: Session,
    links: Links,
    companions: CompanionFaces,
    confidence: FaceConfidence,
    model: str,
    family: Collection[int],
    candidates: Collection[int],
) -> dict[int, set[int]]:
    """Image -> the accounts in it (as :func:`_seen_together` says, companions only when they
    resolve to one of ``candidates``), for every image a member of ``family`` posted or is a
    confident companion in."""
    members = sorted(family)
    images = {image for _, image in _posters(session, model, FaceRoleRecord.account_id, members)}
    everywhere = np.arange(len(companions.posters))
    resolved = _resolve(links, companions, confidence, _near(links, companions, confidence,
                                                             everywhere, members))  # fmt: skip
    images |= {int(companions.images[row]) for row, account in resolved if account in family}
    in_image: dict[int, set[int]] = defaultdict(set)
    wanted = sorted(images)
    for account, image in _posters(session, model, Face.image_id, wanted):
        in_image[image].add(account)
    rows = np.flatnonzero(np.isin(companions.images, np.array(wanted, dtype=np.int64)))
    rows = _near(links, companions, confidence, rows, sorted(set(candidates) | set(members)))
    for row, account in _resolve(links, companions, confidence, rows):
        in_image[int(companions.images[row])].add(account)
    return in_image


def _near(
    links: Links,
    companions: CompanionFaces,
    confidence: FaceConfidence,
    rows: np.ndarray,
    accounts: list[int],
) -> np.ndarray:
    """The companion ``rows`` that may resolve to one of ``accounts``: a face is an account's
    only if it is at least this close to one of its owner faces, so a product with those few
    owner faces bounds which faces need resolving against the whole gallery."""
    owned = np.isin(links.owner_accounts, np.array(accounts, dtype=np.int64))
    if not owned.any() or not len(rows):
        return rows[:0]
    best = (companions.vectors[rows] @ links.owner_vectors[owned].T).max(axis=1)
    kept: np.ndarray = rows[best >= lowest_confident_similarity(confidence)]
    return kept


def _posters(
    session: Session, model: str, column: InstrumentedAttribute[int], values: list[int]
) -> list[tuple[int, int]]:
    """(account, image) of every role record whose ``column`` is in ``values``: the poster is
    in (or behind) every photo it posts."""
    if not values:
        return []
    rows = session.execute(
        select(FaceRoleRecord.account_id, Face.image_id)
        .join(Face, Face.id == FaceRoleRecord.face_id)
        .where(column.in_(values), Face.model == model)
    ).all()
    return [(int(r[0]), int(r[1])) for r in rows]


def _resolve(
    links: Links, companions: CompanionFaces, confidence: FaceConfidence, rows: np.ndarray
) -> list[tuple[int, int]]:
    """(row, account) for the companion rows confidently resolved to an account other than
    their poster's."""
    if not len(rows):
        return []
    nearest = nearest_owners_many(links, companions.vectors[rows])
    return [
        (int(row), near[0])
        for row, near in zip(rows, nearest, strict=True)
        if near is not None
        and near[0] != int(companions.posters[row])
        and confident(confidence, near)
    ]


def load_together(
    session: Session, links: Links, confidence: FaceConfidence, model: str, *, declared: bool
) -> dict[int, set[int]]:
    """Account -> the accounts it is seen with, lists mutually as a friend, or (when
    ``declared``) declares or is declared by as a relative."""
    together: dict[int, set[int]] = defaultdict(set)

    def link(a: int, b: int) -> None:
        if a != b:
            together[a].add(b)
            together[b].add(a)

    for acc, listers in links.listed_by.items():
        for lister in listers:
            if acc in links.listed_by.get(lister, ()):  # both friend lists name the other
                link(acc, lister)
    for acc, relatives in links.declares.items() if declared else ():
        for other, _ in relatives:
            link(acc, other)
    for image_accounts in _seen_together(session, links, confidence, model).values():
        for a, b in combinations(sorted(image_accounts), 2):
            link(a, b)
    return together


def _seen_together(
    session: Session, links: Links, confidence: FaceConfidence, model: str
) -> dict[int, set[int]]:
    """Image -> the accounts whose owners are in it: the poster's own face, and companions
    resolved to the account whose owner face is nearest, confidently (as the engine does)."""
    rows = session.execute(
        select(FaceRoleRecord.account_id, FaceRoleRecord.role, Face.image_id, Face.embedding)
        .join(Face, Face.id == FaceRoleRecord.face_id)
        .where(Face.model == model)
    ).all()
    in_image: dict[int, set[int]] = defaultdict(set)
    companions = []
    for account, role, image, embedding in rows:
        in_image[image].add(account)  # the poster is in (or behind) every photo it posts
        if role != FaceRole.OWNER.value:
            companions.append((account, image, embedding))
    for start in range(0, len(companions), CHUNK):
        chunk = companions[start : start + CHUNK]
        vectors = np.stack([c[2] for c in chunk]).astype(np.float32)
        nearest = nearest_owners_many(links, vectors)
        for (poster, image, _), near in zip(chunk, nearest, strict=True):
            if near is not None and near[0] != poster and confident(confidence, near):
                in_image[image].add(near[0])
    return {image: accounts for image, accounts in in_image.items() if len(accounts) > 1}


def family_circle(together: dict[int, set[int]], candidate: int, family: set[int]) -> set[int]:
    """The person's family candidates (other than ``candidate``) that ``candidate`` is linked
    with."""
    return (together.get(candidate, set()) & family) - {candidate}
