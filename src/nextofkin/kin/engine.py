"""The kin engine: who appears with a person, who posts photos of them, and whom to tell.

For one account (the person's), it gathers every other account linked to it by

- faces: companions in the person's photos, resolved through the vector index to the accounts
  whose *owner* they are; and the person's own (owner) face found gallery-wide in *other*
  accounts' photos, not only among friends;
- explicit links, both directions: friend lists and tags;
- what the sources declare: relatives on a profile (VK ``relatives``, ``relation_partner``),
  with their type, and tags with a position, which pin the tagged account to one face of a
  joint photo (the companion is that account, whatever face search would have said);
- cues: kinship and friendship words in the captions of the photos that show both (inflected,
  ru/uk/en), a shared surname stem allowing for gendered forms and maiden names, the same city,
  how many distinct photos show both and over how many years;

and ranks them with :func:`nextofkin.kin.scoring.judge`, each with its reasons and the photos that
support it. A face that matches the person's own face as an *owner* of another account is not a
relative: it is reported apart, as a possible second account or a look-alike.
"""

from __future__ import annotations

import logging
import math
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin.errors import InputError, NotFound
from nextofkin.gallery.index import VectorIndex
from nextofkin.gallery.records import (
    Account,
    Face,
    FaceRole,
    FaceRoleRecord,
    Image,
    Photo,
    PhotoStatus,
    Source,
)
from nextofkin.gallery.tags import Tag, parse_relatives, parse_tags
from nextofkin.identify.calibration import Calibration
from nextofkin.identify.search import Hit, attribute_hits
from nextofkin.kin.cues import FAMILY, caption_cues, inverse
from nextofkin.kin.declared import FaceBox, face_under, kinship_of
from nextofkin.kin.scoring import (
    DEFAULT_WEIGHTS,
    PERSON,
    RELATIVE,
    Declaration,
    PairEvidence,
    Weights,
    judge,
)
from nextofkin.kin.surnames import city_key, handle_surname_keys, surname_keys
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

MAX_OWNER_QUERIES = 3  # index queries per person: the fused face and the two best faces
# Below this many impostor samples a calibration's tail is guesswork (tiny galleries).
MIN_CALIBRATION_SAMPLES = 200
# Face hits less likely than this to be the same person are not used at all.
MIN_CONFIDENCE = 0.5
# A nearest owner must beat the next account's owner by this much, unless it is this sure.
MIN_MARGIN = 0.03
SURE_ENOUGH = 0.9
MAX_COMPANION_QUERIES = 80
NEIGHBOURS = 64
# A face a positioned tag points at is the tagged account's: the poster said so. Not certain
# (people mis-tap), so not 1, but above every gate.
TAG_CONFIDENCE = 0.95


@dataclass(frozen=True)
class FaceConfidence:
    """The chance that a face hit is the same person, from the gallery's own calibration.

    The calibration measured how often a *stranger's* best match in this gallery scores at least
    a given similarity (FPIR); one minus that is the confidence that a hit this strong is not a
    stranger. Without a usable calibration (a gallery of a few dozen accounts), confidence rises
    linearly from the embedder's strict operating point to 1 over the next 0.06 of similarity.
    """

    calibration: Calibration | None
    strict: float

    def __call__(self, similarity: float) -> float:
        """Confidence in [0, 1] for one similarity."""
        if self.calibration is not None:
            return max(0.0, 1.0 - self.calibration.fpir(similarity))
        return min(1.0, max(0.0, (similarity - self.strict) / 0.06))

    @property
    def same_face(self) -> float:
        """Similarity above which another account's owner face is taken for the person's own."""
        if self.calibration is not None:
            return self.calibration.match_threshold
        return self.strict + 0.06


