"""Searches of a case: a search result stored with its case, and the identify command's hook
(every search belongs to a case)."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.custody import check_photos, open_case, photo_paths, store_photos
from nextofkin.cases.info import CaseInfo, SearchInfo, case_info, search_info
from nextofkin.cases.probes import remember_probe
from nextofkin.cases.records import Case, CaseSearch
from nextofkin.cases.states import AFTER_SEARCH, CaseState, get_case, state_label, transition
from nextofkin.errors import CaseStateError, InputError, NoFaceFound
from nextofkin.i18n import _
from nextofkin.identify.interfaces import Identifier
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace

if TYPE_CHECKING:
    from nextofkin.identify.search import SearchResult

log = logging.getLogger(__name__)


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
        raise CaseStateError(
            _(
                "case %(number)s is %(state)s: it cannot be searched any more",
                number=number,
                state=state_label(state),
            )
        )
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
    return search_info(search)


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
    service: Identifier | None = None,
) -> CaseSearchOutcome:
    """The identify command's hook: every search belongs to a case.

    Without ``number`` a new case (``AUTO-YYYYMMDD-NNNN``) is opened with ``photos``; with a number
    that does not exist yet, that case is opened; with an existing case, new photos are added to it
    (an empty ``photos`` searches the case's own photos). The search runs on the workspace copies
    (chain of custody), and its result is attached to the case. A search that finds no face is
    audited before the error propagates. ``service`` runs the search (default: a new
    :class:`~nextofkin.identify.service.IdentifyService`).
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
            checked = check_photos(workspace, photos)
            added = store_photos(session, workspace, existing, user.name, checked)
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
        # Deferred: the identify service loads numpy, FAISS and the face models; opening a case
        # with a stand-in (tests, a warm server's engine) never needs them.
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
