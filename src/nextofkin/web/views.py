"""What the case page shows, assembled from the case, review and gallery services.

The review rules (how many confirmations a candidate needs, which ones count) come from
:mod:`nextofkin.cases.review`; this module only arranges their answers for display.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.info import CaseSummary, DecisionInfo, StoredProbe
from nextofkin.cases.records import Case
from nextofkin.cases.review import counting_confirmations, needed_reviewers
from nextofkin.cases.service import (
    CaseInfo,
    CaseState,
    CustodyCheck,
    SearchInfo,
    get_case,
    list_cases,
    verify_custody,
)
from nextofkin.gallery.records import Image as GalleryImage
from nextofkin.gallery.records import Photo
from nextofkin.identify.meaning import decision_label, stored_meaning
from nextofkin.identify.results import Candidate, SearchCalibration, Sighting
from nextofkin.notify.service import OutboxState, outbox
from nextofkin.settings import ReviewPolicy
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

EXIF_ORIENTATION = 0x0112


@functools.lru_cache(maxsize=4096)
def _upright_size(path: str, mtime_ns: int) -> tuple[int, int]:
    with Image.open(path) as image:
        width, height = image.size
        orientation = image.getexif().get(EXIF_ORIENTATION, 1)
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)


def upright_size(path: Path) -> tuple[int, int]:
    """The size of an image as shown upright (EXIF orientation applied), read from its header."""
    try:
        return _upright_size(str(path), path.stat().st_mtime_ns)
    except OSError:
        return (1, 1)


@dataclass(frozen=True)
class ProbeView:
    """A post-mortem photo of the case, with the face the newest search used (if any)."""

    ordinal: int
    name: str
    sha256: str
    width: int
    height: int
    box: list[float] | None
    rotation: int
    quality: float | None
    faces_in_photo: int | None
    custody_ok: bool


@dataclass(frozen=True)
class EvidenceView:
    """One gallery face that matched, with its photo's size for drawing the box."""

    face_id: int
    photo_id: int
    photo: str
    box: list[float]
    width: int
    height: int
    similarity: float
    role: str
    kind: str
    caption: str | None


@dataclass(frozen=True)
class CandidateView:
    """One candidate with its score's meaning and where its review stands."""

    rank: int
    ref: str
    account_id: int
    name: str | None
    url: str | None
    score: float
    similarity: float | None  # cosine, when the score is normalised (absent in old searches)
    margin: float | None  # score minus the best other account's (absent in old searches)
    decision: str
    decision_text: str
    fpir: float | None
    meaning: str
    evidence: list[EvidenceView]
    confirmations: list[str]
    needed: int
    last_verdict: str | None
    last_reason: str | None
    last_reviewer: str | None
    identified: bool


@dataclass
class CasePage:
    """Everything the case page draws."""

    info: CaseInfo
    probes: list[ProbeView]
    search: SearchInfo | None
    candidates: list[CandidateView]
    calibration: SearchCalibration | None
    sightings: list[Sighting]
    custody: list[CustodyCheck] = field(default_factory=list)

    @property
    def best_probe(self) -> ProbeView | None:
        """The probe photo whose face has the best quality (shown beside each candidate)."""
        used = [p for p in self.probes if p.box is not None]
        return max(used, key=lambda p: p.quality or 0.0) if used else None


def _evidence_sizes(session: Session, photo_ids: set[int]) -> dict[int, tuple[int, int]]:
    if not photo_ids:
        return {}
    rows = session.execute(
        select(Photo.id, GalleryImage.width, GalleryImage.height)
        .join(GalleryImage, GalleryImage.id == Photo.image_id)
        .where(Photo.id.in_(photo_ids))
    ).all()
    return {pid: (w, h) for pid, w, h in rows}


def case_page(
    session: Session, workspace: Workspace, policy: ReviewPolicy, info: CaseInfo
) -> CasePage:
    """Arrange a case (already fetched, and its view audited, by the caller) for the case page."""
    custody = verify_custody(session, workspace, info.number)
    search = info.searches[-1] if info.searches else None
    return CasePage(
        info=info,
        probes=_probe_views(workspace, info, search, {c.stored_path: c.ok for c in custody}),
        search=search,
        candidates=(
            _candidate_views(session, get_case(session, info.number), policy, info, search)
            if search is not None
            else []
        ),
        calibration=search.calibration if search is not None else None,
        sightings=search.sightings if search is not None else [],
        custody=custody,
    )


