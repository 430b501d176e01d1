"""Pages: families' missing-person inquiries (list, record, one inquiry with its links), link
review, withdrawal, and the letter to a confirmed inquirer (drafted here, sent from the case's
messages page). Thin routes over the same services as the API and the CLI."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from nextofkin.cases.review import Verdict, current_identification
from nextofkin.cases.states import get_case
from nextofkin.inquiries import service as inquiries
from nextofkin.inquiries.purge import purge_inquiry
from nextofkin.inquiries.review import review_link
from nextofkin.notify.inquirers import draft_for_inquirer
from nextofkin.users.service import Permission
from nextofkin.web.api.inquiries import Intake, sweep
from nextofkin.web.deps import ActorDep, Drafter, Reviewer, RowId, StateDep
from nextofkin.web.pages.cases import may
from nextofkin.web.pages.common import (
    FormFailed,
    case_url,
    flashing_errors,
    optional_id,
    see_other,
)
from nextofkin.web.render import flash, page
from nextofkin.web.uploads import saved_uploads

router = APIRouter()


@router.get("/inquiries", response_class=HTMLResponse)
def inquiry_list(request: Request, state: StateDep, actor: ActorDep) -> Response:
    """The inquiries the user may see, and the form to record one."""
    with state.db() as session:
        rows = inquiries.list_inquiries(session, actor.name)
    return page(
        request,
        "inquiries.html",
        {"rows": rows, "can_file": may(actor, Permission.FILE_INQUIRY)},
    )


@router.post("/inquiries")
def record(
    request: Request,
    state: StateDep,
    actor: Intake,
    photos: Annotated[list[UploadFile], File()],
    missing_name: Annotated[str, Form(max_length=2000)],
    inquirer_name: Annotated[str, Form(max_length=2000)],
    inquirer_relation: Annotated[str, Form(max_length=100)],
    consent: Annotated[bool, Form()] = False,
    consent_note: Annotated[str | None, Form(max_length=2000)] = None,
    inquirer_email: Annotated[str | None, Form(max_length=300)] = None,
    inquirer_phone: Annotated[str | None, Form(max_length=100)] = None,
    birth_date: Annotated[str | None, Form(max_length=10)] = None,
    last_seen_place: Annotated[str | None, Form(max_length=2000)] = None,
    last_seen_date: Annotated[str | None, Form(max_length=10)] = None,
    marks: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Record the inquiry, then search it against the cases; show it."""
    missing = inquiries.MissingPerson(
        missing_name, birth_date, last_seen_place, last_seen_date, marks
    )
    asking = inquiries.Inquirer(
        inquirer_name, inquirer_relation, inquirer_email, inquirer_phone, consent, consent_note
    )
    try:
        with (
            flashing_errors(request),
            saved_uploads(photos, state.config, state.scratch) as paths,
            state.db() as session,
        ):
            inquiry_id = inquiries.file_inquiry(
                session, state.workspace, actor.name, missing, asking, paths
            )
    except FormFailed:
        return see_other("/inquiries")
    try:
        with flashing_errors(request):
            found = sweep(state, actor.name, inquiry_ids=[inquiry_id])
        flash(request, f"Inquiry {inquiry_id} recorded: {len(found.new_links)} case(s) to review.")
    except FormFailed:
        pass
    return see_other(f"/inquiries/{inquiry_id}")


@router.get("/inquiries/{inquiry_id}", response_class=HTMLResponse)
def inquiry(inquiry_id: RowId, request: Request, state: StateDep, actor: ActorDep) -> Response:
    """One inquiry: the report, its photos, and the cases that may be the person."""
    can_review = may(actor, Permission.REVIEW)
    # Each linked case's standing identification, for reviewers to state a link corroborates it.
    identified: dict[int, tuple[int, str]] = {}
    with state.db() as session:
        info = inquiries.view_inquiry(session, actor.name, inquiry_id)
        for link in info.links if can_review else []:
            current = current_identification(session, get_case(session, link.case_number))
            if current is not None:
                identified[link.id] = (current.id, current.account_ref)
    return page(
        request,
        "inquiry.html",
        {
            "q": info,
            "identified": identified,
            "can_review": can_review,
            "can_view_cases": may(actor, Permission.VIEW),
            "can_purge": may(actor, Permission.PURGE) or info.filed_by == actor.name,
        },
    )


@router.post("/inquiry-links/{link_id}/review")
def decide(
    link_id: RowId,
    request: Request,
    state: StateDep,
    actor: Reviewer,
    verdict: Annotated[Verdict, Form()],
    inquiry: Annotated[int, Form(ge=1)],
    reason: Annotated[str | None, Form(max_length=2000)] = None,
    corroborates: Annotated[str | None, Form(max_length=20)] = None,
) -> Response:
    """A reviewer's decision on a link; back to the inquiry."""
    try:
        with flashing_errors(request), state.db() as session:
            out = review_link(
                session,
                state.settings.review,
                actor.name,
                link_id,
                verdict,
                reason=reason,
                corroborates=optional_id(corroborates),
            )
        flash(request, f"Link {out.link_id} to case {out.case_number}: {out.state}.")
    except FormFailed:
        pass
    return see_other(f"/inquiries/{inquiry}")


@router.post("/inquiries/{inquiry_id}/purge")
def withdraw(inquiry_id: RowId, request: Request, state: StateDep, actor: ActorDep) -> Response:
    """The family withdrew: remove the inquiry and every copy of its data."""
    try:
        with flashing_errors(request):
            purge_inquiry(state.workspace, actor.name, inquiry_id)
        flash(request, f"Inquiry {inquiry_id} removed.")
    except FormFailed:
        return see_other(f"/inquiries/{inquiry_id}")
    return see_other("/inquiries")


@router.post("/inquiry-letters/{number:path}")
def letter(number: str, request: Request, state: StateDep, actor: Drafter) -> Response:
    """Draft the letter to the family whose inquiry is confirmed for the case."""
    try:
        with flashing_errors(request), state.db() as session:
            draft_for_inquirer(session, state.workspace, actor.name, number)
        flash(request, "Letter drafted: check it below before sending.")
    except FormFailed:
        return see_other(case_url(number))
    return see_other(case_url(number, "/notify"))
