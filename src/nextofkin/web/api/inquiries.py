"""API: missing-person inquiries (file with photos, list, show, add photos, purge), the sweep that
matches them against cases, link review, a case's links, and the letter to a confirmed inquirer.

Intake users reach only their own inquiries: another one is 404, the same as a missing id.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, UploadFile
from pydantic import BaseModel, Field

from nextofkin.cases.review import Verdict
from nextofkin.cases.service import get_case
from nextofkin.errors import NextOfKinError
from nextofkin.inquiries import matching
from nextofkin.inquiries import service as inquiries
from nextofkin.inquiries.purge import InquiryPurgeReport, purge_inquiry
from nextofkin.inquiries.review import LinkOutcome, review_link
from nextofkin.notify.inquirers import draft_for_inquirer
from nextofkin.notify.model import Channel, Language, MessageInfo
from nextofkin.users.service import Permission
from nextofkin.web.deps import (
    ActorDep,
    Drafter,
    Reviewer,
    RowId,
    Searcher,
    StateDep,
    Viewer,
    WebState,
    need,
)
from nextofkin.web.security import Actor
from nextofkin.web.uploads import saved_uploads

log = logging.getLogger(__name__)
router = APIRouter(tags=["inquiries"])
Intake = Annotated[Actor, Depends(need(Permission.FILE_INQUIRY))]
Photos = Annotated[list[UploadFile], File(description="photos of the missing person")]


def sweep(state: WebState, actor: str, **scope: Any) -> matching.SweepReport:
    """Search inquiries against cases with the server's photo analyser (its worker pool)."""
    return matching.match(state.workspace, actor, analyser=state.engine.probe_analyser(), **scope)


def sweep_quietly(state: WebState, actor: str, **scope: Any) -> None:
    """:func:`sweep` after a request's own work was committed (a case opened or given photos,
    an inquiry filed): that work stands whatever happens here, so a failure is logged, and the
    next sweep (``POST /api/inquiries/match``, ``nextofkin inquiry match``) redoes it."""
    try:
        sweep(state, actor, **scope)
    except NextOfKinError as exc:
        log.warning("inquiries not searched (%s): %s", scope, exc)


def sweep_case(state: WebState, actor: str, number: str) -> None:
    """Search waiting inquiries against a case that was opened or gained photos."""
    sweep_quietly(state, actor, case_numbers=[number])


@router.post(
    "/inquiries",
    response_model=inquiries.InquiryInfo,
    status_code=201,
    summary="File a missing-person inquiry (consent required) and search it against cases",
)
def file_inquiry(
    state: StateDep,
    actor: Intake,
    photos: Photos,
    missing_name: Annotated[str, Form(max_length=2000)],
    inquirer_name: Annotated[str, Form(max_length=2000)],
    inquirer_relation: Annotated[str, Form(max_length=100)],
    consent: Annotated[bool, Form(description="the inquirer consented to processing")] = False,
    consent_note: Annotated[str | None, Form(max_length=2000)] = None,
    inquirer_email: Annotated[str | None, Form(max_length=300)] = None,
    inquirer_phone: Annotated[str | None, Form(max_length=100)] = None,
    birth_date: Annotated[str | None, Form(max_length=10)] = None,
    last_seen_place: Annotated[str | None, Form(max_length=2000)] = None,
    last_seen_date: Annotated[str | None, Form(max_length=10)] = None,
    marks: Annotated[str | None, Form(max_length=2000)] = None,
) -> inquiries.InquiryInfo:
    """Record the report with its photos, then search it against every case's faces."""
    missing = inquiries.MissingPerson(
        missing_name, birth_date, last_seen_place, last_seen_date, marks
    )
    asking = inquiries.Inquirer(
        inquirer_name, inquirer_relation, inquirer_email, inquirer_phone, consent, consent_note
    )
    with saved_uploads(photos, state.config, state.scratch) as paths, state.db() as session:
        inquiry_id = inquiries.file_inquiry(
            session, state.workspace, actor.name, missing, asking, paths
        )
    sweep_quietly(state, actor.name, inquiry_ids=[inquiry_id])
    with state.db() as session:
        return inquiries.view_inquiry(session, actor.name, inquiry_id)


@router.get("/inquiries", response_model=list[inquiries.InquirySummary], summary="List inquiries")
def list_inquiries(state: StateDep, actor: ActorDep) -> list[inquiries.InquirySummary]:
    """Inquiries the user may see (intake: their own), newest first."""
    with state.db() as session:
        return inquiries.list_inquiries(session, actor.name)