def nearest_owners(
    links: _Links, vectors: np.ndarray, exclude: int | None = None
) -> list[tuple[int, float, float] | None]:
    """For each face vector: (account, similarity, runner-up similarity) of its nearest owner.

    The runner-up is the best similarity to any *other* account's owner faces; ``exclude`` (the
    poster's own account) takes no part.
    """
    if not len(links.owner_accounts):
        return [None] * len(vectors)
    sims = vectors @ links.owner_vectors.T
    if exclude is not None:
        sims[:, links.owner_accounts == exclude] = -2.0
    out: list[tuple[int, float, float] | None] = []
    for row in sims:
        col = int(row.argmax())
        account = int(links.owner_accounts[col])
        others = row[links.owner_accounts != account]
        runner_up = float(others.max()) if others.size else -1.0
        out.append((account, float(row[col]), runner_up))
    return out


def confident(confidence: FaceConfidence, found: tuple[int, float, float]) -> bool:
    """Whether a nearest-owner match is usable: confident enough, and clear of the runner-up."""
    _, sim, runner_up = found
    sure = confidence(sim)
    return sure >= MIN_CONFIDENCE and (sim - runner_up >= MIN_MARGIN or sure >= SURE_ENOUGH)


@dataclass
class EvidencePhoto:
    """A photo that supports a relation."""

    photo_id: int
    account: str  # who posted it
    photo: str  # path relative to the gallery root
    why: str  # "companion", "appears", "tag"
    caption: str | None
    posted_at: str | None
    similarity: float | None
    tag: str | None = None  # "point" or "box" when a positioned tag pins the face


@dataclass
class KinRelation:
    """One related account, with its score, suggested relation, reasons and evidence."""

    account: str
    account_id: int
    source: str
    name: str | None
    city: str | None
    contacts: dict[str, Any]
    score: float
    relation: str
    kinship: str | None
    reasons: list[str]
    evidence: list[EvidencePhoto]
    declared: list[Declaration] = field(default_factory=list)


@dataclass
class KinResult:
    """Everything the kin engine found for one account."""

    account: str
    account_id: int
    source: str
    name: str | None
    owner_faces: int
    thresholds: dict[str, float]
    relations: list[KinRelation]
    same_face_accounts: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form printed by ``nextofkin kin --json``."""
        return asdict(self)


@dataclass
class _AccountInfo:
    source_id: int
    platform: str | None
    external_id: str
    name: str | None
    city: str | None
    friends: frozenset[str]
    surnames: frozenset[str]
    city_key: str | None


@dataclass
class _Links:
    """Gallery-wide lookups built once per service: reverse friend lists, tags, surname counts."""

    accounts: dict[int, _AccountInfo]
    by_external: dict[tuple[int, str], int]
    by_platform: dict[tuple[str, str], int]
    listed_by: dict[int, set[int]]
    # account -> (related account, declared type): on its own profile, and on others' profiles
    declares: dict[int, list[tuple[int, str]]]
    declared_by: dict[int, list[tuple[int, str]]]
    tagged_in: dict[int, list[tuple[int, int]]]  # account -> (photo id, poster account id)
    surname_counts: Counter[str]
    owner_accounts: np.ndarray  # account id of each row of owner_vectors
    owner_vectors: np.ndarray  # every owner face of the gallery, unit rows


def _resolve(links: _Links, info: _AccountInfo, ext: str) -> int | None:
    """The account an id written in ``info``'s export names: same source, else same platform."""
    found = links.by_external.get((info.source_id, ext))
    if found is None and info.platform:
        found = links.by_platform.get((info.platform, ext))
    return found


