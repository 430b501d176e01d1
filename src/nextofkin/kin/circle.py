"""The family circle: a relative is usually linked with the person's *other* relatives too.

A friend of the person meets the person; a relative meets the family: the spouse's parents
appear with the spouse, a sibling with the parents. :func:`load_together` builds once per service
a gallery-wide graph of accounts that are seen together (one's owner a confident companion in the
other's photo, or two accounts' owners side by side in a third's photo), that list each other as
friends, or that one declares a relative of the other. :func:`family_circle` then gives, for a
candidate, the person's other family candidates it is linked with; the score counts them
(:attr:`nextofkin.kin.scoring.Weights.circle`), and the reason names them.
"""

from __future__ import annotations

from collections import defaultdict
from itertools import combinations

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin.gallery.records import Face, FaceRole, FaceRoleRecord
from nextofkin.kin.faces import FaceConfidence, confident, nearest_owners_many
from nextofkin.kin.links import Links

# Companion faces resolved per matrix product (bounds memory on large galleries).
CHUNK = 4096


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
