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

The work is split by job: gallery-wide lookups (:mod:`nextofkin.kin.links`), face confidence
(:mod:`nextofkin.kin.faces`), photos and joint-photo evidence (:mod:`nextofkin.kin.photos`), the
gathering steps (:mod:`nextofkin.kin.gather`), the result records (:mod:`nextofkin.kin.results`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.errors import InputError, NotFound
from nextofkin.gallery.index import VectorIndex
from nextofkin.gallery.maintenance import embedder_spec, open_index
from nextofkin.gallery.records import Account, Face, FaceRole, FaceRoleRecord, Photo, Source
from nextofkin.i18n import gettext
from nextofkin.identify.calibration import Calibration
from nextofkin.identify.search import Hit, attribute_hits
from nextofkin.kin.circle import (
    CompanionFaces,
    family_circle,
    links_to_family,
    load_companions,
    load_together,
)
from nextofkin.kin.faces import (
    MIN_CALIBRATION_SAMPLES,
    MIN_CONFIDENCE,
    MIN_MARGIN,
    SURE_ENOUGH,
    TAG_CONFIDENCE,
    FaceConfidence,
    confident,
    nearest_owners,
)
from nextofkin.kin.gather import (
    add_appearances,
    add_companions,
    add_explicit,
    add_tagged_appearances,
    pins_in_own_photos,
)
from nextofkin.kin.links import Links, load_links
from nextofkin.kin.photos import Gathered, load_photos
from nextofkin.kin.results import EvidencePhoto, KinRelation, KinResult, SameFaceAccount
from nextofkin.kin.scoring import DEFAULT_WEIGHTS, FAMILY, Weights, judge
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

__all__ = [
    "MIN_CALIBRATION_SAMPLES",
    "MIN_CONFIDENCE",
    "MIN_MARGIN",
    "SURE_ENOUGH",
    "TAG_CONFIDENCE",
    "EvidencePhoto",
    "FaceConfidence",
    "KinRelation",
    "KinResult",
    "KinService",
    "confident",
    "nearest_owners",
]

log = logging.getLogger(__name__)

MAX_OWNER_QUERIES = 3  # index queries per person: the fused face and the two best faces
MAX_COMPANION_QUERIES = 80
NEIGHBOURS = 64
MAX_EVIDENCE_PHOTOS = 12


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
        self.workspace = workspace
        self.index = index if index is not None else open_index(workspace)
        self.weights = weights
        self.declared = declared
        self._links: Links | None = None
        self._companions: CompanionFaces | None = None
        self._confidence: FaceConfidence | None = None

    # -- set-up ------------------------------------------------------------------------------

    def links(self, session: Session) -> Links:
        """Gallery-wide lookups, loaded on first use."""
        if self._links is None:
            self._links = load_links(session, self.index.description.model)
        return self._links

    def together(self, session: Session) -> dict[int, set[int]]:
        """The gallery-wide graph of accounts seen or linked together (kin/circle.py), built
        in full: the reference the per-query family circle is tested against (slow on large
        galleries; queries use :meth:`circle_links`)."""
        return load_together(
            session, self.links(session), self.confidence(), self.index.description.model,
            declared=self.declared,
        )  # fmt: skip

    def companions(self, session: Session) -> CompanionFaces:
        """Every companion face of the gallery, loaded on first use (not resolved)."""
        if self._companions is None:
            self._companions = load_companions(session, self.index.description.model)
        return self._companions

    def circle_links(
        self, session: Session, family: set[int], candidates: set[int]
    ) -> dict[int, set[int]]:
        """Candidate -> the members of ``family`` it is seen or linked with, for one query."""
        return links_to_family(
            session, self.links(session), self.companions(session), self.confidence(),
            self.index.description.model, family, candidates, declared=self.declared,
        )  # fmt: skip

    def confidence(self) -> FaceConfidence:
        """How sure a face similarity makes us that two faces are one person (see the class)."""
        if self._confidence is None:
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
            where = gettext(" in source %(source)r", source=source) if source else ""
            raise NotFound(gettext("no account %(account)r%(where)s", account=account, where=where))
        if len(found) > 1:
            names = sorted(session.get_one(Source, a.source_id).name for a in found)
            raise InputError(
                gettext(
                    "account %(account)r exists in several sources (%(names)s): choose one "
                    "with --source",
                    account=account,
                    names=", ".join(names),
                )
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
        me = person.id
        mine = links.accounts[me]
        declared_kin: set[int] = set()
        if self.declared:
            declared_kin = {a for a, _ in links.declares.get(me, ())}
            declared_kin |= {a for a, _ in links.declared_by.get(me, ())}

        def kin(other: int) -> bool:
            # A kinship word in a photo with several people is given whole to the one who shares
            # the person's surname stem ("with my wife" beside a friend and the wife), or whom
            # a profile declares a relative.
            info = links.accounts.get(other)
            return other in declared_kin or (
                info is not None and bool(mine.surnames & info.surnames)
            )

        g = Gathered(links, self.confidence(), me, kin)
        photos = load_photos(session, [Photo.account_id == me])
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
        companions = [r for r in face_rows if r.role != FaceRole.OWNER.value]
        pinned = pins_in_own_photos(session, g, face_rows, photos) if self.declared else {}
        by_image = {p.image_id: p for p in photos if p.image_id is not None}
        add_companions(g, companions[:MAX_COMPANION_QUERIES], pinned, by_image)
        add_appearances(session, g, self._search(session, owners))
        tag_photo_ids = [pid for pid, _ in links.tagged_in.get(me, ())]
        tag_photos = load_photos(session, [Photo.id.in_(tag_photo_ids)]) if tag_photo_ids else []
        if self.declared:
            add_tagged_appearances(session, g, tag_photos)
        add_explicit(g, mine, photos, tag_photos, declared=self.declared)
        relations = self._judge_all(session, g)[:top]
        self._fill_accounts(session, relations)
        return self._result(session, person, g, relations, owner_faces=len(owners))

    def _search(self, session: Session, owners: Sequence[Any]) -> list[list[Hit]]:
        """The person's owner faces searched gallery-wide: one fused query (the mean of the
        owner's faces, as a probe fuses several photos) and the owner's best single faces;
        few queries keep a flat index fast."""
        if not owners or not len(self.index):
            return []
        k = min(NEIGHBOURS, len(self.index))
        singles = np.stack([r.embedding for r in owners]).astype(np.float32)
        fused = singles.mean(axis=0, keepdims=True)
        fused /= max(float(np.linalg.norm(fused)), 1e-12)
        queries = np.concatenate([fused, singles[: MAX_OWNER_QUERIES - 1]])
        scores, ids = self.index.search(queries, k)
        return attribute_hits(session, ids, scores)

    def _judge_all(self, session: Session, g: Gathered) -> list[KinRelation]:
        """Surname stems and cities, then the judgement of every linked account, best first.

        Judged twice: the first judgement says which candidates look like family; each
        candidate linked with those others (its family circle) is then judged again."""
        links = g.links
        mine = links.accounts[g.me]
        n_accounts = max(2, len(links.accounts))
        candidates = {o: e for o, e in g.evidence.items() if o in links.accounts}
        for other, e in candidates.items():
            info = links.accounts[other]
            shared = mine.surnames & info.surnames
            if shared:
                stem = min(shared, key=lambda s: links.surname_counts[s])
                count = max(2, links.surname_counts[stem])
                rarity = math.log(n_accounts / count) / math.log(n_accounts / 2)
                e.surname, e.surname_stem = min(1.0, max(0.25, rarity)), stem
            e.same_city = mine.city_key is not None and mine.city_key == info.city_key
        first = {o: judge(e, self.weights) for o, e in candidates.items()}
        family = {o for o, verdict in first.items() if verdict.relation == FAMILY}
        together = self.circle_links(session, family, set(candidates)) if family else {}
        relations: list[KinRelation] = []
        for other, e in candidates.items():
            info = links.accounts[other]
            circle = family_circle(together, other, family)
            e.family_circle = sorted(links.accounts[c].name or links.accounts[c].external_id
                                     for c in circle)  # fmt: skip
            verdict = judge(e, self.weights) if circle else first[other]
            shown = sorted(
                g.photos_of.get(other, []), key=lambda p: (p.posted_at or "", p.photo_id)
            )
            relations.append(
                KinRelation(
                    account=info.external_id, account_id=other, source="", name=info.name,
                    city=info.city, contacts={}, score=verdict.score, relation=verdict.relation,
                    kinship=verdict.kinship, reasons=verdict.reasons,
                    evidence=shown[:MAX_EVIDENCE_PHOTOS], declared=list(e.declared),
                )
            )  # fmt: skip
        # Exact ties go by display name, then id: the same order whichever tool exported the
        # gallery (ids are handles in one export and numbers in another).
        relations.sort(key=lambda r: (-r.score, (r.name or "").casefold(), r.account))
        return relations

    def _result(
        self,
        session: Session,
        person: Account,
        g: Gathered,
        relations: list[KinRelation],
        *,
        owner_faces: int,
    ) -> KinResult:
        notes: list[str] = []
        if not owner_faces:
            notes.append(
                "the account's owner could not be told from its photos: the person's face was "
                "not searched in other accounts"
            )
        same = [
            SameFaceAccount(g.links.accounts[a].external_id, a, round(s, 4))
            for a, s in sorted(g.same_face.items(), key=lambda kv: -kv[1])
            if a in g.links.accounts
        ]
        if same:
            notes.append(
                "the person's face is the owner's face of other accounts too (a second account, "
                "or a look-alike such as a sibling): see same_face_accounts"
            )
        return KinResult(
            account=person.external_id,
            account_id=person.id,
            source=session.get_one(Source, person.source_id).name,
            name=person.name,
            owner_faces=owner_faces,
            thresholds={
                "same_face": round(g.confidence.same_face, 4),
                "calibrated": float(g.confidence.calibration is not None),
            },
            relations=relations,
            same_face_accounts=same,
            notes=notes,
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
            relation.contacts = {str(k): str(v) for k, v in (contacts or {}).items()}
            relation.source = source
