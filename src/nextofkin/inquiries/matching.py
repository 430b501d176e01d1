"""Search inquiries' faces against every case's post-mortem faces, and propose links.

Each photo, the family's or the body's, contributes the face a probe search would use (the most
prominent one, found with the same rotations and fallbacks); a case photo's face is stored once
in ``case_probe_faces``, the probe-face index beside the gallery's, and an inquiry's in its photo
row. An inquiry's faces fuse into one vector, a case's likewise, and the pair's cosine similarity
is the link's score.

What a score means is read off the gallery's cosine calibration (impostor top-1 similarities of
the gallery's own accounts, the one kin uses for face-to-face confidence), rescaled to the number
of cases searched: "a stranger's photo scores this high against one of these N cases about 1 time
in X". A link is proposed when that rate is within the ``possible`` target of the decision policy
(``match`` within the ``match`` target), exactly the meaning a gallery search gives its
candidates; without a measured calibration (a gallery under 30 accounts) the model's published
operating points decide and the evidence says so. Nothing is decided here: a link waits for
reviewers (:mod:`nextofkin.inquiries.review`).

Sweeps run when an inquiry is filed or gains photos (that inquiry against every case) and when a
case is opened or gains photos (every inquiry against that case); ``inquiry match`` sweeps all.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.inquiry_records import CaseProbeFace, InquiryLink, InquiryPhoto
from nextofkin.cases.records import Case, CasePhoto
from nextofkin.gallery.embedder import resolve_embedder, workspace_vision
from nextofkin.gallery.maintenance import embedder_spec, open_index
from nextofkin.identify.calibration import MIN_SAMPLES, Calibration, Decision, calibrate
from nextofkin.identify.search import fuse, pick_probe_face
from nextofkin.identify.service import LocalAnalyser, ProbeAnalyser, ProbeAnalysis
from nextofkin.inquiries.service import InquiryAction, acting_user
from nextofkin.settings import DecisionPolicy
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.vision.registry import default_registry
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

PROPOSED = "proposed"


def local_analyser(workspace: Workspace) -> LocalAnalyser:
    """Face analysis in this process with the workspace's models (loaded on first use)."""
    registry = default_registry()
    vision = workspace_vision(workspace, resolve_embedder(workspace, registry))
    limits = workspace.settings.vision
    return LocalAnalyser(
        FacePipeline.from_settings(vision, registry),
        max_pixels=limits.max_pixels,
        max_bytes=limits.max_bytes,
    )


def face_calibration(workspace: Workspace) -> Calibration:
    """The gallery's cosine calibration, or the model's published operating points without one."""
    try:
        stored = open_index(workspace).description.similarity_calibration
    except Exception as exc:  # no index yet (cases before any ingest): the fallback speaks
        log.info("no gallery calibration for inquiries (%s): published operating points", exc)
        stored = None
    if stored:
        calibration = Calibration.from_dict(stored)
        if calibration.score_kind == "cosine":
            return calibration
    spec = embedder_spec(workspace)
    return calibrate(
        np.empty(0),
        0,
        workspace.settings.decision,
        method="model's published operating points",
        fallback=(spec.same_person_similarity, spec.strict_similarity),
    )


@dataclass(frozen=True)
class LinkScore:
    """What one (inquiry, case) similarity means."""

    decision: Decision
    fpir: float
    meaning: str


def judge(calibration: Calibration, policy: DecisionPolicy, score: float, cases: int) -> LinkScore:
    """The decision and meaning of ``score`` when one inquiry was searched against ``cases``."""
    measured = calibration.fpir(score)
    # Rescaling to fewer comparisons is only informative where some measured stranger scored
    # lower: below every measured top-1 the data say nothing about one comparison, so no evidence.
    p = 1.0 if measured >= 1.0 - 1e-9 else calibration.fpir(score, max(cases, 1))
    if calibration.samples >= MIN_SAMPLES:
        if p <= policy.match_fpir:
            decision = Decision.MATCH
        elif p <= policy.possible_fpir:
            decision = Decision.POSSIBLE
        else:
            decision = Decision.NO_MATCH
    else:
        decision = calibration.decide(score)
    where = f"against one of these {cases:,} case{'s' if cases != 1 else ''}"
    if p >= 0.5:
        meaning = f"strangers' photos commonly score this high {where} ({p:.0%}): not evidence"
    elif p < 1e-7:
        meaning = f"a stranger's photo scores this high {where} fewer than 1 time in 10,000,000"
    else:
        meaning = f"a stranger's photo scores this high {where} about 1 time in {round(1 / p):,}"
    if calibration.samples < MIN_SAMPLES:
        meaning += " (rough: the gallery is too small to measure, published operating points)"
    return LinkScore(decision, p, meaning)


