"""Pages: the notification editor of a case (draft, preview exactly as sent, send)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, Response

from nextofkin.cases import service as cases
from nextofkin.cases.labels import message_state_label
from nextofkin.i18n import _, ngettext
from nextofkin.notify import service as notify
from nextofkin.users.service import Permission
from nextofkin.web.deps import Drafter, Sender, StateDep, Viewer
from nextofkin.web.pages.cases import may
from nextofkin.web.pages.common import FormFailed, case_url, flashing_errors, see_other
from nextofkin.web.render import flash, page

router = APIRouter()


@router.get("/cases/{number:path}/notify", response_class=HTMLResponse)
def editor(number: str, request: Request, state: StateDep, actor: Viewer) -> Response:
    """Messages of the case: the drafting form, each draft as it will be sent, and send."""
    with state.db() as session:
        info = cases.case_info(session, number)
        messages = notify.outbox(session, actor.name, number)
    suggestions = [s.strip() for s in request.query_params.getlist("to") if s.strip()]
    return page(
        request,
        "notify.html",
        {
            "case": info,
            "messages": messages,
            "languages": [lang.value for lang in notify.Language],
            "default_language": state.settings.notify.default_language,
            "channels": [c.value for c in notify.Channel],
            "attachments": [a.value for a in notify.Attach],
            "sender": state.settings.smtp.sender,
            "suggested": suggestions,
            "can_draft": may(actor, Permission.DRAFT),
            "can_send": may(actor, Permission.SEND),
        },
    )


@router.post("/cases/{number:path}/notify/draft")
def draft(
    number: str,
    request: Request,
    state: StateDep,
    actor: Drafter,
    to: Annotated[str, Form(max_length=5000)],
    channel: Annotated[notify.Channel, Form()] = notify.Channel.EMAIL,
    attach: Annotated[notify.Attach, Form()] = notify.Attach.NONE,
    language: Annotated[notify.Language | None, Form()] = None,
) -> Response:
    """Draft (or re-draft) one message per recipient line."""
    recipients = [line.strip() for line in to.replace(",", "\n").splitlines() if line.strip()]
    try:
        with flashing_errors(request), state.db() as session:
            made = notify.draft(
                session,
                state.workspace,
                actor.name,
                number,
                recipients,
                channel=channel,
                attach=attach,
                language=language,
            )
        flash(
            request,
            ngettext(
                "%(num)d draft ready: check it below before sending.",
                "%(num)d drafts ready: check each one below before sending.",
                len(made),
            ),
        )
    except FormFailed:
        pass
    return see_other(case_url(number, "/notify#messages"))


@router.post("/cases/{number:path}/notify/send")
def send(
    number: str,
    request: Request,
    state: StateDep,
    actor: Sender,
    to: Annotated[str | None, Form(max_length=400)] = None,
) -> Response:
    """Approve and send one draft (or every draft of the case)."""
    try:
        with flashing_errors(request):
            outcomes = notify.send(state.workspace, actor.name, number, [to] if to else None)
        for o in outcomes:
            kind = "ok" if o.state is notify.OutboxState.SENT else "error"
            flash(request, f"{o.recipient}: {message_state_label(o.state)} — {o.note}", kind)
    except FormFailed:
        pass
    return see_other(case_url(number, "/notify#messages"))


@router.post("/cases/{number:path}/notify/mark-sent")
def mark_sent(
    number: str,
    request: Request,
    state: StateDep,
    actor: Sender,
    to: Annotated[str, Form(max_length=400)],
    note: Annotated[str | None, Form(max_length=2000)] = None,
) -> Response:
    """Record that a person delivered an approved manual message (or found one delivered)."""
    try:
        with flashing_errors(request):
            outcome = notify.mark_sent(state.workspace, actor.name, number, to, note or None)
        flash(request, f"{outcome.recipient}: {outcome.note}")
    except FormFailed:
        pass
    return see_other(case_url(number, "/notify#messages"))


@router.post("/cases/{number:path}/notify/release")
def release(
    number: str,
    request: Request,
    state: StateDep,
    actor: Sender,
    to: Annotated[str, Form(max_length=400)],
    reason: Annotated[str, Form(max_length=2000)],
) -> Response:
    """After checking it never arrived, allow a failed or uncertain message to be sent again."""
    try:
        with flashing_errors(request):
            notify.release(state.workspace, actor.name, number, to, reason)
        flash(request, _("%(to)s: released; it can be sent again.", to=to))
    except FormFailed:
        pass
    return see_other(case_url(number, "/notify#messages"))
