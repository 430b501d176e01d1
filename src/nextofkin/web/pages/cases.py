"""Pages: the dashboard, case list, new case, the case page and its actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, Response

from nextofkin.cases import service as cases
from nextofkin.cases.labels import state_label
from nextofkin.cases.review import Verdict, review
from nextofkin.i18n import _, ngettext
from nextofkin.inquiries.service import case_links as inquiry_links
from nextofkin.users.service import Permission
from nextofkin.web.deps import (
    ActorDep,
    Closer,
    Opener,
    Reviewer,
    Searcher,
    StateDep,
    Viewer,
)
from nextofkin.web.pages.alerts import alerts_context
from nextofkin.web.pages.common import (
    FormFailed,
    case_url,
    flashing_errors,
    optional_id,
    see_other,
)
from nextofkin.web.render import flash, page
from nextofkin.web.security import Actor
from nextofkin.web.uploads import saved_uploads
from nextofkin.web.views import case_page, dashboard, next_case

router = APIRouter()
tail = APIRouter()

Photos = Annotated[list[UploadFile], File()]


def may(actor: Actor, permission: Permission) -> bool:
    """Whether the page should offer an action (the route checks again when it is used)."""
    return actor.may(permission)


@router.get("/", response_class=HTMLResponse)
def home(request: Request, state: StateDep, actor: ActorDep) -> Response:
    """The dashboard: cases by state, counts, the review queue and recent activity.

    An intake user, who sees no case, lands on the inquiries they record instead.
    """
    if not may(actor, Permission.VIEW):
        return see_other("/inquiries")
    with state.db() as session:
        board = dashboard(session, actor.name)
        alerts = alerts_context(session, actor)
    return page(request, "dashboard.html", {"board": board, **alerts})


@router.get("/cases", response_class=HTMLResponse)
def case_list(
    request: Request, state: StateDep, actor: Viewer, state_filter: str | None = None
) -> Response:
    """Every case, newest first, optionally in one state."""
    valid = {s.value for s in cases.CaseState}
    chosen = state_filter if state_filter in valid else None
    with state.db() as session:
        rows = cases.list_cases(session, actor.name, chosen)
    return page(
        request,
        "cases.html",
        {"rows": rows, "states": sorted(valid), "chosen": chosen},
    )


@router.get("/cases/new", response_class=HTMLResponse)
def new_case_form(request: Request, actor: Opener) -> Response:
    """The form to open a case with its post-mortem photos."""
    return page(request, "case_new.html", {"can_search": may(actor, Permission.SEARCH)})


@router.post("/cases/new")
def new_case(
    request: Request,
    state: StateDep,
    actor: Opener,
    photos: Photos,
    number: Annotated[str, Form(max_length=100)],
    found_at: Annotated[str | None, Form(max_length=40)] = None,
    place: Annotated[str | None, Form(max_length=1000)] = None,
    notes: Annotated[str | None, Form(max_length=10000)] = None,
    search: Annotated[bool, Form()] = False,
) -> Response:
    """Open the case (and search at once when asked), then show it."""
    try:
        with flashing_errors(request):
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
                    found_at=found_at or None,
                    place=place or None,
                    notes=notes or None,
                )
            flash(
                request,
                ngettext(
                    "Opened case %(number)s with %(num)d photo.",
                    "Opened case %(number)s with %(num)d photos.",
                    len(info.photos),
                    number=info.number,
                ),
            )
            if search and may(actor, Permission.SEARCH):
                outcome = cases.identify_for_case(
                    state.workspace, actor.name, info.number, [], service=state.engine
                )
                flash(
                    request,
                    _found(outcome.search.id, len(outcome.result.candidates)),
                )
    except FormFailed:
        return see_other("/cases/new")
    return see_other(case_url(info.number))


@router.post("/cases/{number:path}/photos")
def upload_photos(
    number: str, request: Request, state: StateDep, actor: Opener, photos: Photos
) -> Response:
    """Add post-mortem photos to the case."""
    try:
        with flashing_errors(request):
            with (
                saved_uploads(photos, state.config, state.scratch) as paths,
                state.db() as session,
            ):
                added = cases.add_photos(session, state.workspace, actor.name, number, paths)
            flash(
                request,
                ngettext(
                    "Added %(num)d photo; search again to use it.",
                    "Added %(num)d photos; search again to use them.",
                    len(added),
                ),
            )
    except FormFailed:
        pass
    return see_other(case_url(number, "#photos"))


@router.post("/cases/{number:path}/search")
def search(
    number: str,
    request: Request,
    state: StateDep,
    actor: Searcher,
    top: Annotated[int, Form(ge=1, le=100)] = 20,
) -> Response:
    """Search the gallery with all of the case's photos."""
    try:
        with flashing_errors(request):
            outcome = cases.identify_for_case(
                state.workspace, actor.name, number, [], top=top, service=state.engine
            )
            flash(
                request,
                _found(outcome.search.id, len(outcome.result.candidates)),
            )
    except FormFailed:
        pass
    return see_other(case_url(number))


