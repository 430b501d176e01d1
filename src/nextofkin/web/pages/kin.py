"""Pages: the kin panel of a case (whom to tell) and purge on request (admins)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, Response
from markupsafe import Markup

from nextofkin.cases import service as cases
from nextofkin.cases.purge import purge_account, purge_source
from nextofkin.i18n import _, ngettext
from nextofkin.users.service import Permission
from nextofkin.web import media
from nextofkin.web.api.kin import kin_for, person_of
from nextofkin.web.deps import Purger, StateDep, Viewer
from nextofkin.web.graph import Node, relations_svg
from nextofkin.web.pages.cases import may
from nextofkin.web.pages.common import FormFailed, flashing_errors, see_other
from nextofkin.web.readmodels import find_account
from nextofkin.web.render import flash, page

router = APIRouter()


@router.get("/cases/{number:path}/kin", response_class=HTMLResponse)
def kin_panel(
    number: str,
    request: Request,
    state: StateDep,
    actor: Viewer,
    account: str | None = Query(None, max_length=400),
    top: int = Query(12, ge=1, le=50),
) -> Response:
    """Related accounts of the identified person (or a candidate), with reasons and photos."""
    with state.db() as session:
        info = cases.view_case(session, actor.name, number)
    ref = person_of(state, number, account)
    result = kin_for(state, actor, ref, top, number)
    with state.db() as session:
        person_id = find_account(session, f"{result.source}/{result.account}")
    nodes = [
        Node(
            label=r.name or r.account,
            sublabel=r.kinship or r.relation,
            score=r.score,
            kind=r.relation,
            href=f"/accounts/{r.account_id}",
        )
        for r in result.relations
    ]
    svg = relations_svg(
        result.name or result.account,
        nodes,
        f"Relations of {result.name or result.account}: {len(nodes)} account(s)",
    )
    candidates = [c.ref for c in (info.searches[-1].candidates if info.searches else [])]
    return page(
        request,
        "kin.html",
        {
            "case": info,
            "k": result,
            "ref": ref,
            "person_id": person_id,
            "graph": Markup(svg),  # noqa: S704 - built by graph.py with every text escaped
            "candidates": candidates,
            "can_draft": may(actor, Permission.DRAFT)
            and info.state.value in ("identified", "notified"),
        },
    )


@router.get("/purge", response_class=HTMLResponse)
def purge_form(request: Request, actor: Purger) -> Response:
    """The purge form (admins)."""
    return page(request, "purge.html", {})


@router.post("/purge")
def purge(
    request: Request,
    state: StateDep,
    actor: Purger,
    target: Annotated[str, Form(max_length=400)],
    kind: Annotated[str, Form(pattern="^(account|source)$")],
    confirm: Annotated[bool, Form()] = False,
) -> Response:
    """Purge an account or a source after an explicit confirmation."""
    if not confirm:
        flash(request, _("Tick the box to confirm: a purge cannot be undone."), "error")
        return see_other("/purge")
    try:
        try:
            with flashing_errors(request), state.engine.exclusive():
                report = (
                    purge_account(state.workspace, actor.name, target.strip())
                    if kind == "account"
                    else purge_source(state.workspace, actor.name, target.strip())
                )
        finally:
            media.forget_all()  # purged faces must not stay even in memory
        flash(
            request,
            _(
                "Purged %(subject)s: %(photos)s, %(faces)s, %(vectors)s removed.",
                subject=report.subject,
                photos=ngettext("%(num)d photo", "%(num)d photos", report.photos),
                faces=ngettext("%(num)d face", "%(num)d faces", report.faces),
                vectors=ngettext("%(num)d vector", "%(num)d vectors", report.vectors),
            ),
        )
    except FormFailed:
        pass
    return see_other("/purge")
