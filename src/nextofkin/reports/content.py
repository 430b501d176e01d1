"""What the case report shows, gathered from the services below it as typed records.

Probe photos with their custody hashes, each search's candidates with the probe face and the
candidate's best gallery face side by side, what every score means, the reviewers' decisions,
kin findings, the messages sent, and the case's audit trail with the state of the hash chain.
Pictures are embedded as data URIs, so the file stands alone. Faces that were purged from the
gallery are not shown.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from PIL import Image
from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.alerts import AlertInfo, list_alerts
from nextofkin.cases.info import PhotoInfo, SearchInfo
from nextofkin.cases.inquiry_records import InquiryLink
from nextofkin.cases.labels import verdict_label
from nextofkin.cases.media import clean_photo, face_crop, jpeg_bytes
from nextofkin.cases.service import CaseInfo, get_case, verify_custody, view_case
from nextofkin.errors import ImageError, NextOfKinError
from nextofkin.gallery.records import Face
from nextofkin.i18n import gettext
from nextofkin.identify.meaning import decision_explanation, stored_meaning
from nextofkin.identify.results import Candidate, Evidence
from nextofkin.kin.engine import KinService
from nextofkin.kin.labels import evidence_label, kin_label
from nextofkin.kin.results import KinRelation
from nextofkin.notify.model import MessageInfo
from nextofkin.notify.service import outbox
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


@dataclass
class CandidateView:
    """One candidate row of the report."""

    rank: int
    ref: str
    name: str | None
    url: str | None
    score: float
    similarity: float | None  # cosine, when the score is normalised
    margin: float | None  # score minus the best other account's
    decision: str
    meaning: str
    decision_text: str
    probe_face: str | None
    gallery_face: str | None
    evidence: list[Evidence]
    verdicts: list[str]


@dataclass
class SearchView:
    """One search section of the report."""

    id: int
    run_by: str
    run_at: datetime
    model: str | None
    gallery_size: int | None
    # The calibration as the search stored it (a JSON column, shown as it was recorded).
    calibration: dict[str, Any]
    candidates: list[CandidateView] = field(default_factory=list)


@dataclass(frozen=True)
class PhotoRow:
    """A probe photo as the report shows it: its record, whether its custody hash still holds,
    and a thumbnail (a data URI; None when the picture cannot be read)."""

    info: PhotoInfo
    custody_ok: bool
    thumb: str | None


@dataclass(frozen=True)
class KinRow:
    """A relative of the identified person, with the evidence the report prints."""

    account: str
    name: str | None
    relation: str
    score: float
    reasons: str
    evidence: str


@dataclass(frozen=True)
class InquiryLinkRow:
    """A link of the case to a family's missing-person inquiry, as the report lists it."""

    inquiry: int
    state: str
    score: float
    decision: str
    meaning: str
    reviewers: str


@dataclass
class ReportData:
    """Everything the report template shows."""

    case: CaseInfo
    generated_at: datetime
    generated_by: str
    photos: list[PhotoRow]
    searches: list[SearchView]
    messages: list[MessageInfo]
    kin: list[KinRow]
    trail: list[audit.AuditEntryView]
    chain_ok: bool
    chain_problems: list[str]
    team_name: str
    # Links to families' missing-person inquiries (issue 16): inquiry id, state, score, meaning.
    inquiry_links: list[InquiryLinkRow] = field(default_factory=list)
    # Alerts of the case's standing search (issue 16): every one, open or acknowledged.
    alerts: list[AlertInfo] = field(default_factory=list)


def _inquiry_links(session: Session, case_id: int) -> list[InquiryLinkRow]:
    """The case's links to inquiries, best first (read from the case layer's own tables)."""
    rows = session.scalars(
        select(InquiryLink).where(InquiryLink.case_id == case_id).order_by(InquiryLink.score.desc())
    )
    return [
        InquiryLinkRow(
            r.inquiry_id, r.state, r.score, r.decision, r.meaning, ", ".join(r.reviewers or [])
        )
        for r in rows
    ]


