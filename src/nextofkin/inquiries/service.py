"""File an inquiry, add the family's photos, and read inquiries back (scoped by role).

An inquiry exists only with the consent of the person who asks (refused without, and a CHECK in
the database). Users who may view cases see every inquiry; an intake user sees only the
inquiries they filed, and no other inquiry exists for them (NotFound, the same answer as for an
id that was never used). Audit entries name inquiries by id only: the audit log is never purged,
and a family that withdraws must leave no name, address or photo hash behind.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.addresses import normalise_email
from nextofkin.cases.inquiry_records import Inquiry, InquiryLink, InquiryLinkDecision, InquiryPhoto
from nextofkin.cases.records import Case
from nextofkin.diskspace import write_atomically
from nextofkin.errors import InputError, NotFound, PermissionDenied, PolicyViolation
from nextofkin.i18n import _
from nextofkin.users.records import User
from nextofkin.users.service import ROLE_PERMISSIONS, Permission, Role, require
from nextofkin.vision.image_io import decode_image, read_bytes, require_face_size
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


class InquiryAction(StrEnum):
    """Audit actions of inquiries (recorded with the inquiry's id, never its personal data)."""

    FILE = "inquiry.file"
    PHOTO = "inquiry.photo"
    VIEW = "inquiry.view"
    LINK = "inquiry.link"
    LINK_CONFIRM = "inquiry.link_confirm"
    LINK_REJECT = "inquiry.link_reject"
    LINK_CONFIRMED = "inquiry.link_confirmed"
    LINK_WITHDRAWN = "inquiry.link_withdrawn"
    PURGE = "inquiry.purge"


@dataclass(frozen=True)
class MissingPerson:
    """Who is missing, as the family describes them."""

    name: str
    birth_date: str | None = None
    last_seen_place: str | None = None
    last_seen_date: str | None = None
    marks: str | None = None


@dataclass(frozen=True)
class Inquirer:
    """Who asks, how to reach them, and their consent to processing (required)."""

    name: str
    relation: str
    email: str | None = None
    phone: str | None = None
    consent: bool = False
    consent_note: str | None = None


@dataclass(frozen=True)
class InquiryPhotoInfo:
    """One photo of the missing person and the face used from it."""

    ordinal: int
    original_name: str
    stored_path: str
    face_found: bool
    quality: float | None
    error: str | None


@dataclass(frozen=True)
class LinkDecisionInfo:
    """One reviewer decision on a link."""

    id: int
    decision: str
    reviewer: str
    reason: str | None
    at: datetime


@dataclass(frozen=True)
class LinkInfo:
    """A link between an inquiry and a case, with the evidence reviewers judge."""

    id: int
    inquiry_id: int
    case_number: str
    state: str
    score: float
    fpir: float
    decision: str
    meaning: str
    evidence: dict[str, Any]
    reviewers: list[str]
    found_at: datetime
    decisions: list[LinkDecisionInfo] = field(default_factory=list)


@dataclass
class InquiryInfo:
    """An inquiry with its photos and links."""

    id: int
    missing: MissingPerson
    inquirer: Inquirer
    filed_by: str
    filed_at: datetime
    photos: list[InquiryPhotoInfo] = field(default_factory=list)
    links: list[LinkInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


def media_dir(workspace: Workspace, inquiry_id: int) -> Path:
    """Where an inquiry's photos live (removed whole by its purge)."""
    return workspace.media_dir / "inquiries" / str(inquiry_id)


def _iso_date(value: str | None, what: str) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return date.fromisoformat(value.strip()).isoformat()
    except ValueError as exc:
        raise InputError(
            _("%(what)s %(value)r is not an ISO date (1990-04-17)", what=what, value=value)
        ) from exc


def _text(value: str | None, what: str, *, required: bool = False, limit: int = 2000) -> str | None:
    text = (value or "").strip()
    if not text:
        if required:
            raise InputError(_("%(what)s is required", what=what))
        return None
    if len(text) > limit:
        raise InputError(_("%(what)s is longer than %(limit)s characters", what=what, limit=limit))
    return text


def may_see_all(user: User) -> bool:
    """Whether ``user`` sees every inquiry (case viewers) or only their own (intake)."""
    return Permission.VIEW in ROLE_PERMISSIONS[Role(user.role)]


def get_inquiry(session: Session, user: User, inquiry_id: int) -> Inquiry:
    """The inquiry ``inquiry_id`` if ``user`` may see it; NotFound otherwise (never 'forbidden',
    which would tell an intake user that someone else's inquiry exists)."""
    inquiry = session.get(Inquiry, inquiry_id)
    if inquiry is None or not (may_see_all(user) or inquiry.filed_by == user.name):
        raise NotFound(
            _("no inquiry %(inquiry_id)s (see `nextofkin inquiry list`)", inquiry_id=inquiry_id)
        )
    return inquiry


@dataclass(frozen=True)
class _CheckedPhoto:
    source: Path
    data: bytes
    digest: str


def _check_photos(workspace: Workspace, photos: Sequence[Path]) -> list[_CheckedPhoto]:
    """Read and decode every photo before anything is written (errors name the user's file)."""
    vision = workspace.settings.vision
    checked = []
    for photo in photos:
        source = Path(photo)
        if not source.is_file():
            raise InputError(_("photo %(source)s does not exist", source=source))
        data = read_bytes(source, vision.max_bytes)
        loaded = decode_image(data, max_pixels=vision.max_pixels, name=source.name)
        require_face_size(loaded.width, loaded.height, vision.min_face_px, name=source.name)
        checked.append(_CheckedPhoto(source, data, hashlib.sha256(data).hexdigest()))
    return checked


def _store(
    session: Session,
    workspace: Workspace,
    inquiry: Inquiry,
    actor: str,
    photos: list[_CheckedPhoto],
) -> list[InquiryPhoto]:
    existing = {
        p.sha256: p
        for p in session.scalars(select(InquiryPhoto).where(InquiryPhoto.inquiry_id == inquiry.id))
    }
    ordinal = max((p.ordinal for p in existing.values()), default=0)
    added = []
    for photo in photos:
        if photo.digest in existing:
            continue
        ordinal += 1
        suffix = photo.source.suffix.lower()
        suffix = suffix if re.fullmatch(r"\.\w{1,5}", suffix) else ".img"
        # No hash in the file name: nothing outside the row should repeat the photo's digest.
        rel = Path("inquiries") / str(inquiry.id) / f"{ordinal:03d}{suffix}"
        write_atomically(workspace.media_dir / rel, photo.data, mode=0o400)
        row = InquiryPhoto(
            inquiry_id=inquiry.id,
            ordinal=ordinal,
            stored_path=rel.as_posix(),
            original_name=photo.source.name[:200],
            sha256=photo.digest,
            size_bytes=len(photo.data),
            rotation=0,
            added_by=actor,
        )
        session.add(row)
        existing[photo.digest] = row
        added.append(row)
    session.flush()
    if added:
        audit.record(
            session, actor, InquiryAction.PHOTO, f"inquiry:{inquiry.id}", {"added": len(added)}
        )
    return added


def file_inquiry(
    session: Session,
    workspace: Workspace,
    actor: str | None,
    missing: MissingPerson,
    inquirer: Inquirer,
    photos: Sequence[Path] = (),
) -> int:
    """Record a family's report of a missing person with their photos; returns its id.

    Refuses (:class:`PolicyViolation`) without the inquirer's recorded consent to processing, and
    without a way to reach them (an e-mail or a phone). Photos are checked before anything is
    written; their faces are found by :func:`nextofkin.inquiries.matching.analyse_inquiry`.
    """
    user = require(session, actor, Permission.FILE_INQUIRY)
    if inquirer.consent is not True:
        raise PolicyViolation(
            _(
                "the person asking has not consented to the processing of their report "
                "and photos: record their consent (--consent) before filing",
            )
        )
    email = normalise_email(inquirer.email) if inquirer.email and inquirer.email.strip() else None
    phone = _text(inquirer.phone, _("the inquirer's phone"), limit=100)
    if email is None and phone is None:
        raise InputError(_("a way to reach the person asking is required: an e-mail or a phone"))
    checked = _check_photos(workspace, photos)
    inquiry = Inquiry(
        missing_name=_text(missing.name, _("the missing person's name"), required=True),
        missing_birth_date=_iso_date(missing.birth_date, _("date of birth")),
        last_seen_place=_text(missing.last_seen_place, _("last known place")),
        last_seen_date=_iso_date(missing.last_seen_date, _("last known date")),
        marks=_text(missing.marks, _("distinguishing marks")),
        inquirer_name=_text(inquirer.name, _("the inquirer's name"), required=True),
        inquirer_relation=_text(inquirer.relation, _("relation"), required=True, limit=100),
        inquirer_email=email,
        inquirer_phone=phone,
        consent=True,
        consent_note=_text(inquirer.consent_note, _("consent note")),
        filed_by=user.name,
    )
    session.add(inquiry)
    session.flush()
    audit.record(session, user.name, InquiryAction.FILE, f"inquiry:{inquiry.id}", {"consent": True})
    _store(session, workspace, inquiry, user.name, checked)
    log.info("inquiry %d filed by %s", inquiry.id, user.name)
    return inquiry.id


def add_photos(
    session: Session,
    workspace: Workspace,
    actor: str | None,
    inquiry_id: int,
    photos: Sequence[Path],
) -> int:
    """Add photos to an inquiry the actor may see; returns how many were new."""
    user = require(session, actor, Permission.FILE_INQUIRY)
    inquiry = get_inquiry(session, user, inquiry_id)
    if not photos:
        raise InputError(_("give at least one photo"))
    return len(_store(session, workspace, inquiry, user.name, _check_photos(workspace, photos)))


def _link_info(session: Session, link: InquiryLink) -> LinkInfo:
    number = session.scalars(select(Case.number).where(Case.id == link.case_id)).one()
    decisions = session.scalars(
        select(InquiryLinkDecision)
        .where(InquiryLinkDecision.link_id == link.id)
        .order_by(InquiryLinkDecision.id)
    )
    return LinkInfo(
        id=link.id,
        inquiry_id=link.inquiry_id,
        case_number=number,
        state=link.state,
        score=link.score,
        fpir=link.fpir,
        decision=link.decision,
        meaning=link.meaning,
        evidence=dict(link.evidence or {}),
        reviewers=list(link.reviewers or []),
        found_at=link.found_at,
        decisions=[
            LinkDecisionInfo(d.id, d.decision, d.reviewer, d.reason, d.at) for d in decisions
        ],
    )


def inquiry_info(session: Session, inquiry: Inquiry) -> InquiryInfo:
    """The typed view of an inquiry row, with its photos and links (best score first)."""
    photos = session.scalars(
        select(InquiryPhoto)
        .where(InquiryPhoto.inquiry_id == inquiry.id)
        .order_by(InquiryPhoto.ordinal)
    )
    links = session.scalars(
        select(InquiryLink)
        .where(InquiryLink.inquiry_id == inquiry.id)
        .order_by(InquiryLink.score.desc())
    )
    return InquiryInfo(
        id=inquiry.id,
        missing=MissingPerson(
            inquiry.missing_name,
            inquiry.missing_birth_date,
            inquiry.last_seen_place,
            inquiry.last_seen_date,
            inquiry.marks,
        ),
        inquirer=Inquirer(
            inquiry.inquirer_name,
            inquiry.inquirer_relation,
            inquiry.inquirer_email,
            inquiry.inquirer_phone,
            inquiry.consent,
            inquiry.consent_note,
        ),
        filed_by=inquiry.filed_by,
        filed_at=inquiry.filed_at,
        photos=[
            InquiryPhotoInfo(
                p.ordinal,
                p.original_name,
                p.stored_path,
                p.embedding is not None,
                p.quality,
                p.error,
            )
            for p in photos
        ],
        links=[_link_info(session, link) for link in links],
    )


def view_inquiry(session: Session, actor: str | None, inquiry_id: int) -> InquiryInfo:
    """One inquiry the actor may see, audited as a view."""
    user = acting_user(session, actor)
    inquiry = get_inquiry(session, user, inquiry_id)
    audit.record(session, user.name, InquiryAction.VIEW, f"inquiry:{inquiry.id}")
    return inquiry_info(session, inquiry)


def acting_user(session: Session, actor: str | None) -> User:
    """The actor, if they may file or view inquiries (PermissionDenied otherwise)."""
    try:
        return require(session, actor, Permission.VIEW)
    except PermissionDenied:
        return require(session, actor, Permission.FILE_INQUIRY)


@dataclass(frozen=True)
class InquirySummary:
    """One line of ``inquiry list``."""

    id: int
    missing_name: str
    filed_by: str
    filed_at: datetime
    photos: int
    faces: int
    links: int
    confirmed_case: str | None


def list_inquiries(session: Session, actor: str | None) -> list[InquirySummary]:
    """The inquiries the actor may see, newest first."""
    user = acting_user(session, actor)
    query = select(Inquiry).order_by(Inquiry.id.desc())
    if not may_see_all(user):
        query = query.where(Inquiry.filed_by == user.name)
    out = []
    for inquiry in session.scalars(query):
        info = inquiry_info(session, inquiry)
        confirmed = next((lk.case_number for lk in info.links if lk.state == "confirmed"), None)
        out.append(
            InquirySummary(
                inquiry.id,
                inquiry.missing_name,
                inquiry.filed_by,
                inquiry.filed_at,
                len(info.photos),
                sum(p.face_found for p in info.photos),
                len(info.links),
                confirmed,
            )
        )
    return out


def case_links(session: Session, case: Case) -> list[LinkInfo]:
    """Every link of a case (for the case page and report; readers of cases see them all)."""
    links = session.scalars(
        select(InquiryLink).where(InquiryLink.case_id == case.id).order_by(InquiryLink.score.desc())
    )
    return [_link_info(session, link) for link in links]
