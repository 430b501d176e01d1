"""API: kin (who appears with a person and whom to tell) and purge on request."""

from __future__ import annotations

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, model_validator

from nextofkin import audit
from nextofkin.cases import service as cases
from nextofkin.cases.purge import PurgeReport, purge_account, purge_source
from nextofkin.errors import InputError
from nextofkin.gallery.accounts import GRAMMAR as ACCOUNT_GRAMMAR
from nextofkin.gallery.accounts import parse_account_ref, resolve_account
from nextofkin.i18n import _
from nextofkin.kin.engine import KinResult
from nextofkin.web import media
from nextofkin.web.deps import Purger, StateDep, Viewer, WebState
from nextofkin.web.security import Actor

router = APIRouter()


def kin_for(state: WebState, actor: Actor, ref: str, top: int, case: str | None) -> KinResult:
    """Run the kin engine for the account ``ref`` names and audit that the result was shown."""
    with state.db() as session:
        person = resolve_account(session, ref)
    result = state.engine.kin().kin(person.account.external_id, source=person.source, top=top)
    with state.db() as session:
        audit.record(
            session,
            actor.name,
            audit.Action.KIN_VIEW,
            f"account:{result.source}/{result.account}",
            {"relations": len(result.relations), "top": top},
            case=case,
        )
    return result


def person_of(state: WebState, number: str, account: str | None) -> str:
    """Whose relations a case's kin panel shows: ``account`` if it is one of the case's
    candidates, else the confirmed identification, else the top candidate of the newest search.
    """
    with state.db() as session:
        info = cases.case_info(session, number)
    if account:
        wanted = parse_account_ref(account)
        for search in reversed(info.searches):
            for c in search.candidates:
                # A stored candidate names its source, not its platform.
                if wanted.matches(c.account_id, c.source, c.account, None):
                    return c.ref
        raise InputError(
            _("%(account)r is not a candidate of case %(number)s", account=account, number=number)
        )
    if info.identified_ref:
        return info.identified_ref
    newest = info.searches[-1].candidates if info.searches else []
    if not newest:
        raise InputError(_("case %(number)s has no candidate yet: search first", number=number))
    return newest[0].ref


@router.get("/kin", response_model=KinResult, tags=["kin"], summary="Relations of an account")
def kin(
    state: StateDep,
    actor: Viewer,
    account: str = Query(max_length=400, description=f"The person: {ACCOUNT_GRAMMAR}"),
    top: int = Query(10, ge=1, le=100),
) -> KinResult:
    """Accounts related to ``account``, best first, with reasons and evidence photos."""
    return kin_for(state, actor, account, top, None)


@router.get(
    "/cases/{number:path}/kin",
    response_model=KinResult,
    tags=["kin"],
    summary="Relations of a case's identified person (or one of its candidates)",
)
def case_kin(
    number: str,
    state: StateDep,
    actor: Viewer,
    account: str | None = Query(None, max_length=400, description="a candidate of the case"),
    top: int = Query(10, ge=1, le=100),
) -> KinResult:
    """Kin of the confirmed identification (default), or of a candidate being weighed."""
    with state.db() as session:
        cases.view_case(session, actor.name, number)
    return kin_for(state, actor, person_of(state, number, account), top, number)


class PurgeRequest(BaseModel):
    """What to purge: exactly one of an account or a whole source."""

    account: str | None = Field(None, max_length=400)
    source: str | None = Field(None, max_length=200)

    @model_validator(mode="after")
    def _exactly_one(self) -> PurgeRequest:
        if (self.account is None) == (self.source is None):
            raise ValueError("give exactly one of account or source")
        return self


@router.post("/purge", response_model=PurgeReport, tags=["gallery"], summary="Purge biometric data")
def purge(body: PurgeRequest, state: StateDep, actor: Purger) -> PurgeReport:
    """Remove an account's or a source's photos, faces and vectors on request (admins)."""
    try:
        with state.engine.exclusive():
            if body.account is not None:
                return purge_account(state.workspace, actor.name, body.account)
            assert body.source is not None
            return purge_source(state.workspace, actor.name, body.source)
    finally:
        media.forget_all()  # purged faces must not stay even in memory
