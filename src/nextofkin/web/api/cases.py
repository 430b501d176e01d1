"""API: cases (open with photo upload, list, show, add photos, close), searches and review."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import APIRouter, File, Form, Query, UploadFile
from pydantic import BaseModel, Field

from nextofkin.cases import service as cases
from nextofkin.cases.review import ReviewOutcome, Verdict, review
from nextofkin.identify.search import SearchResult
from nextofkin.web.api.inquiries import sweep_case
from nextofkin.web.deps import Closer, Opener, Reviewer, Searcher, StateDep, Viewer, WebState
from nextofkin.web.security import Actor
from nextofkin.web.uploads import saved_uploads
from nextofkin.web.views import CandidateView, case_page

router = APIRouter(tags=["cases"])
# The catch-all ``/cases/{number:path}`` is registered after every other router, so that
# ``/cases/X/candidates`` and friends are never taken for a case numbered "X/candidates".
tail = APIRouter(tags=["cases"])

Photos = Annotated[list[UploadFile], File(description="post-mortem photos of ONE body")]


@router.get("/cases", response_model=list[cases.CaseSummary], summary="List cases")
def list_cases(
    state: StateDep,
    actor: Viewer,
    case_state: cases.CaseState | None = Query(None, alias="state"),
) -> list[cases.CaseSummary]:
    """Every case, newest first (optionally only those in one state)."""
    with state.db() as session:
        return cases.list_cases(session, actor.name, case_state.value if case_state else None)


@router.post(
    "/cases",
    response_model=cases.CaseInfo,
    status_code=201,
    summary="Open a case with its post-mortem photos",
)
def open_case(
    state: StateDep,
    actor: Opener,
    photos: Photos,
    number: Annotated[str, Form(max_length=100)],
    found_at: Annotated[str | None, Form(max_length=40)] = None,
    place: Annotated[str | None, Form(max_length=1000)] = None,
    notes: Annotated[str | None, Form(max_length=10000)] = None,
) -> cases.CaseInfo:
    """Open a case; the photos are copied into the workspace with their SHA-256."""
    with (
        saved_uploads(photos, state.config, state.scratch) as paths,
        state.db() as session,
    ):
        info = cases.open_case(
            session,
            state.workspace,
            actor.name,
            number,
            paths,
            found_at=found_at,
            place=place,
            notes=notes,
        )
    sweep_case(state, actor.name, info.number)
    return info


@dataclass(frozen=True)
class SearchOutcome:
    """A search run for a case."""

    case_number: str
    opened: bool
    search_id: int
    result: SearchResult


def run_search(
    state: WebState, actor: Actor, number: str | None, photos: list[UploadFile], top: int
) -> SearchOutcome:
    """Upload (if any), then search the case's photos with the server's warm models."""
    if photos:
        with saved_uploads(photos, state.config, state.scratch) as paths:
            outcome = cases.identify_for_case(
                state.workspace, actor.name, number, paths, top=top, service=state.engine
            )
    else:
        outcome = cases.identify_for_case(
            state.workspace, actor.name, number, [], top=top, service=state.engine
        )
    if photos:
        sweep_case(state, actor.name, outcome.case_number)
    return SearchOutcome(outcome.case_number, outcome.opened, outcome.search.id, outcome.result)


@router.post(
    "/identify",
    response_model=SearchOutcome,
    summary="Search the gallery for the person in uploaded photos (opens a case if needed)",
)
def identify(
    state: StateDep,
    actor: Searcher,
    photos: Photos,
    case: Annotated[str | None, Form(max_length=100)] = None,
    top: Annotated[int, Form(ge=1, le=100)] = 10,
) -> SearchOutcome:
    """Every search belongs to a case: without ``case`` an ``AUTO-…`` case is opened."""
    return run_search(state, actor, case, photos, top)


@router.post(
    "/cases/{number:path}/photos",
    response_model=list[cases.PhotoInfo],
    status_code=201,
    summary="Add post-mortem photos to a case",
)
def add_photos(
    number: str, state: StateDep, actor: Opener, photos: Photos
) -> list[cases.PhotoInfo]:
    """Add more photos of the same body (photos already in the case are not added twice)."""
    with (
        saved_uploads(photos, state.config, state.scratch) as paths,
        state.db() as session,
    ):
        added = cases.add_photos(session, state.workspace, actor.name, number, paths)
    sweep_case(state, actor.name, number)
    return added


class SearchRequest(BaseModel):
    """Options of a search of a case's own photos."""

    top: int = Field(10, ge=1, le=100)