def _store_face(row: InquiryPhoto | CaseProbeFace, analysis: ProbeAnalysis) -> None:
    found = analysis.found
    if found is None or not found.faces:
        row.error = analysis.message[:500] or "no face found"
        return
    face = pick_probe_face(found.faces, found.width, found.height)
    row.box = [int(v) for v in face.box.as_list()]
    row.rotation = int(face.rotation)
    row.quality = float(face.quality.overall)
    row.embedding = np.asarray(face.embedding, dtype=np.float32)
    row.error = None


def analyse_pending(
    workspace: Workspace, make_analyser: Callable[[], ProbeAnalyser]
) -> tuple[int, int]:
    """Find the face of every inquiry photo and case photo not analysed yet.

    Returns (inquiry photos, case photos) analysed. Case photos wait until some inquiry exists
    (opening a case loads no models for nothing), and the models load only when there is work.
    The analysis runs outside any transaction, so no write lock is held while faces are found.
    """
    media = workspace.media_dir
    with workspace.session() as session:
        inquiry_todo = [
            (p.id, media / p.stored_path)
            for p in session.scalars(
                select(InquiryPhoto).where(
                    InquiryPhoto.embedding.is_(None), InquiryPhoto.error.is_(None)
                )
            )
        ]
        any_inquiry = session.scalar(select(InquiryPhoto.id).limit(1)) is not None
        indexed = select(CaseProbeFace.case_photo_id)
        case_todo = (
            [
                (p.id, p.case_id, media / p.stored_path)
                for p in session.scalars(select(CasePhoto).where(CasePhoto.id.not_in(indexed)))
            ]
            if any_inquiry
            else []
        )
    if not inquiry_todo and not case_todo:
        return 0, 0
    analyser = make_analyser()
    inquiry_results = analyser.analyse([path for _, path in inquiry_todo])
    case_results = analyser.analyse([path for _, _, path in case_todo])
    with workspace.session() as session:
        for (photo_id, _), analysis in zip(inquiry_todo, inquiry_results, strict=True):
            row = session.get(InquiryPhoto, photo_id)
            if row is not None:  # purged meanwhile
                _store_face(row, analysis)
        for (photo_id, case_id, _), analysis in zip(case_todo, case_results, strict=True):
            face = CaseProbeFace(case_id=case_id, case_photo_id=photo_id, rotation=0)
            _store_face(face, analysis)
            session.add(face)
    return len(inquiry_todo), len(case_todo)


@dataclass
class _Side:
    """Fused vectors of one side (inquiries or cases) and each one's per-photo faces."""

    ids: list[int] = field(default_factory=list)
    fused: list[np.ndarray] = field(default_factory=list)
    photos: list[list[tuple[int, np.ndarray]]] = field(default_factory=list)

    def add(self, key: int, faces: list[tuple[int, np.ndarray, float]]) -> None:
        self.ids.append(key)
        self.fused.append(fuse([v for _, v, _ in faces], [q for _, _, q in faces]))
        self.photos.append([(o, v) for o, v, _ in faces])

    def matrix(self) -> np.ndarray:
        return np.stack(self.fused) if self.fused else np.zeros((0, 1), np.float32)


def _inquiry_side(session: Session) -> _Side:
    grouped: dict[int, list[tuple[int, np.ndarray, float]]] = {}
    for p in session.scalars(
        select(InquiryPhoto)
        .where(InquiryPhoto.embedding.is_not(None))
        .order_by(InquiryPhoto.inquiry_id, InquiryPhoto.ordinal)
    ):
        assert p.embedding is not None
        grouped.setdefault(p.inquiry_id, []).append((p.ordinal, p.embedding, p.quality or 0.0))
    side = _Side()
    for key, faces in grouped.items():
        side.add(key, faces)
    return side


def _case_side(session: Session) -> _Side:
    grouped: dict[int, list[tuple[int, np.ndarray, float]]] = {}
    rows = session.execute(
        select(CaseProbeFace, CasePhoto.ordinal)
        .join(CasePhoto, CasePhoto.id == CaseProbeFace.case_photo_id)
        .where(CaseProbeFace.embedding.is_not(None))
        .order_by(CaseProbeFace.case_id, CasePhoto.ordinal)
    )
    for face, ordinal in rows:
        assert face.embedding is not None
        grouped.setdefault(face.case_id, []).append((ordinal, face.embedding, face.quality or 0.0))
    side = _Side()
    for key, faces in grouped.items():
        side.add(key, faces)
    return side


@dataclass(frozen=True)
class SweepReport:
    """What a sweep did: faces analysed, pairs compared, links proposed or refreshed."""

    inquiry_photos_analysed: int
    case_photos_analysed: int
    inquiries: int
    cases: int
    new_links: list[int]
    refreshed_links: int