def _probe_views(
    workspace: Workspace, info: CaseInfo, search: SearchInfo | None, ok: dict[str, bool]
) -> list[ProbeView]:
    """Each probe photo with the face the newest search used from it, if any."""
    probes_by_ordinal: dict[int, StoredProbe] = {}
    if search is not None:
        for probe in search.probe_faces:
            if probe.case_photo is not None:
                probes_by_ordinal[probe.case_photo] = probe
    probes = []
    for photo in info.photos:
        width, height = upright_size(workspace.media_dir / photo.stored_path)
        used = probes_by_ordinal.get(photo.ordinal)
        probes.append(
            ProbeView(
                ordinal=photo.ordinal,
                name=photo.original_name,
                sha256=photo.sha256,
                width=width,
                height=height,
                box=[float(v) for v in used.box] if used else None,
                rotation=used.rotation if used else 0,
                quality=used.quality if used else None,
                faces_in_photo=used.faces_in_photo if used else None,
                custody_ok=ok.get(photo.stored_path, False),
            )
        )
    return probes


def _evidence_views(cand: Candidate, sizes: dict[int, tuple[int, int]]) -> list[EvidenceView]:
    return [
        EvidenceView(
            face_id=e.face_id,
            photo_id=e.photo_id,
            photo=e.photo,
            box=[float(v) for v in e.box],
            width=sizes.get(e.photo_id, (1, 1))[0],
            height=sizes.get(e.photo_id, (1, 1))[1],
            similarity=e.similarity,
            role=e.role,
            kind=e.kind,
            caption=e.caption,
        )
        for e in cand.evidence
    ]


def _candidate_views(
    session: Session, case: Case, policy: ReviewPolicy, info: CaseInfo, search: SearchInfo
) -> list[CandidateView]:
    """The newest search's candidates with their evidence and where their review stands."""
    sizes = _evidence_sizes(session, {e.photo_id for c in search.candidates for e in c.evidence})
    last: dict[str, DecisionInfo] = {}
    for made in info.decisions:
        last[made.account_ref] = made
    identified = set(info.identified_ref.split(",")) if info.identified_ref else set()
    samples = search.calibration.samples if search.calibration else None
    views = []
    for rank, cand in enumerate(search.candidates, start=1):
        previous = last.get(cand.ref)
        views.append(
            CandidateView(
                rank=rank,
                ref=cand.ref,
                account_id=cand.account_id,
                name=cand.name,
                url=cand.url,
                score=cand.score,
                similarity=cand.similarity,
                margin=cand.margin,
                decision=cand.decision,
                decision_text=decision_label(cand.decision),
                fpir=cand.fpir,
                # Written again in the reader's language from the stored numbers.
                meaning=stored_meaning(cand.fpir, search.gallery_size, samples, cand.meaning),
                evidence=_evidence_views(cand, sizes),
                confirmations=counting_confirmations(case, cand.ref),
                needed=needed_reviewers(policy, cand.decision),
                last_verdict=previous.decision if previous else None,
                last_reason=previous.reason if previous else None,
                last_reviewer=previous.reviewer if previous else None,
                identified=cand.ref in identified,
            )
        )
    return views


# The review queue (stored values, as the column holds them).
WORK_STATES = (CaseState.SEARCHED.value, CaseState.UNDER_REVIEW.value)


@dataclass
class Dashboard:
    """The dashboard's figures."""

    by_state: dict[str, int]
    total: int
    identified: int
    notified: int
    waiting: list[CaseSummary]  # waiting for review, oldest first
    recent: list[audit.AuditEntryView]  # newest first
    messages_attention: int


def dashboard(session: Session, actor: str) -> Dashboard:
    """Cases by state, identified and notified counts, review queue and recent activity."""
    rows = list_cases(session, actor)
    by_state = {s.value: 0 for s in CaseState}
    for row in rows:
        by_state[row.state.value] += 1
    messages = outbox(session, actor)
    notified = {m.case_number for m in messages if m.state is OutboxState.SENT}
    attention = sum(1 for m in messages if m.state in (OutboxState.UNCERTAIN, OutboxState.FAILED))
    return Dashboard(
        by_state=by_state,
        total=len(rows),
        identified=sum(1 for r in rows if r.identified_ref),
        notified=len(notified),
        waiting=sorted(
            (r for r in rows if r.state.value in WORK_STATES), key=lambda r: r.opened_at
        ),
        recent=list(reversed(audit.entries(session, limit=15))),
        messages_attention=attention,
    )


def next_case(session: Session, actor: str, current: str) -> str | None:
    """The next case waiting for review after ``current`` (oldest first, wrapping around)."""
    # Shown on every case page: only the queue's numbers, not every case with its counts.
    require(session, actor, Permission.VIEW)
    numbers = list(
        session.scalars(
            select(Case.number)
            .where(Case.state.in_(WORK_STATES))
            .order_by(Case.opened_at, Case.number)
        )
    )
    if not numbers:
        return None
    if current in numbers:
        following = numbers[numbers.index(current) + 1 :] + numbers[: numbers.index(current)]
        return following[0] if following else None
    return numbers[0]