@router.post(
    "/cases/{number:path}/search",
    response_model=SearchOutcome,
    summary="Search the gallery with a case's photos",
)
def search_case(
    number: str, state: StateDep, actor: Searcher, body: SearchRequest | None = None
) -> SearchOutcome:
    """Run a new search on all of the case's photos and attach it to the case."""
    return run_search(state, actor, number, [], (body or SearchRequest()).top)


@dataclass(frozen=True)
class CandidateList:
    """The newest search's candidates, with where each one's review stands."""

    case_number: str
    state: str
    search_id: int | None
    calibration: dict[str, Any]
    candidates: list[CandidateView]


@router.get(
    "/cases/{number:path}/candidates",
    response_model=CandidateList,
    summary="Candidates of a case's newest search, with review status",
)
def candidates(number: str, state: StateDep, actor: Viewer) -> CandidateList:
    """The ranked candidates and what each score means (the view is audited)."""
    with state.db() as session:
        info = cases.view_case(session, actor.name, number)
        page = case_page(session, state.workspace, state.settings.review, info)
    return CandidateList(
        info.number,
        info.state.value,
        page.search.id if page.search else None,
        page.calibration.to_json() if page.calibration else {},
        page.candidates,
    )


class ReviewRequest(BaseModel):
    """A reviewer's decision on one candidate."""

    account: str = Field(max_length=400, description="source/account, account, or #id")
    verdict: Verdict
    reason: str | None = Field(None, max_length=5000)
    corroborates: int | None = Field(
        None,
        gt=0,
        description="with confirm, while the case has a confirmed inquiry link: that link's id "
        "(the reviewer states the inquiry's missing person IS this account's person)",
    )


@router.post(
    "/cases/{number:path}/review",
    response_model=ReviewOutcome,
    summary="Confirm or reject a candidate (reviewers)",
)
def review_candidate(
    number: str, body: ReviewRequest, state: StateDep, actor: Reviewer
) -> ReviewOutcome:
    """Record the acting reviewer's decision under the review policy in the settings."""
    with state.db() as session:
        return review(
            session,
            state.settings.review,
            actor.name,
            number,
            body.account,
            body.verdict,
            reason=body.reason,
            corroborates=body.corroborates,
        )


class CloseRequest(BaseModel):
    """How a case ends."""

    reason: str | None = Field(None, max_length=5000)
    unidentified: bool = False


@router.post(
    "/cases/{number:path}/close",
    response_model=cases.CaseInfo,
    summary="Close a case, or set it aside as unidentified",
)
def close(number: str, body: CloseRequest, state: StateDep, actor: Closer) -> cases.CaseInfo:
    """Close the case (or set it aside unidentified, to be searched again later)."""
    with state.db() as session:
        return cases.close_case(
            session, actor.name, number, reason=body.reason, unidentified=body.unidentified
        )


@dataclass(frozen=True)
class CustodyRow:
    """One stored probe photo re-hashed: the hash recorded on arrival, the file's now, and
    whether they agree."""

    stored_path: str
    recorded: str
    actual: str | None
    ok: bool


@dataclass(frozen=True)
class CaseDetail:
    """A case with its custody check."""

    case: cases.CaseInfo
    custody: list[CustodyRow]


@tail.get(
    "/cases/{number:path}",
    response_model=CaseDetail,
    summary="A case: photos (custody check), searches, candidates, decisions",
)
def show(number: str, state: StateDep, actor: Viewer) -> CaseDetail:
    """Everything recorded about a case; the view is audited."""
    with state.db() as session:
        info = cases.view_case(session, actor.name, number)
        custody = cases.verify_custody(session, state.workspace, number)
    return CaseDetail(
        info, [CustodyRow(c.stored_path, c.recorded, c.actual, c.ok) for c in custody]
    )