def _evidence(
    inquiries: _Side, i: int, cases: _Side, c: int, n_cases: int, calibration: Calibration
) -> dict[str, Any]:
    pairs = [
        {"inquiry_photo": io, "case_photo": co, "similarity": round(float(iv @ cv), 4)}
        for io, iv in inquiries.photos[i]
        for co, cv in cases.photos[c]
    ]
    pairs.sort(key=lambda p: -float(p["similarity"]))
    return {
        "pairs": pairs[:20],
        "cases_compared": n_cases,
        "calibration": calibration.method,
        "calibration_samples": calibration.samples,
        "notes": list(calibration.notes),
    }


@dataclass
class _Pass:
    """One comparison pass: both sides, the calibration, what to compare, and what happened."""

    inquiries: _Side
    cases: _Side
    calibration: Calibration
    policy: DecisionPolicy
    actor: str
    wanted_inquiries: set[int] | None
    wanted_cases: set[int] | None
    new: list[int] = field(default_factory=list)
    refreshed: int = 0

    def wanted(self, inquiry_id: int, case_id: int) -> bool:
        if self.wanted_inquiries is None and self.wanted_cases is None:
            return True
        return (self.wanted_inquiries is not None and inquiry_id in self.wanted_inquiries) or (
            self.wanted_cases is not None and case_id in self.wanted_cases
        )


def _compare(session: Session, run: _Pass) -> None:
    """Propose or refresh a link for every wanted pair whose score is at least ``possible``."""
    scores = run.inquiries.matrix() @ run.cases.matrix().T
    n_cases = len(run.cases.ids)
    existing = {(lk.inquiry_id, lk.case_id): lk for lk in session.scalars(select(InquiryLink))}
    for i, inquiry_id in enumerate(run.inquiries.ids):
        for c, case_id in enumerate(run.cases.ids):
            link = existing.get((inquiry_id, case_id))
            if not run.wanted(inquiry_id, case_id) or (link is not None and link.state != PROPOSED):
                continue  # decided links are the reviewers': never rescored
            score = float(scores[i, c])
            judged = judge(run.calibration, run.policy, score, n_cases)
            if judged.decision is Decision.NO_MATCH and link is None:
                continue
            if link is None:
                link = InquiryLink(
                    inquiry_id=inquiry_id,
                    case_id=case_id,
                    state=PROPOSED,
                    found_by=run.actor,
                    reviewers=[],
                )
                session.add(link)
            else:
                run.refreshed += 1
            link.score = round(score, 5)
            link.fpir = judged.fpir
            link.decision = judged.decision.value
            link.meaning = judged.meaning
            link.evidence = _evidence(run.inquiries, i, run.cases, c, n_cases, run.calibration)
            session.flush()
            if (inquiry_id, case_id) not in existing:
                run.new.append(link.id)
                _audit_link(session, run.actor, link)


def match(
    workspace: Workspace,
    actor: str | None,
    *,
    analyser: ProbeAnalyser | None = None,
    make_analyser: Callable[[], ProbeAnalyser] | None = None,
    calibration: Calibration | None = None,
    inquiry_ids: Sequence[int] | None = None,
    case_numbers: Sequence[str] | None = None,
) -> SweepReport:
    """Analyse what is new, then compare inquiries with cases and propose links.

    Without ``inquiry_ids`` and ``case_numbers`` every pair is compared; with either, only the
    pairs that involve them. ``analyser`` (or ``make_analyser``, called only when a photo waits)
    finds faces; by default the workspace's models in this process. Links already decided are
    never touched; a proposed link's score and evidence are refreshed (a case may have gained
    photos), and it stays for review even if its score fell (reviewers reject it, on record).
    """
    with workspace.session() as session:
        name = acting_user(session, actor).name
    analysed = analyse_pending(
        workspace, lambda: analyser or (make_analyser or partial(local_analyser, workspace))()
    )
    with workspace.session() as session:
        wanted_cases = (
            set(session.scalars(select(Case.id).where(Case.number.in_(list(case_numbers)))))
            if case_numbers is not None
            else None
        )
        inquiries, cases = _inquiry_side(session), _case_side(session)
        if not inquiries.ids or not cases.ids:
            return SweepReport(*analysed, len(inquiries.ids), len(cases.ids), [], 0)
        run = _Pass(
            inquiries,
            cases,
            calibration or face_calibration(workspace),
            workspace.settings.decision,
            name,
            set(inquiry_ids) if inquiry_ids is not None else None,
            wanted_cases,
        )
        _compare(session, run)
    log.info("inquiry sweep: %d new link(s), %d refreshed", len(run.new), run.refreshed)
    return SweepReport(
        *analysed, len(run.inquiries.ids), len(run.cases.ids), run.new, run.refreshed
    )


def _audit_link(session: Session, actor: str, link: InquiryLink) -> None:
    number = session.scalars(select(Case.number).where(Case.id == link.case_id)).one()
    audit.record(
        session,
        actor,
        InquiryAction.LINK,
        f"inquiry:{link.inquiry_id}",
        {"link": link.id, "case": number, "score": link.score, "decision": link.decision},
        case=number,
    )