def _data_uri(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode("ascii")


def _safe(picture: Callable[[], Image.Image]) -> str | None:
    """The picture as a data URI, or None (logged) when it cannot be read: a report still
    renders when one file is damaged or gone."""
    try:
        return _data_uri(jpeg_bytes(picture()))
    except (ImageError, OSError, ValueError) as exc:
        log.warning("report picture unavailable: %s", exc)
        return None


def _kin_row(r: KinRelation) -> KinRow:
    evidence = "; ".join(
        f"{e.photo} ({evidence_label(e.why)}"
        + (f", {e.similarity:.3f}" if e.similarity is not None else "")
        + (f", tag ({e.tag})" if e.tag else "")
        + ")"
        for e in r.evidence[:3]
    )
    return KinRow(
        account=f"{r.source}/{r.account}",
        name=r.name,
        relation=kin_label(r.relation) + (f" ({kin_label(r.kinship)})" if r.kinship else ""),
        score=r.score,
        reasons="; ".join(r.reasons),
        evidence=evidence,
    )


def _kin_rows(workspace: Workspace, info: CaseInfo) -> list[KinRow]:
    """Relatives of the identified person with their evidence (none when kin is unavailable)."""
    if not info.identified_ref:
        return []
    source, _, external = info.identified_ref.partition("/")
    try:
        result = KinService(workspace).kin(external, source=source, top=10)
    except NextOfKinError as exc:
        log.warning("kin unavailable for %s: %s", info.identified_ref, exc)
        return []
    return [_kin_row(r) for r in result.relations]


def _photo_rows(session: Session, workspace: Workspace, info: CaseInfo) -> list[PhotoRow]:
    custody = {c.stored_path: c.ok for c in verify_custody(session, workspace, info.number)}
    return [
        PhotoRow(
            info=p,
            custody_ok=custody.get(p.stored_path, False),
            thumb=_safe(partial(clean_photo, workspace.media_dir / p.stored_path, max_side=420)),
        )
        for p in info.photos
    ]


def _verdicts(info: CaseInfo) -> dict[str, list[str]]:
    """Each account's reviewer decisions, as the report prints them."""
    verdicts: dict[str, list[str]] = {}
    for d in info.decisions:
        verdicts.setdefault(d.account_ref, []).append(
            gettext("%(verdict)s by %(user)s", verdict=verdict_label(d.decision), user=d.reviewer)
        )
    return verdicts


def _probe_face(media: Path, s: SearchInfo) -> str | None:
    """The best-quality probe face of a search, cropped (None when its photo is gone)."""
    probe = max(s.probe_faces, key=lambda p: p.quality, default=None)
    if probe is None or not (media / probe.photo).is_file():
        return None
    return _safe(lambda: face_crop(media / probe.photo, probe.box, rotation=probe.rotation))


def _candidate_view(
    session: Session, rank: int, c: Candidate, s: SearchInfo, probe_face: str | None, ctx: _Ctx
) -> CandidateView:
    # Evidence faces purged from the gallery since the search are not shown.
    live = set(session.scalars(select(Face.id).where(Face.id.in_([e.face_id for e in c.evidence]))))
    evidence = [e for e in c.evidence if e.face_id in live]
    gallery_face = None
    if evidence:
        best = evidence[0]
        gallery_face = _safe(lambda: face_crop(Path(best.image_path), best.box))
    return CandidateView(
        rank=rank,
        ref=c.ref,
        name=c.name,
        url=c.url,
        score=c.score,
        similarity=c.similarity,
        margin=c.margin,
        decision=c.decision,
        # Written again in the report's language from the stored numbers.
        meaning=stored_meaning(c.fpir, s.gallery_size, ctx.samples, c.meaning),
        decision_text=decision_explanation(c.decision),
        probe_face=probe_face,
        gallery_face=gallery_face,
        evidence=evidence,
        verdicts=ctx.verdicts.get(c.ref, []),
    )


@dataclass(frozen=True)
class _Ctx:
    """What every candidate row of one search needs besides the candidate."""

    verdicts: dict[str, list[str]]
    samples: object  # the calibration's stored sample count, as stored_meaning takes it


def _search_views(
    session: Session, workspace: Workspace, info: CaseInfo, verdicts: dict[str, list[str]]
) -> list[SearchView]:
    views = []
    for s in info.searches:
        probe_face = _probe_face(workspace.media_dir, s)
        calibration = s.calibration.to_json() if s.calibration else {}
        view = SearchView(s.id, s.run_by, s.run_at, s.model, s.gallery_size, calibration)
        ctx = _Ctx(verdicts, s.calibration.samples if s.calibration else None)
        view.candidates = [
            _candidate_view(session, rank, c, s, probe_face, ctx)
            for rank, c in enumerate(s.candidates, start=1)
        ]
        views.append(view)
    return views


def collect(session: Session, workspace: Workspace, actor: str | None, number: str) -> ReportData:
    """Gather the report's content (checks the ``view`` permission; the view is audited)."""
    user = require(session, actor, Permission.VIEW)
    info = view_case(session, user.name, number)
    photos = _photo_rows(session, workspace, info)
    searches = _search_views(session, workspace, info, _verdicts(info))
    messages = outbox(session, user.name, number)
    chain = audit.verify(session)
    trail = audit.entries(session, case=number)  # before kin's own audit entry, as always
    return ReportData(
        case=info,
        generated_at=datetime.now(UTC),
        generated_by=user.name,
        photos=photos,
        searches=searches,
        messages=messages,
        kin=_kin_rows(workspace, info),
        trail=trail,
        chain_ok=chain.ok,
        chain_problems=[p.message for p in chain.problems],
        team_name=workspace.settings.notify.team_name or gettext("Identification team"),
        inquiry_links=_inquiry_links(session, get_case(session, number).id),
        alerts=list_alerts(session, user.name, state=None, case_number=number),
    )
