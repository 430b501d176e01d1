"""Open cases, keep their photos under chain of custody, attach searches, move between states.

Post-mortem photos are copied into the workspace (``media/cases/<case id>/``) and their SHA-256 is
recorded when they arrive; :func:`verify_custody` re-hashes the copies. A case moves between the
states of :class:`CaseState` only along :data:`TRANSITIONS`; anything else is a
:class:`CaseStateError`. Every change is written to the audit log in the same transaction.
"""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.probes import remember_probe
from nextofkin.cases.records import Case, CaseDecision, CasePhoto, CaseSearch
from nextofkin.db import utcnow
from nextofkin.diskspace import write_atomically
from nextofkin.errors import CaseStateError, InputError, NoFaceFound, NotFound
from nextofkin.users.service import Permission, require
from nextofkin.vision.image_io import decode_image, read_bytes, require_face_size

if TYPE_CHECKING:
    from nextofkin.identify.search import SearchResult
    from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)

NUMBER_RE = re.compile(r"^\w[\w.\-/]{0,99}$")


class CaseState(StrEnum):
    """Where a case is in the process."""

    OPEN = "open"  # photos recorded, not yet searched
    SEARCHED = "searched"  # candidates found, no decision yet
    UNDER_REVIEW = "under_review"  # some decisions, no complete confirmation
    IDENTIFIED = "identified"  # a confirmation satisfied the review policy
    NOTIFIED = "notified"  # at least one family member was notified
    CLOSED = "closed"  # finished; nothing changes any more
    REJECTED = "rejected"  # reviewers rejected every candidate of the latest search
    UNIDENTIFIED = "unidentified"  # set aside without identification (can be searched again)


S = CaseState
TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    S.OPEN: frozenset({S.SEARCHED, S.UNIDENTIFIED, S.CLOSED}),
    S.SEARCHED: frozenset({S.SEARCHED, S.UNDER_REVIEW, S.IDENTIFIED, S.REJECTED}),
    S.UNDER_REVIEW: frozenset({S.UNDER_REVIEW, S.IDENTIFIED, S.REJECTED}),
    S.REJECTED: frozenset({S.SEARCHED, S.UNDER_REVIEW, S.IDENTIFIED}),
    # Withdrawing the only confirmation before anyone was told sends the case back to review.
    S.IDENTIFIED: frozenset({S.UNDER_REVIEW, S.REJECTED, S.NOTIFIED, S.CLOSED}),
    S.NOTIFIED: frozenset({S.CLOSED}),
    S.UNIDENTIFIED: frozenset({S.SEARCHED, S.CLOSED}),
    S.CLOSED: frozenset(),
}
# Setting a case aside as unidentified, or closing it, is allowed from every working state.
for _state in (S.SEARCHED, S.UNDER_REVIEW, S.REJECTED):
    TRANSITIONS[_state] = TRANSITIONS[_state] | {S.UNIDENTIFIED, S.CLOSED}

# A new search from these states leaves the case in the state on the right.
AFTER_SEARCH: dict[CaseState, CaseState] = {
    S.OPEN: S.SEARCHED,
    S.SEARCHED: S.SEARCHED,
    S.REJECTED: S.SEARCHED,
    S.UNIDENTIFIED: S.SEARCHED,
    S.UNDER_REVIEW: S.UNDER_REVIEW,
}


@dataclass(frozen=True)
class PhotoInfo:
    """A probe photo of a case."""

    ordinal: int
    original_name: str
    stored_path: str
    sha256: str
    size_bytes: int
    added_by: str
    added_at: datetime


@dataclass(frozen=True)
class SearchInfo:
    """One search of a case."""

    id: int
    run_by: str
    run_at: datetime
    model: str | None
    gallery_size: int | None
    params: dict[str, Any]
    probe_faces: list[dict[str, Any]]
    candidates: list[dict[str, Any]]


@dataclass(frozen=True)
class DecisionInfo:
    """One reviewer decision."""

    id: int
    account_ref: str
    account_id: int | None
    decision: str
    reviewer: str
    reason: str | None
    candidate_decision: str | None
    score: float | None
    search_id: int | None
    at: datetime


@dataclass
class CaseInfo:
    """A case with its photos, searches and decisions."""

    number: str
    state: CaseState
    found_at: str | None
    place: str | None
    notes: str | None
    opened_by: str
    opened_at: datetime
    updated_at: datetime
    identified_ref: str | None
    closed_reason: str | None
    photos: list[PhotoInfo] = field(default_factory=list)
    searches: list[SearchInfo] = field(default_factory=list)
    decisions: list[DecisionInfo] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        data = asdict(self)
        data["state"] = self.state.value
        return data


