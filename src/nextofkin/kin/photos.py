"""Photos as the kin engine reads them, and what one joint photo adds to a pair's evidence.

A joint photo (the other account's owner among the person's companions, or the person in the
other account's photo) counts once per image, by the confidence that the face is that person;
its caption's kinship and friendship words count by the share of the photo's other people.
Positioned tags pin faces to accounts (:func:`pins`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin.gallery.records import Face, Image, Photo, PhotoStatus
from nextofkin.gallery.tags import Tag, parse_tags
from nextofkin.kin.cues import FAMILY, caption_cues, inverse
from nextofkin.kin.declared import FaceBox, face_under
from nextofkin.kin.faces import FaceConfidence
from nextofkin.kin.links import AccountInfo, Links, resolve
from nextofkin.kin.results import EvidencePhoto
from nextofkin.kin.scoring import PairEvidence


@dataclass
class PhotoRow:
    """One ingested photo of an account."""

    photo_id: int
    account_id: int
    image_id: int | None
    rel_path: str
    caption: str | None
    posted_at: str | None
    tagged: list[Tag]


def positioned(photo: PhotoRow) -> bool:
    """Whether any tag of the photo carries a point or a box."""
    return any(t.positioned for t in photo.tagged)


def load_photos(session: Session, where: list[Any]) -> list[PhotoRow]:
    """The ingested (done) photos matching ``where``."""
    # The status is filtered here, not in SQL: SQLite would otherwise pick the low-selectivity
    # status index over the account/image/id ones and scan every ingested photo.
    rows = session.execute(
        select(
            Photo.id, Photo.account_id, Photo.image_id, Photo.rel_path, Photo.caption,
            Photo.posted_at, Photo.tagged, Photo.status,
        ).where(*where)
    ).all()  # fmt: skip
    return [
        PhotoRow(r[0], r[1], r[2], r[3], r[4], r[5], parse_tags(r[6]))
        for r in rows
        if r[7] == PhotoStatus.DONE
    ]


def image_sizes(session: Session, image_ids: list[int]) -> dict[int, tuple[int, int]]:
    """Width and height of each image, in pixels."""
    if not image_ids:
        return {}
    rows = session.execute(
        select(Image.id, Image.width, Image.height).where(Image.id.in_(image_ids))
    ).all()
    return {r[0]: (r[1], r[2]) for r in rows}


def face_boxes(session: Session, image_ids: list[int]) -> dict[int, list[FaceBox]]:
    """The detected faces of each image."""
    out: dict[int, list[FaceBox]] = defaultdict(list)
    for r in session.execute(
        select(Face.id, Face.image_id, Face.left, Face.top, Face.right, Face.bottom).where(
            Face.image_id.in_(image_ids)
        )
    ):
        out[r[1]].append(FaceBox(r[0], r[2], r[3], r[4], r[5]))
    return out


def pins(
    links: Links,
    poster: AccountInfo,
    photo: PhotoRow,
    faces: list[FaceBox],
    size: tuple[int, int] | None,
) -> dict[int, tuple[int, str]]:
    """Face id -> (tagged account, "point" or "box") for the positioned tags of a photo."""
    out: dict[int, tuple[int, str]] = {}
    width, height = size or (0, 0)
    for tag in photo.tagged:
        if not tag.positioned:
            continue
        account = resolve(links, poster, tag.account)
        face = face_under(tag, faces, width, height) if account is not None else None
        if account is not None and face is not None and face not in out:
            out[face] = (account, "point" if tag.point is not None else "box")
    return out


def add_cues(
    e: PairEvidence, caption: str | None, share: float, *, invert: bool, kin_share: float
) -> None:
    """Add a caption's cues: friendship words by ``share``, kinship words by ``kin_share``."""
    cues = caption_cues(caption)
    if any(c.term == "figurative" for c in cues):
        # "брат за брата", "sis from another mister": kinship words between friends.
        e.friend_words += share
        return
    for cue in cues:
        if cue.kind == FAMILY:
            weight = kin_share if cue.specific else 0.5 * kin_share
            e.family_words += weight
            term = inverse(cue.term) if invert else cue.term
            if cue.specific:
                e.kin_terms[term] = e.kin_terms.get(term, 0.0) + weight
        else:
            e.friend_words += share


def evidence_photo(
    links: Links, photo: PhotoRow, why: str, sim: float | None, tag: str | None = None
) -> EvidencePhoto:
    """The evidence entry shown for a photo."""
    poster = links.accounts.get(photo.account_id)
    return EvidencePhoto(
        photo_id=photo.photo_id,
        account=poster.external_id if poster else str(photo.account_id),
        photo=photo.rel_path,
        why=why,
        caption=photo.caption,
        posted_at=photo.posted_at,
        similarity=None if sim is None else round(sim, 4),
        tag=tag,
    )


@dataclass
class Gathered:
    """The evidence of one query as it is gathered: per related account, and its photos."""

    links: Links
    confidence: FaceConfidence
    me: int
    kin: Callable[[int], bool]  # whether a kinship word in a crowded photo goes whole to them
    evidence: dict[int, PairEvidence] = field(default_factory=lambda: defaultdict(PairEvidence))
    photos_of: dict[int, list[EvidencePhoto]] = field(default_factory=lambda: defaultdict(list))
    same_face: dict[int, float] = field(default_factory=dict)

    def add_joint(
        self,
        other: int,
        photo: PhotoRow,
        sure: float,
        others_in_photo: int,
        *,
        appears: bool,
        sim: float | None,
        form: str | None = None,
    ) -> None:
        """One joint image: the other account in the person's photo (``appears`` False) or the
        person in the other account's photo, with ``others_in_photo`` people besides the one
        the caption may speak of. A second sighting in the same image only raises confidence."""
        e = self.evidence[other]
        images = e.appears_images if appears else e.companion_images
        image = photo.image_id if photo.image_id is not None else -photo.photo_id
        if form is not None:
            e.pinned_images.add(image)
        if image in images:
            images[image] = max(images[image], sure)
            return
        images[image] = sure
        share = 1.0 / max(1, others_in_photo)
        # The other account's caption speaks of the person: "з мамою" by B means A is B's mother.
        kin_share = 1.0 if self.kin(other) else share
        add_cues(e, photo.caption, share, invert=appears, kin_share=kin_share)
        if photo.posted_at:
            e.dates.append(photo.posted_at)
        why = "appears" if appears else "companion"
        self.photos_of[other].append(evidence_photo(self.links, photo, why, sim, form))