def _load_links(session: Session, model: str) -> _Links:
    accounts: dict[int, _AccountInfo] = {}
    by_external: dict[tuple[int, str], int] = {}
    by_platform: dict[tuple[str, str], int] = {}
    relatives: dict[int, list[tuple[str, str]]] = {}
    handles: dict[int, str] = {}
    for acc_id, source_id, platform, ext, name, city, friends, declared, extra in session.execute(
        select(
            Account.id, Account.source_id, Account.platform, Account.external_id, Account.name,
            Account.city, Account.friends, Account.relatives, Account.extra,
        )
    ):  # fmt: skip
        info = _AccountInfo(
            source_id, platform, ext, name, city, frozenset(friends or ()), surname_keys(name),
            city_key(city),
        )  # fmt: skip
        # Platform accounts are numeric user ids; the handle people chose is an attribute.
        username = extra.get("username") if isinstance(extra, dict) else None
        handles[acc_id] = f"{ext} {username}" if isinstance(username, str) else ext
        accounts[acc_id] = info
        by_external[(source_id, ext)] = acc_id
        if platform:
            by_platform.setdefault((platform, ext), acc_id)
        if declared:
            relatives[acc_id] = [(r.account, r.type) for r in parse_relatives(declared)]
    links = _Links(
        accounts, by_external, by_platform, defaultdict(set), defaultdict(list),
        defaultdict(list), defaultdict(list), Counter(), np.zeros(0, np.int64),
        np.zeros((0, 1), np.float32),
    )  # fmt: skip
    listed_by, surname_counts = links.listed_by, links.surname_counts
    for acc_id, info in accounts.items():
        surname_counts.update(info.surnames)
        for friend in info.friends:
            other = by_external.get((info.source_id, friend))
            if other is not None and other != acc_id:
                listed_by[other].add(acc_id)
    for acc_id, listed in relatives.items():
        for ext, kind in listed:
            other = _resolve(links, accounts[acc_id], ext)
            if other is not None and other != acc_id:
                links.declares[acc_id].append((other, kind))
                links.declared_by[other].append((acc_id, kind))
    # Handles often carry the surname a nickname hides ("Tema B." is abondarenko78).
    for acc_id, info in accounts.items():
        info.surnames = info.surnames | handle_surname_keys(handles[acc_id], surname_counts)
    tagged_in = links.tagged_in
    for photo_id, poster, tagged in session.execute(
        select(Photo.id, Photo.account_id, Photo.tagged).where(
            func.json_array_length(Photo.tagged) > 0
        )
    ):
        poster_info = accounts.get(poster)
        if poster_info is None:
            continue
        for tag in parse_tags(tagged):
            other = _resolve(links, poster_info, tag.account)
            if other is not None and other != poster:
                tagged_in[other].append((photo_id, poster))
    # Companions are resolved against owner faces only: a matrix far smaller than the index.
    owner_rows = session.execute(
        select(FaceRoleRecord.account_id, Face.embedding)
        .join(Face, Face.id == FaceRoleRecord.face_id)
        .where(FaceRoleRecord.role == FaceRole.OWNER.value, Face.model == model)
    ).all()
    links.owner_accounts = np.array([r[0] for r in owner_rows], dtype=np.int64)
    if owner_rows:
        links.owner_vectors = np.stack([r[1] for r in owner_rows]).astype(np.float32)
    return links


@dataclass
class _PhotoRow:
    photo_id: int
    account_id: int
    image_id: int | None
    rel_path: str
    caption: str | None
    posted_at: str | None
    tagged: list[Tag]


def _positioned(photo: _PhotoRow) -> bool:
    return any(t.point is not None or t.box is not None for t in photo.tagged)


def _similarity_to_owner(links: _Links, account: int, vector: np.ndarray) -> float | None:
    """The best similarity of a face to ``account``'s owner faces (None: it has none)."""
    rows = links.owner_vectors[links.owner_accounts == account]
    if not len(rows):
        return None
    return float((rows @ np.asarray(vector, np.float32)).max())


