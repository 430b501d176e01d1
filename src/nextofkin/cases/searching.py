"""Searches of a case: a search result stored with its case, and the identify command's hook
(every search belongs to a case)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.custody import check_photos, open_case, store_photos
from nextofkin.cases.info import PhotoInfo, SearchInfo, SearchParams, case_photos, search_info
from nextofkin.cases.probes import remember_probe
from nextofkin.cases.records import Case, CasePhoto, CaseSearch
from nextofkin.cases.states import AFTER_SEARCH, CaseState, get_case, state_label, transition
from nextofkin.errors import CaseStateError, InputError, NoFaceFound
from nextofkin.i18n import _
from nextofkin.identify import service as identify_service
from nextofkin.identify.interfaces import Identifier
from nextofkin.identify.results import ProbeFace, SearchResult
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

log = logging.getLogger(__name__)


def attach_search(
    session: Session,
    workspace: Workspace,
    actor: str | None,
    number: str,
    result: SearchResult,
    *,
    top: int | None = None,
) -> SearchInfo:
    """Store a search result with its case, move the case on, and audit the search.

    ``result`` is :class:`nextofkin.identify.search.SearchResult`; its probe photo paths are
    recorded relative to the media directory when they are the case's stored copies. ``top``
    (how many candidates were asked for) is kept with the search's parameters.
    """
    user = require(session, actor, Permission.SEARCH)
    case = get_case(session, number)
    state = CaseState(case.state)
    if state not in AFTER_SEARCH:
        raise CaseStateError(
            _(
                "case %(number)s is %(state)s: it cannot be searched any more",
                number=number,
                state=state_label(state),
            )
        )
    search = _new_search(workspace, case, user.name, result, top)
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
            "probes": [p.get("sha256") or p["photo"] for p in search.probe_faces],
            "candidates": [
                {"account": c.ref, "score": c.score, "decision": c.decision}
                for c in result.candidates
            ],
        },
        case=number,
    )
    transition(session, case, AFTER_SEARCH[state], user.name, f"search {search.id}")
    return search_info(search)


def _new_search(
    workspace: Workspace, case: Case, run_by: str, result: SearchResult, top: int | None
) -> CaseSearch:
    """The stored search row: the result's records written to the row's JSON columns."""
    media = workspace.media_dir.resolve()
    by_path = {str((workspace.media_dir / p.stored_path).resolve()): p for p in case.photos}
    return CaseSearch(
        case_id=case.id,
        run_by=run_by,
        model=result.model,
        gallery_size=result.gallery_accounts,
        params=SearchParams(
            top, result.calibration, result.gallery_faces, list(result.sightings)
        ).to_json(),
        probe_faces=[_probe_json(p, by_path, media) for p in result.probes],
        candidates=[asdict(c) for c in result.candidates],
    )


def _probe_json(probe: ProbeFace, by_path: dict[str, CasePhoto], media: Path) -> dict[str, Any]:
    """A probe face as the stored search keeps it (JSON): named as the case's stored copy of its
    photo when it is one (with that photo's ordinal and custody hash), else relative to the media
    directory when it lies there."""
    data = asdict(probe)
    path = Path(probe.photo).resolve()
    stored = by_path.get(str(path))
    if stored is not None:
        data.update(photo=stored.stored_path, case_photo=stored.ordinal, sha256=stored.sha256)
    elif path.is_relative_to(media):
        data["photo"] = path.relative_to(media).as_posix()
    return data


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


def _in_user_names(exc: InputError, workspace: Workspace, photos: list[PhotoInfo]) -> InputError:
    """``exc`` with the case's stored copies named as the user named the photos.

    The search runs on the workspace copies (``001-<hash>.jpg``); a person knows ``body1-a.jpg``.
    """
    names = {(workspace.media_dir / p.stored_path).name: p.original_name for p in photos}

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
    service: Identifier | None = None,
) -> CaseSearchOutcome:
    """The identify command's hook: every search belongs to a case.

    Without ``number`` a new case (``AUTO-YYYYMMDD-NNNN``) is opened with ``photos``; with a number
    that does not exist yet, that case is opened; with an existing case, new photos are added to it
    (an empty ``photos`` searches the case's own photos). The search runs on the workspace copies
    (chain of custody), and its result is attached to the case. A search that finds no face is
    audited before the error propagates. ``service`` runs the search (default: a new
    :class:`~nextofkin.identify.service.IdentifyService`, which loads its models on first use).
    """
    with workspace.session() as session:
        user = require(session, actor, Permission.SEARCH)
        target = _case_photos(session, workspace, user.name, number, photos)
    number = target.number
    # Through the module, not a name bound at import: a stand-in put there (tests) is used.
    service = service if service is not None else identify_service.IdentifyService(workspace)
    try:
        try:
            result: SearchResult = service.identify(target.paths, top=top)
        except InputError as exc:
            raise _in_user_names(exc, workspace, target.photos) from exc
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
        search = attach_search(session, workspace, user.name, number, result, top=top)
    return CaseSearchOutcome(case_number=number, opened=target.opened, search=search, result=result)


@dataclass(frozen=True)
class _Target:
    """The case a search runs for, and the stored copies of the photos it searches."""

    number: str
    opened: bool
    photos: list[PhotoInfo]
    paths: list[Path]


def _case_photos(
    session: Session, workspace: Workspace, user: str, number: str | None, photos: Sequence[Path]
) -> _Target:
    """Open the case (numbered when ``number`` is None) or add ``photos`` to it; the photos to
    search are the new ones, or all of the case's when none are given."""
    existing = (
        session.scalars(select(Case).where(Case.number == number)).one_or_none()
        if number is not None
        else None
    )
    if existing is None:
        if number is None:
            number = _auto_number(session)
        open_case(session, workspace, user, number, photos)
        stored = case_photos(session, number)
        return _Target(number, True, stored, _paths(workspace, stored))
    checked = check_photos(workspace, photos)
    added = store_photos(session, workspace, existing, user, checked)
    stored = case_photos(session, existing.number)
    log.debug("case %s: %d new photo(s)", existing.number, len(added))
    if not photos:
        return _Target(existing.number, False, stored, _paths(workspace, stored))
    wanted = {c.digest for c in checked}
    paths = [workspace.media_dir / p.stored_path for p in stored if p.sha256 in wanted]
    return _Target(existing.number, False, stored, paths)


def _paths(workspace: Workspace, photos: list[PhotoInfo]) -> list[Path]:
    """Absolute paths of the stored copies, in order."""
    return [workspace.media_dir / p.stored_path for p in photos]