@router.get(
    "/inquiries/{inquiry_id}",
    response_model=inquiries.InquiryInfo,
    summary="One inquiry with its photos and links",
)
def show_inquiry(inquiry_id: RowId, state: StateDep, actor: ActorDep) -> inquiries.InquiryInfo:
    """The inquiry, if the user may see it (audited as a view)."""
    with state.db() as session:
        return inquiries.view_inquiry(session, actor.name, inquiry_id)


@router.post(
    "/inquiries/{inquiry_id}/photos",
    response_model=inquiries.InquiryInfo,
    summary="Add photos to an inquiry and search it again",
)
def add_photos(
    inquiry_id: RowId, state: StateDep, actor: Intake, photos: Photos
) -> inquiries.InquiryInfo:
    """New photos of the missing person; the inquiry is searched against the cases again."""
    with saved_uploads(photos, state.config, state.scratch) as paths, state.db() as session:
        inquiries.add_photos(session, state.workspace, actor.name, inquiry_id, paths)
    sweep_quietly(state, actor.name, inquiry_ids=[inquiry_id])
    with state.db() as session:
        return inquiries.view_inquiry(session, actor.name, inquiry_id)


class MatchRequest(BaseModel):
    """Which pairs to compare (none given: every inquiry against every case)."""

    cases: list[str] | None = Field(None, max_length=1000)
    inquiries: list[int] | None = Field(None, max_length=1000)


@router.post(
    "/inquiries/match",
    response_model=matching.SweepReport,
    summary="Search inquiries against cases' post-mortem photos",
)
def match(
    state: StateDep, actor: Searcher, body: MatchRequest | None = None
) -> matching.SweepReport:
    """Analyse new photos, compare, and propose links for review."""
    request = body or MatchRequest()
    return sweep(state, actor.name, inquiry_ids=request.inquiries, case_numbers=request.cases)


@router.delete(
    "/inquiries/{inquiry_id}",
    response_model=InquiryPurgeReport,
    summary="Purge an inquiry (the family withdrew): admins or the user who filed it",
)
def purge(inquiry_id: RowId, state: StateDep, actor: ActorDep) -> InquiryPurgeReport:
    """Remove the inquiry, its photos, faces, links, and the content of letters to it."""
    return purge_inquiry(state.workspace, actor.name, inquiry_id)


class LinkDecision(BaseModel):
    """A reviewer's decision on a link."""

    verdict: Verdict
    reason: str | None = Field(None, max_length=2000)
    corroborates: int | None = Field(
        None,
        gt=0,
        description="with confirm, while the case has a confirmed identification: its id (the "
        "reviewer states the inquiry's missing person IS the identified account's person)",
    )


@router.post(
    "/inquiry-links/{link_id}/review",
    response_model=LinkOutcome,
    summary="Confirm or reject a link between an inquiry and a case",
)
def review(link_id: RowId, body: LinkDecision, state: StateDep, actor: Reviewer) -> LinkOutcome:
    """Record the reviewer's own decision under the review policy."""
    with state.db() as session:
        return review_link(
            session,
            state.settings.review,
            actor.name,
            link_id,
            body.verdict,
            reason=body.reason,
            corroborates=body.corroborates,
        )


class LetterRequest(BaseModel):
    """How to write to the inquirer."""

    channel: Channel | None = None
    language: Language | None = None


@router.post(
    "/inquiry-letters/{number:path}",
    response_model=MessageInfo,
    summary="Draft the letter to the inquirer of a case's confirmed link",
)
def letter(
    number: str, state: StateDep, actor: Drafter, body: LetterRequest | None = None
) -> MessageInfo:
    """Draft (or re-draft) it; send it with the case's other messages (``/api/notify``)."""
    request = body or LetterRequest()
    with state.db() as session:
        return draft_for_inquirer(
            session,
            state.workspace,
            actor.name,
            number,
            channel=request.channel,
            language=request.language,
        )


@router.get(
    "/inquiry-links",
    response_model=list[inquiries.LinkInfo],
    summary="Links of one case (readers of cases)",
)
def case_links(case: str, state: StateDep, actor: Viewer) -> list[inquiries.LinkInfo]:
    """Every link of case ``case``, best score first."""
    with state.db() as session:
        return inquiries.case_links(session, get_case(session, case))