class KinService:
    """Finds and ranks related accounts; holds the index and gallery-wide lookups warm."""

    def __init__(
        self,
        workspace: Workspace,
        index: VectorIndex | None = None,
        weights: Weights = DEFAULT_WEIGHTS,
        *,
        declared: bool = True,
    ) -> None:
        """``declared=False`` ignores declared relatives and tag positions (tags still count
        as plain tags): the engine as it was before sources declared them, for comparison."""
        if index is None:
            from nextofkin.gallery.maintenance import open_index

            index = open_index(workspace)
        self.workspace = workspace
        self.index = index
        self.weights = weights
        self.declared = declared
        self._links: _Links | None = None
        self._confidence: FaceConfidence | None = None

    # -- set-up ------------------------------------------------------------------------------

    def links(self, session: Session) -> _Links:
        """Gallery-wide lookups, loaded on first use."""
        if self._links is None:
            self._links = _load_links(session, self.index.description.model)
        return self._links

    def confidence(self) -> FaceConfidence:
        """How sure a face similarity makes us that two faces are one person (see the class)."""
        if self._confidence is None:
            from nextofkin.gallery.maintenance import embedder_spec

            spec = embedder_spec(self.workspace)
            # Face-to-face confidence needs cosine similarities; identification scores may be
            # normalised (s-norm), so the cosine calibration of the same searches is used.
            description = self.index.description
            stored = description.similarity_calibration or description.calibration
            calibration = Calibration.from_dict(stored) if stored else None
            if calibration is not None and calibration.score_kind != "cosine":
                calibration = None
            if calibration is not None and calibration.samples < MIN_CALIBRATION_SAMPLES:
                calibration = None
            self._confidence = FaceConfidence(calibration, spec.strict_similarity)
        return self._confidence

    def resolve_account(self, session: Session, account: str, source: str | None) -> Account:
        """The account with external id ``account`` (in ``source`` when given)."""
        query = select(Account).where(Account.external_id == account)
        if source is not None:
            query = query.join(Source, Source.id == Account.source_id).where(Source.name == source)
        found = session.scalars(query).all()
        if not found:
            where = f" in source {source!r}" if source else ""
            raise NotFound(f"no account {account!r}{where}")
        if len(found) > 1:
            names = sorted(session.get_one(Source, a.source_id).name for a in found)
            raise InputError(
                f"account {account!r} exists in several sources ({', '.join(names)}): "
                "choose one with --source"
            )
        return found[0]

    # -- the search --------------------------------------------------------------------------

    def kin(self, account: str, *, source: str | None = None, top: int = 10) -> KinResult:
        """Related accounts of ``account``, best first, with reasons and evidence photos."""
        with self.workspace.session() as session:
            person = self.resolve_account(session, account, source)
            return self._kin(session, person, top)

    def kin_for(
        self,
        actor: str | None,
        account: str,
        *,
        source: str | None = None,
        top: int = 10,
        case: str | None = None,
    ) -> KinResult:
        """:meth:`kin` for a named user with the ``view`` permission, audited as ``kin.view``:
        a person's social graph is shown to someone the log can name."""
        from nextofkin import audit
        from nextofkin.users.service import Permission, require

        with self.workspace.session() as session:
            name = require(session, actor, Permission.VIEW).name
        result = self.kin(account, source=source, top=top)
        with self.workspace.session() as session:
            audit.record(
                session,
                name,
                audit.Action.KIN_VIEW,
                f"account:{result.source}/{result.account}",
                {"relations": len(result.relations), "top": top},
                case=case,
            )
        return result

    def _kin(self, session: Session, person: Account, top: int) -> KinResult:
        links = self.links(session)
        confidence = self.confidence()
        me = person.id
        mine = links.accounts[me]

        declared_kin: set[int] = set()
        if self.declared:
            declared_kin = {a for a, _ in links.declares.get(me, ())} | {
                a for a, _ in links.declared_by.get(me, ())
            }

        def kin(other: int) -> bool:
            # A kinship word in a photo with several people is given whole to the one who shares
            # the person's surname stem ("with my wife" beside a friend and the wife), or whom
            # a profile declares a relative.
            info = links.accounts.get(other)
            return other in declared_kin or (
                info is not None and bool(mine.surnames & info.surnames)
            )

        photos = self._photos(session, [Photo.account_id == me])
        by_image = {p.image_id: p for p in photos if p.image_id is not None}
        face_rows = session.execute(
            select(
                Face.id, Face.image_id, Face.embedding, Face.quality, FaceRoleRecord.role,
                Face.left, Face.top, Face.right, Face.bottom,
            )
            .join(FaceRoleRecord, FaceRoleRecord.face_id == Face.id)
            .where(FaceRoleRecord.account_id == me)
        ).all()  # fmt: skip
        owners = sorted(
            (r for r in face_rows if r.role == FaceRole.OWNER.value), key=lambda r: -r.quality
        )
        companions = [r for r in face_rows if r.role != FaceRole.OWNER.value][
            :MAX_COMPANION_QUERIES
        ]
        companions_per_image = Counter(r.image_id for r in companions)
        notes: list[str] = []
        if not owners:
            notes.append(
                "the account's owner could not be told from its photos: the person's face was "
                "not searched in other accounts"
            )
        evidence: dict[int, PairEvidence] = defaultdict(PairEvidence)
        photos_of: dict[int, list[EvidencePhoto]] = defaultdict(list)
        same_face: dict[int, float] = {}

        hits: list[list[Hit]] = []
        if owners and len(self.index):
            k = min(NEIGHBOURS, len(self.index))
            # One fused query (the mean of the owner's faces, as a probe fuses several photos)
            # and the owner's best single faces: few queries keep a flat index fast.
            singles = np.stack([r.embedding for r in owners]).astype(np.float32)
            fused = singles.mean(axis=0, keepdims=True)
            fused /= max(float(np.linalg.norm(fused)), 1e-12)
            queries = np.concatenate([fused, singles[: MAX_OWNER_QUERIES - 1]])
            scores, ids = self.index.search(queries, k)
            hits = attribute_hits(session, ids, scores)

        # Positioned tags in the person's photos pin faces to the tagged accounts.
        pinned: dict[int, tuple[int, str]] = {}  # face id -> (account, "point" or "box")
        if self.declared:
            faces_of: dict[int, list[FaceBox]] = defaultdict(list)
            for r in face_rows:
                faces_of[r.image_id].append(FaceBox(r.id, r.left, r.top, r.right, r.bottom))
            with_positions = {
                p.image_id: p for p in photos if p.image_id in faces_of and _positioned(p)
            }
            sizes = self._image_sizes(session, [i for i in with_positions if i is not None])
            for image, positioned in with_positions.items():
                if image is not None:
                    pinned |= self._pins(links, mine, positioned, faces_of[image], sizes.get(image))

        # 1. Companions in the person's photos, resolved to the accounts whose owner they are:
        # the account whose owner face is nearest (the person's own account left out), unless a
        # positioned tag says whose face it is.
        resolved: list[tuple[int, float] | None] = [None] * len(companions)
        if companions:
            vectors = np.stack([r.embedding for r in companions]).astype(np.float32)
            for i, near in enumerate(nearest_owners(links, vectors, exclude=me)):
                if near is not None and confident(confidence, near):
                    resolved[i] = (near[0], near[1])
        for row, match in zip(companions, resolved, strict=True):
            pin = pinned.get(row.id)
            form: str | None = None
            if pin is not None and pin[0] != me:
                other, form = pin
                to_owner = _similarity_to_owner(links, other, row.embedding)
                sim = to_owner if to_owner is not None else 0.0
                sure = max(TAG_CONFIDENCE, confidence(sim) if to_owner is not None else 0.0)
            elif match is None:
                continue
            else:
                other, sim = match
                sure = confidence(sim)
                if sure < MIN_CONFIDENCE:
                    continue
            photo = by_image.get(row.image_id)
            if photo is None:
                continue
            e = evidence[other]
            if form is not None:
                e.pinned_images.add(row.image_id)
            if row.image_id in e.companion_images:
                e.companion_images[row.image_id] = max(e.companion_images[row.image_id], sure)
                continue
            e.companion_images[row.image_id] = sure
            share = 1.0 / max(1, companions_per_image[row.image_id])
            self._cues(
                e, photo.caption, share, invert=False, kin_share=share if not kin(other) else 1.0
            )
            if photo.posted_at:
                e.dates.append(photo.posted_at)
            photos_of[other].append(self._evidence(links, photo, "companion", sim, form))

        # 2. The person's own face in other accounts' photos (gallery-wide, through the index).
        appear_faces: dict[int, dict[int, float]] = defaultdict(dict)  # account -> face -> sim
        for row_hits in hits:
            for hit in row_hits:
                if hit.account_id == me:
                    continue
                if hit.role == FaceRole.OWNER.value:
                    if hit.similarity >= confidence.same_face:
                        same_face[hit.account_id] = max(
                            same_face.get(hit.account_id, -1.0), hit.similarity
                        )
                    continue
                if confidence(hit.similarity) < MIN_CONFIDENCE:
                    continue
                faces = appear_faces[hit.account_id]
                faces[hit.face_id] = max(faces.get(hit.face_id, -1.0), hit.similarity)
        if appear_faces:
            face_ids = sorted({f for faces in appear_faces.values() for f in faces})
            rows = session.execute(
                select(Face.id, Face.image_id, Face.embedding).where(Face.id.in_(face_ids))
            ).all()
            image_of = {r[0]: r[1] for r in rows}
            # A face in another account's photo is the person only if, among every owner face of
            # the gallery, the person's is its nearest, by a margin: a stranger who merely
            # resembles the person is nearer to someone else (or to no one in particular).
            nearest = dict(
                zip(
                    [r[0] for r in rows],
                    nearest_owners(links, np.stack([r[2] for r in rows]).astype(np.float32)),
                    strict=True,
                )
            )
            for faces in appear_faces.values():
                for face_id in list(faces):
                    found = nearest.get(face_id)
                    if found is None or found[0] != me or not confident(confidence, found):
                        del faces[face_id]
            appear_faces = defaultdict(dict, {a: f for a, f in appear_faces.items() if f})
            image_ids = sorted(set(image_of.values()))
            faces_in_image = dict(
                session.execute(
                    select(Face.image_id, func.count(Face.id))
                    .where(Face.image_id.in_(image_ids))
                    .group_by(Face.image_id)
                ).all()
            )
            their_photos = self._photos(
                session, [Photo.image_id.in_(image_ids), Photo.account_id.in_(list(appear_faces))]
            )
            photo_by_key = {(p.account_id, p.image_id): p for p in their_photos}
            for other, faces in appear_faces.items():
                e = evidence[other]
                for face_id, sim in faces.items():
                    image_id = image_of.get(face_id)
                    photo = photo_by_key.get((other, image_id))
                    if photo is None or image_id is None or image_id in e.appears_images:
                        continue
                    e.appears_images[image_id] = confidence(sim)
                    # The poster speaks of the person: "з мамою" by B means A is B's mother.
                    others_in_photo = max(1, faces_in_image.get(image_id, 1) - 1)
                    share = 1.0 / others_in_photo
                    self._cues(
                        e,
                        photo.caption,
                        share,
                        invert=True,
                        kin_share=share if not kin(other) else 1.0,
                    )
                    if photo.posted_at:
                        e.dates.append(photo.posted_at)
                    photos_of[other].append(self._evidence(links, photo, "appears", sim))

        # 2b. The person tagged with a position in other accounts' photos: the face under the
        # tag is the person's, whether or not face search found it.
        tag_photo_ids = [pid for pid, _ in links.tagged_in.get(me, ())]
        tag_photos = self._photos(session, [Photo.id.in_(tag_photo_ids)]) if tag_photo_ids else []
        if self.declared:
            self._tagged_appearances(session, links, me, tag_photos, evidence, photos_of, kin)

        # 3. Explicit links, both directions; relatives declared on profiles.
        for other, kind in links.declares.get(me, ()) if self.declared else ():
            kinship = kinship_of(kind, declared_by_person=True)
            evidence[other].declared.append(Declaration(PERSON, kind, kinship))
        for other, kind in links.declared_by.get(me, ()) if self.declared else ():
            kinship = kinship_of(kind, declared_by_person=False)
            evidence[other].declared.append(Declaration(RELATIVE, kind, kinship))
        for ext in mine.friends:
            friend = links.by_external.get((mine.source_id, ext))
            if friend is not None and friend != me:
                evidence[friend].listed_by_person = True
        for lister in links.listed_by.get(me, ()):
            evidence[lister].lists_person = True
        for photo in photos:
            for tag in photo.tagged:
                tagged = _resolve(links, mine, tag.account)
                if tagged is not None and tagged != me:
                    evidence[tagged].tags_by_person += 1
                    if photo.image_id not in evidence[tagged].companion_images:
                        photos_of[tagged].append(self._evidence(links, photo, "tag", None))
        for photo in tag_photos:
            e = evidence[photo.account_id]
            e.tags_person += 1
            if photo.image_id not in e.appears_images:
                photos_of[photo.account_id].append(self._evidence(links, photo, "tag", None))

        # 4. Surname stems and cities, then the judgement.
        n_accounts = max(2, len(links.accounts))
        relations: list[KinRelation] = []
        for other, e in evidence.items():
            info = links.accounts.get(other)
            if info is None:
                continue
            shared = mine.surnames & info.surnames
            if shared:
                stem = min(shared, key=lambda s: links.surname_counts[s])
                count = max(2, links.surname_counts[stem])
                e.surname = min(
                    1.0, max(0.25, math.log(n_accounts / count) / math.log(n_accounts / 2))
                )
                e.surname_stem = stem
            e.same_city = mine.city_key is not None and mine.city_key == info.city_key
            verdict = judge(e, self.weights)
            relations.append(
                KinRelation(
                    account=info.external_id,
                    account_id=other,
                    source="",
                    name=info.name,
                    city=info.city,
                    contacts={},
                    score=verdict.score,
                    relation=verdict.relation,
                    kinship=verdict.kinship,
                    reasons=verdict.reasons,
                    evidence=sorted(
                        photos_of.get(other, []), key=lambda p: (p.posted_at or "", p.photo_id)
                    )[:12],
                    declared=list(e.declared),
                )
            )
        relations.sort(key=lambda r: (-r.score, r.account))
        relations = relations[:top]
        self._fill_accounts(session, relations)
        same = [
            {"account": links.accounts[a].external_id, "account_id": a, "similarity": round(s, 4)}
            for a, s in sorted(same_face.items(), key=lambda kv: -kv[1])
            if a in links.accounts
        ]
        if same:
            notes.append(
                "the person's face is the owner's face of other accounts too (a second account, "
                "or a look-alike such as a sibling): see same_face_accounts"
            )
        source = session.get_one(Source, person.source_id)
        return KinResult(
            account=person.external_id,
            account_id=me,
            source=source.name,
            name=person.name,
            owner_faces=sum(1 for r in face_rows if r.role == FaceRole.OWNER.value),
            thresholds={
                "same_face": round(confidence.same_face, 4),
                "calibrated": float(confidence.calibration is not None),
            },
            relations=relations,
            same_face_accounts=same,
            notes=notes,
        )

    # -- helpers -----------------------------------------------------------------------------

    @staticmethod
    def _cues(
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

    @staticmethod
    def _photos(session: Session, where: list[Any]) -> list[_PhotoRow]:
        # The status is filtered here, not in SQL: SQLite would otherwise pick the low-selectivity
        # status index over the account/image/id ones and scan every ingested photo.
        rows = session.execute(
            select(
                Photo.id, Photo.account_id, Photo.image_id, Photo.rel_path, Photo.caption,
                Photo.posted_at, Photo.tagged, Photo.status,
            ).where(*where)
        ).all()  # fmt: skip
        return [
            _PhotoRow(r[0], r[1], r[2], r[3], r[4], r[5], parse_tags(r[6]))
            for r in rows
            if r[7] == PhotoStatus.DONE
        ]

    @staticmethod
    def _image_sizes(session: Session, image_ids: list[int]) -> dict[int, tuple[int, int]]:
        if not image_ids:
            return {}
        rows = session.execute(
            select(Image.id, Image.width, Image.height).where(Image.id.in_(image_ids))
        ).all()
        return {r[0]: (r[1], r[2]) for r in rows}

    @staticmethod
    def _pins(
        links: _Links,
        poster: _AccountInfo,
        photo: _PhotoRow,
        faces: list[FaceBox],
        size: tuple[int, int] | None,
    ) -> dict[int, tuple[int, str]]:
        """Face id -> (tagged account, "point" or "box") for the positioned tags of a photo."""
        out: dict[int, tuple[int, str]] = {}
        width, height = size or (0, 0)
        for tag in photo.tagged:
            if tag.point is None and tag.box is None:
                continue
            account = _resolve(links, poster, tag.account)
            face = face_under(tag, faces, width, height) if account is not None else None
            if account is not None and face is not None and face not in out:
                out[face] = (account, "point" if tag.point is not None else "box")
        return out

    def _tagged_appearances(
        self,
        session: Session,
        links: _Links,
        me: int,
        tag_photos: list[_PhotoRow],
        evidence: dict[int, PairEvidence],
        photos_of: dict[int, list[EvidencePhoto]],
        kin: Callable[[int], bool],
    ) -> None:
        """Other accounts' photos whose positioned tag of the person points at a face."""
        positioned = [p for p in tag_photos if p.image_id is not None and _positioned(p)]
        if not positioned:
            return
        image_ids = sorted({p.image_id for p in positioned if p.image_id is not None})
        faces_of: dict[int, list[FaceBox]] = defaultdict(list)
        for r in session.execute(
            select(Face.id, Face.image_id, Face.left, Face.top, Face.right, Face.bottom).where(
                Face.image_id.in_(image_ids)
            )
        ):
            faces_of[r[1]].append(FaceBox(r[0], r[2], r[3], r[4], r[5]))
        owner_faces = {
            (r[0], r[1])
            for r in session.execute(
                select(FaceRoleRecord.account_id, FaceRoleRecord.face_id).where(
                    FaceRoleRecord.face_id.in_([f.face_id for fs in faces_of.values() for f in fs]),
                    FaceRoleRecord.role == FaceRole.OWNER.value,
                )
            )
        }
        sizes = self._image_sizes(session, image_ids)
        for photo in positioned:
            image = photo.image_id
            poster = links.accounts.get(photo.account_id)
            if image is None or poster is None:
                continue
            faces = faces_of.get(image, [])
            pins = self._pins(links, poster, photo, faces, sizes.get(image))
            face = next((f for f, (acc, _) in pins.items() if acc == me), None)
            # A tag of the person on the poster's own face is a mis-tap (or a shared account).
            if face is None or (photo.account_id, face) in owner_faces:
                continue
            form = pins[face][1]
            other = photo.account_id
            e = evidence[other]
            e.pinned_images.add(image)
            if image in e.appears_images:
                e.appears_images[image] = max(e.appears_images[image], TAG_CONFIDENCE)
                for shown in photos_of[other]:
                    if shown.photo_id == photo.photo_id:
                        shown.tag = form
                continue
            e.appears_images[image] = TAG_CONFIDENCE
            share = 1.0 / max(1, len(faces) - 1)
            self._cues(
                e, photo.caption, share, invert=True, kin_share=share if not kin(other) else 1.0
            )
            if photo.posted_at:
                e.dates.append(photo.posted_at)
            photos_of[other].append(self._evidence(links, photo, "appears", None, form))

    @staticmethod
    def _evidence(
        links: _Links, photo: _PhotoRow, why: str, sim: float | None, tag: str | None = None
    ) -> EvidencePhoto:
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

    @staticmethod
    def _fill_accounts(session: Session, relations: list[KinRelation]) -> None:
        if not relations:
            return
        rows = session.execute(
            select(Account.id, Account.contacts, Source.name)
            .join(Source, Source.id == Account.source_id)
            .where(Account.id.in_([r.account_id for r in relations]))
        ).all()
        info = {r[0]: (r[1], r[2]) for r in rows}
        for relation in relations:
            contacts, source = info.get(relation.account_id, ({}, ""))
            relation.contacts = dict(contacts or {})
            relation.source = source
