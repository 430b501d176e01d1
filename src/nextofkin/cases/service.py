"""Cases: open them, keep their photos under chain of custody, search them, move between states.

The work lives in :mod:`~nextofkin.cases.states` (the state machine), :mod:`~nextofkin.cases.info`
(the typed records handed out), :mod:`~nextofkin.cases.custody` (photos and their hashes) and
:mod:`~nextofkin.cases.searching` (stored searches and running one); this module lists and closes
cases and keeps every public name importable from ``nextofkin.cases.service``.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.custody import (
    CustodyCheck,
    add_photos,
    open_case,
    photo_paths,
    verify_custody,
)
from nextofkin.cases.info import (
    CaseInfo,
    CaseSummary,
    DecisionInfo,
    PhotoInfo,
    SearchInfo,
    case_info,
)
from nextofkin.cases.records import Case, CasePhoto, CaseSearch
from nextofkin.cases.searching import CaseSearchOutcome, attach_search, identify_for_case
from nextofkin.cases.states import AFTER_SEARCH, TRANSITIONS, CaseState, get_case, transition
from nextofkin.users.service import Permission, require

__all__ = [
    "AFTER_SEARCH",
    "TRANSITIONS",
    "CaseInfo",
    "CaseSearchOutcome",
    "CaseState",
    "CaseSummary",
    "CustodyCheck",
    "DecisionInfo",
    "PhotoInfo",
    "SearchInfo",
    "add_photos",
    "attach_search",
    "case_info",
    "close_case",
    "get_case",
    "identify_for_case",
    "list_cases",
    "open_case",
    "photo_paths",
    "transition",
    "verify_custody",
    "view_case",
]


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