@router.post("/cases/{number:path}/review")
def decide(
    number: str,
    request: Request,
    state: StateDep,
    actor: Reviewer,
    account: Annotated[str, Form(max_length=400)],
    verdict: Annotated[Verdict, Form()],
    reason: Annotated[str | None, Form(max_length=5000)] = None,
    rank: Annotated[int | None, Form(ge=1, le=10_000)] = None,
    corroborates: Annotated[str | None, Form(max_length=20)] = None,
) -> Response:
    """Record the logged-in reviewer's confirmation or rejection of one candidate."""
    anchor = f"#cand-{rank}" if rank else ""
    try:
        with flashing_errors(request), state.db() as session:
            outcome = review(
                session,
                state.settings.review,
                actor.name,
                number,
                account,
                verdict,
                reason=(reason or "").strip() or None,
                corroborates=optional_id(corroborates),
            )
        if outcome.verdict is Verdict.CONFIRM and outcome.identified:
            text = _("Confirmed %(account)s: case identified.", account=outcome.account_ref)
        elif outcome.verdict is Verdict.CONFIRM:
            text = ngettext(
                "Confirmed %(account)s: %(got)s of %(num)d reviewer; a second reviewer must "
                "confirm.",
                "Confirmed %(account)s: %(got)s of %(num)d reviewers; a second reviewer must "
                "confirm.",
                outcome.needed,
                account=outcome.account_ref,
                got=len(outcome.confirmations),
            )
        else:
            text = _("Rejected %(account)s.", account=outcome.account_ref)
        now = _("Case is now %(state)s.", state=state_label(outcome.state))
        flash(request, f"{text} {now}")
    except FormFailed:
        pass
    return see_other(case_url(number, anchor))


@router.post("/cases/{number:path}/close")
def close(
    number: str,
    request: Request,
    state: StateDep,
    actor: Closer,
    reason: Annotated[str | None, Form(max_length=5000)] = None,
    unidentified: Annotated[bool, Form()] = False,
) -> Response:
    """Close the case or set it aside as unidentified."""
    try:
        with flashing_errors(request), state.db() as session:
            info = cases.close_case(
                session, actor.name, number, reason=reason or None, unidentified=unidentified
            )
        flash(
            request,
            _("Case %(number)s is now %(state)s.", number=number, state=state_label(info.state)),
        )
    except FormFailed:
        pass
    return see_other(case_url(number))


@tail.get("/cases/{number:path}", response_class=HTMLResponse)
def case(number: str, request: Request, state: StateDep, actor: Viewer) -> Response:
    """The case page: probe photos with faces boxed, candidates side by side, review forms."""
    # The view is audited in a transaction of its own, committed before the page is assembled:
    # the audit append holds the database's write lock (SQLite) until its commit, and the rest
    # (custody re-hash of the photos, candidates, review queue) only reads. Assembled in the same
    # transaction, every page view held the write lock for the whole page, so concurrent viewers
    # (and every other writer) queued behind one another (issue 12: p95 1.26 s under load).
    with state.db() as session:
        info = cases.view_case(session, actor.name, number)
    with state.db() as session:
        view = case_page(session, state.workspace, state.settings.review, info)
        following = next_case(session, actor.name, info.number)
        alerts = alerts_context(session, actor, info.number)
        links = inquiry_links(session, cases.get_case(session, info.number))
    return page(
        request,
        "case.html",
        {
            "v": view,
            "case": info,
            "next_case": following,
            "can_review": may(actor, Permission.REVIEW),
            "can_search": may(actor, Permission.SEARCH),
            "can_upload": may(actor, Permission.OPEN_CASE),
            "can_close": may(actor, Permission.CLOSE_CASE),
            "can_draft": may(actor, Permission.DRAFT),
            "policy": state.settings.review,
            **alerts,
            "inquiry_links": links,
            "back": "case",
        },
    )


def _found(search_id: int, candidates: int) -> str:
    return ngettext(
        "Search %(id)s: %(num)d candidate.",
        "Search %(id)s: %(num)d candidates.",
        candidates,
        id=search_id,
    )