@dataclass(frozen=True)
class CaseSummary:
    """One line of ``case list``."""

    number: str
    state: CaseState
    found_at: str | None
    place: str | None
    photos: int
    searches: int
    opened_at: datetime
    identified_ref: str | None


def media_root(workspace: Workspace) -> Path:
    """Where case photos live inside the workspace."""
    return workspace.media_dir / "cases"


def _check_number(number: str) -> str:
    number = number.strip()
    if not NUMBER_RE.match(number):
        raise InputError(
            f"bad case number {number!r}: letters, digits and . _ - / only, at most 100"
        )
    return number


def _check_found_at(value: str | None) -> str | None:
    """``value`` as an ISO date or date-time (validated, stored as given)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text)
    except ValueError as exc:
        raise InputError(
            f"--found-at {value!r} is not an ISO date (2024-05-17) or date-time"
        ) from exc
    return text


def get_case(session: Session, number: str) -> Case:
    """The case numbered ``number``, or NotFound."""
    case = session.scalars(select(Case).where(Case.number == number)).one_or_none()
    if case is None:
        raise NotFound(f"no case {number!r} (see `nextofkin case list`)")
    return case


def transition(
    session: Session, case: Case, new: CaseState, actor: str | None, reason: str | None = None
) -> None:
    """Move ``case`` to ``new`` if :data:`TRANSITIONS` allows it, and audit the move.

    Raises :class:`CaseStateError` for an illegal move. A move to the same state that the table
    allows (e.g. another search) is recorded too, so the audit shows every step.
    """
    old = CaseState(case.state)
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(s.value for s in TRANSITIONS[old])) or "none (final)"
        raise CaseStateError(
            f"case {case.number} is {old.value}: cannot become {new.value} (allowed: {allowed})"
        )
    if old == new:
        case.updated_at = utcnow()
        return
    case.state = new.value
    case.updated_at = utcnow()
    audit.record(
        session,
        actor,
        audit.Action.CASE_STATE,
        f"case:{case.number}",
        {"from": old.value, "to": new.value, "reason": reason},
        case=case.number,
    )
    log.info("case %s: %s -> %s", case.number, old.value, new.value)


@dataclass(frozen=True)
class _CheckedPhoto:
    """A probe photo read and decoded, ready to be stored."""

    source: Path
    data: bytes
    digest: str


def _check_photos(workspace: Workspace, photos: Sequence[Path]) -> list[_CheckedPhoto]:
    """Read and decode every photo before the case is written to.

    A case never holds a file nobody can search (corrupt, or too small to hold a face: the error
    names the user's file). Decoding a large photo takes seconds, and it happens here, before
    the first write of the transaction, so that no database write lock is held meanwhile and
    other users' page views and decisions do not queue behind one upload.
    """
    vision = workspace.settings.vision
    checked: list[_CheckedPhoto] = []
    for photo in photos:
        source = Path(photo)
        if not source.is_file():
            raise InputError(f"probe photo {source} does not exist")
        data = read_bytes(source, vision.max_bytes)
        loaded = decode_image(data, max_pixels=vision.max_pixels, name=source.name)
        require_face_size(loaded.width, loaded.height, vision.min_face_px, name=source.name)
        checked.append(_CheckedPhoto(source, data, hashlib.sha256(data).hexdigest()))
    return checked


def _store_copy(photo: _CheckedPhoto, target: Path) -> tuple[str, int]:
    """Write ``photo`` to ``target`` (read-only, fsynced); its SHA-256 (re-read) and size.

    The hash is taken of the bytes re-read from disk, so the recorded hash is of what was stored.
    """
    # A full disk is DiskFull and leaves no .tmp file behind.
    write_atomically(target, photo.data, mode=0o400)  # read-only, owner-only like the workspace
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if digest != photo.digest:
        raise InputError(f"copy of {photo.source} does not match the original")
    return digest, len(photo.data)


def _add_photos(
    session: Session,
    workspace: Workspace,
    case: Case,
    actor: str,
    photos: Sequence[_CheckedPhoto],
) -> list[CasePhoto]:
    """Copy new photos into the case; a photo already in the case (same hash) is not added twice."""
    existing = {p.sha256: p for p in case.photos}
    ordinal = max((p.ordinal for p in case.photos), default=0)
    added: list[CasePhoto] = []
    for photo in photos:
        source = photo.source
        if photo.digest in existing:
            continue
        ordinal += 1
        suffix = source.suffix.lower() if re.fullmatch(r"\.\w{1,5}", source.suffix) else ".img"
        rel = Path("cases") / str(case.id) / f"{ordinal:03d}-{photo.digest[:16]}{suffix}"
        stored_hash, size = _store_copy(photo, workspace.media_dir / rel)
        record = CasePhoto(
            case_id=case.id,
            ordinal=ordinal,
            stored_path=rel.as_posix(),
            original_name=source.name,
            sha256=stored_hash,
            size_bytes=size,
            added_by=actor,
        )
        session.add(record)
        case.photos.append(record)
        existing[stored_hash] = record
        added.append(record)
        audit.record(
            session,
            actor,
            audit.Action.CASE_PHOTO,
            f"case:{case.number}",
            {
                "original": str(source.resolve()),
                "stored": rel.as_posix(),
                "sha256": stored_hash,
                "bytes": size,
            },
            case=case.number,
        )
    session.flush()
    return added


def open_case(
    session: Session,
    workspace: Workspace,
    actor: str | None,
    number: str,
    photos: Sequence[Path],
    *,
    found_at: str | None = None,
    place: str | None = None,
    notes: str | None = None,
) -> CaseInfo:
    """Open a case with its post-mortem photos (copied into the workspace with their hashes).

    Needs the ``open_case`` permission and at least one readable image. A case number can be used
    once; reopening an existing number is an :class:`InputError`.
    """
    user = require(session, actor, Permission.OPEN_CASE)
    number = _check_number(number)
    if not photos:
        raise InputError("a case needs at least one photo (--photo PHOTO)")
    if session.scalars(select(Case.id).where(Case.number == number)).first() is not None:
        raise InputError(f"case {number} already exists")
    checked = _check_photos(workspace, photos)
    case = Case(
        number=number,
        state=CaseState.OPEN.value,
        found_at=_check_found_at(found_at),
        place=place,
        notes=notes,
        opened_by=user.name,
    )
    session.add(case)
    session.flush()
    audit.record(
        session,
        user.name,
        audit.Action.CASE_OPEN,
        f"case:{number}",
        {"found_at": case.found_at, "place": place, "notes": notes},
        case=number,
    )
    _add_photos(session, workspace, case, user.name, checked)
    return case_info(session, number)


def add_photos(
    session: Session, workspace: Workspace, actor: str | None, number: str, photos: Sequence[Path]
) -> list[PhotoInfo]:
    """Add more post-mortem photos to an open case (not once it is identified or closed)."""
    user = require(session, actor, Permission.OPEN_CASE)
    case = get_case(session, number)
    if CaseState(case.state) not in AFTER_SEARCH:
        raise CaseStateError(f"case {number} is {case.state}: photos can no longer be added")
    checked = _check_photos(workspace, photos)
    return [_photo_info(p) for p in _add_photos(session, workspace, case, user.name, checked)]


def _photo_info(photo: CasePhoto) -> PhotoInfo:
    return PhotoInfo(
        ordinal=photo.ordinal,
        original_name=photo.original_name,
        stored_path=photo.stored_path,
        sha256=photo.sha256,
        size_bytes=photo.size_bytes,
        added_by=photo.added_by,
        added_at=photo.added_at,
    )


def _search_info(search: CaseSearch) -> SearchInfo:
    return SearchInfo(
        id=search.id,
        run_by=search.run_by,
        run_at=search.run_at,
        model=search.model,
        gallery_size=search.gallery_size,
        params=dict(search.params or {}),
        probe_faces=list(search.probe_faces or []),
        candidates=list(search.candidates or []),
    )


def _decision_info(decision: CaseDecision) -> DecisionInfo:
    return DecisionInfo(
        id=decision.id,
        account_ref=decision.account_ref,
        account_id=decision.account_id,
        decision=decision.decision,
        reviewer=decision.reviewer,
        reason=decision.reason,
        candidate_decision=decision.candidate_decision,
        score=decision.score,
        search_id=decision.search_id,
        at=decision.at,
    )


def case_info(session: Session, number: str) -> CaseInfo:
    """Everything recorded about a case (no permission check, no audit: see :func:`view_case`)."""
    case = get_case(session, number)
    return CaseInfo(
        number=case.number,
        state=CaseState(case.state),
        found_at=case.found_at,
        place=case.place,
        notes=case.notes,
        opened_by=case.opened_by,
        opened_at=case.opened_at,
        updated_at=case.updated_at,
        identified_ref=case.identified_ref,
        closed_reason=case.closed_reason,
        photos=[_photo_info(p) for p in case.photos],
        searches=[_search_info(s) for s in case.searches],
        decisions=[_decision_info(d) for d in case.decisions],
    )


def view_case(session: Session, actor: str | None, number: str) -> CaseInfo:
    """A case as shown to a person: checks the ``view`` permission and audits the view."""
    user = require(session, actor, Permission.VIEW)
    info = case_info(session, number)
    audit.record(
        session,
        user.name,
        audit.Action.CASE_VIEW,
        f"case:{number}",
        {"searches": len(info.searches), "state": info.state.value},
        case=number,
    )
    return info


def list_cases(session: Session, actor: str | None, state: str | None = None) -> list[CaseSummary]:
    """Every case (optionally in one state), newest first."""
    require(session, actor, Permission.VIEW)
    photos = (
        select(CasePhoto.case_id, func.count().label("n")).group_by(CasePhoto.case_id).subquery()
    )
    searches = (
        select(CaseSearch.case_id, func.count().label("n")).group_by(CaseSearch.case_id).subquery()
    )
    query = (
        select(Case, photos.c.n, searches.c.n)
        .outerjoin(photos, photos.c.case_id == Case.id)
        .outerjoin(searches, searches.c.case_id == Case.id)
        .order_by(Case.opened_at.desc(), Case.id.desc())
    )
    if state is not None:
        query = query.where(Case.state == CaseState(state).value)
    return [
        CaseSummary(
            number=case.number,
            state=CaseState(case.state),
            found_at=case.found_at,
            place=case.place,
            photos=n_photos or 0,
            searches=n_searches or 0,
            opened_at=case.opened_at,
            identified_ref=case.identified_ref,
        )
        for case, n_photos, n_searches in session.execute(query)
    ]


def close_case(
    session: Session,
    actor: str | None,
    number: str,
    *,
    reason: str | None = None,
    unidentified: bool = False,
) -> CaseInfo:
    """Close a case, or set it aside as unidentified (it can then be searched again later)."""
    user = require(session, actor, Permission.CLOSE_CASE)
    case = get_case(session, number)
    target = CaseState.UNIDENTIFIED if unidentified else CaseState.CLOSED
    transition(session, case, target, user.name, reason)
    case.closed_reason = reason
    session.flush()
    return case_info(session, number)


@dataclass(frozen=True)
class CustodyCheck:
    """The outcome of re-hashing one stored probe photo."""

    stored_path: str
    recorded: str
    actual: str | None

    @property
    def ok(self) -> bool:
        """True when the stored file still has its recorded hash."""
        return self.recorded == self.actual


def verify_custody(session: Session, workspace: Workspace, number: str) -> list[CustodyCheck]:
    """Re-hash every stored photo of a case against the hash recorded when it arrived."""
    case = get_case(session, number)
    checks = []
    for photo in case.photos:
        path = workspace.media_dir / photo.stored_path
        actual = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else None
        checks.append(CustodyCheck(photo.stored_path, photo.sha256, actual))
    return checks


def photo_paths(workspace: Workspace, info: CaseInfo) -> list[Path]:
    """Absolute paths of a case's stored photos, in order."""
    return [workspace.media_dir / p.stored_path for p in info.photos]


def attach_search(
    session: Session,
    workspace: Workspace,
    actor: str | None,
    number: str,
    result: SearchResult,
    *,
    params: dict[str, Any] | None = None,
) -> SearchInfo:
    """Store a search result with its case, move the case on, and audit the search.

    ``result`` is :class:`nextofkin.identify.search.SearchResult`; its probe photo paths are
    recorded relative to the media directory when they are the case's stored copies.
    """
    user = require(session, actor, Permission.SEARCH)
    case = get_case(session, number)
    state = CaseState(case.state)
    if state not in AFTER_SEARCH:
        raise CaseStateError(f"case {number} is {state.value}: it cannot be searched any more")
    data = result.to_dict()
    media = workspace.media_dir.resolve()
    by_path = {str((workspace.media_dir / p.stored_path).resolve()): p for p in case.photos}
    probes = []
    for probe in data["probes"]:
        stored = by_path.get(str(Path(probe["photo"]).resolve()))
        probe = dict(probe)
        if stored is not None:
            probe["photo"] = stored.stored_path
            probe["case_photo"] = stored.ordinal
            probe["sha256"] = stored.sha256
        elif Path(probe["photo"]).resolve().is_relative_to(media):
            probe["photo"] = Path(probe["photo"]).resolve().relative_to(media).as_posix()
        probes.append(probe)
    search = CaseSearch(
        case_id=case.id,
        run_by=user.name,
        model=data.get("model"),
        gallery_size=data.get("gallery_accounts"),
        params={
            **(params or {}),
            "calibration": data.get("calibration", {}),
            "gallery_faces": data.get("gallery_faces"),
            "sightings": data.get("sightings", []),
        },
        probe_faces=probes,
        candidates=data["candidates"],
    )
    session.add(search)
    case.searches.append(search)
    session.flush()
    remember_probe(session, case.id, search.id, result)
    audit.record(
        session,
        user.name,
        audit.Action.SEARCH,
        f"case:{number}",
        {
            "search": search.id,
            "model": search.model,
            "gallery_accounts": search.gallery_size,
            "probes": [p.get("sha256") or p["photo"] for p in probes],
            "candidates": [
                {
                    "account": f"{c['source']}/{c['account']}",
                    "score": c["score"],
                    "decision": c["decision"],
                }
                for c in data["candidates"]
            ],
        },
        case=number,
    )
    transition(session, case, AFTER_SEARCH[state], user.name, f"search {search.id}")
    return _search_info(search)


def _auto_number(session: Session) -> str:
    prefix = f"AUTO-{datetime.now(UTC):%Y%m%d}-"
    count = session.scalar(select(func.count()).where(Case.number.startswith(prefix))) or 0
    return f"{prefix}{count + 1:04d}"


@dataclass(frozen=True)
class CaseSearchOutcome:
    """What :func:`identify_for_case` did."""

    case_number: str
    opened: bool
    search: SearchInfo
    result: SearchResult


def _in_user_names(exc: InputError, workspace: Workspace, info: CaseInfo) -> InputError:
    """``exc`` with the case's stored copies named as the user named the photos.

    The search runs on the workspace copies (``001-<hash>.jpg``); a person knows ``body1-a.jpg``.
    """
    names = {(workspace.media_dir / p.stored_path).name: p.original_name for p in info.photos}

    def renamed(text: str) -> str:
        for stored, original in names.items():
            text = text.replace(stored, original)
        return text

    if isinstance(exc, NoFaceFound):
        return NoFaceFound(renamed(str(exc)), tried=[renamed(t) for t in exc.tried])
    return type(exc)(renamed(str(exc)))


def identify_for_case(
    workspace: Workspace,
    actor: str | None,
    number: str | None,
    photos: Sequence[Path],
    *,
    top: int = 10,
    service: Any = None,
) -> CaseSearchOutcome:
    """The identify command's hook: every search belongs to a case.

    Without ``number`` a new case (``AUTO-YYYYMMDD-NNNN``) is opened with ``photos``; with a number
    that does not exist yet, that case is opened; with an existing case, new photos are added to it
    (an empty ``photos`` searches the case's own photos). The search runs on the workspace copies
    (chain of custody), and its result is attached to the case. A search that finds no face is
    audited before the error propagates. ``service`` is an object with
    ``identify(photos, top)`` (default: a new :class:`IdentifyService`).
    """
    opened = False
    with workspace.session() as session:
        user = require(session, actor, Permission.SEARCH)
        existing = (
            session.scalars(select(Case).where(Case.number == number)).one_or_none()
            if number is not None
            else None
        )
        if existing is None:
            if number is None:
                number = _auto_number(session)
            open_case(session, workspace, user.name, number, photos)
            opened = True
            info = case_info(session, number)
            paths = photo_paths(workspace, info)
        else:
            checked = _check_photos(workspace, photos)
            added = _add_photos(session, workspace, existing, user.name, checked)
            info = case_info(session, existing.number)
            if photos:
                wanted = {c.digest for c in checked}
                paths = [
                    workspace.media_dir / p.stored_path for p in info.photos if p.sha256 in wanted
                ]
            else:
                paths = photo_paths(workspace, info)
            log.debug("case %s: %d new photo(s)", existing.number, len(added))
    assert number is not None
    if service is None:
        from nextofkin.identify.service import IdentifyService

        service = IdentifyService(workspace)
    try:
        try:
            result: SearchResult = service.identify(paths, top=top)
        except InputError as exc:
            raise _in_user_names(exc, workspace, info) from exc
    except NoFaceFound as exc:
        with workspace.session() as session:
            audit.record(
                session,
                user.name,
                audit.Action.SEARCH,
                f"case:{number}",
                {"error": "no face found", "message": str(exc), "tried": exc.tried[:50]},
                case=number,
            )
        raise
    with workspace.session() as session:
        search = attach_search(session, workspace, user.name, number, result, params={"top": top})
    return CaseSearchOutcome(case_number=number, opened=opened, search=search, result=result)
