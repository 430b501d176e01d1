"""Pages: gallery status, account search, the account page and the photo page."""

from __future__ import annotations

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from nextofkin import audit
from nextofkin.gallery.ingest import gallery_counts
from nextofkin.gallery.maintenance import open_index
from nextofkin.web import readmodels
from nextofkin.web.deps import RowId, StateDep, Viewer
from nextofkin.web.render import page

router = APIRouter()

PAGE = 50


@router.get("/status", response_class=HTMLResponse)
def status(request: Request, state: StateDep, actor: Viewer) -> Response:
    """What the workspace holds: sources, counts, the index and its calibration."""
    index = open_index(state.workspace)
    with state.db() as session:
        info = readmodels.gallery_status(
            session, gallery_counts(session), index, state.engine.loaded
        )
    return page(request, "status.html", {"s": info})


@router.get("/accounts", response_class=HTMLResponse)
def accounts(
    request: Request,
    state: StateDep,
    actor: Viewer,
    q: str | None = Query(None, max_length=200),
    offset: int = Query(0, ge=0),
) -> Response:
    """Find accounts by id, name or city."""
    with state.db() as session:
        total, rows = readmodels.list_accounts(session, q, None, PAGE, offset)
    return page(
        request,
        "accounts.html",
        {"rows": rows, "total": total, "q": q or "", "offset": offset, "page": PAGE},
    )


@router.get("/accounts/{account_id}", response_class=HTMLResponse)
def account(account_id: RowId, request: Request, state: StateDep, actor: Viewer) -> Response:
    """An account: profile, photos with faces boxed by role (owner, companion); audited."""
    with state.db() as session:
        detail = readmodels.account_detail(session, account_id)
        audit.record(
            session,
            actor.name,
            audit.Action.ACCOUNT_VIEW,
            f"account:{detail.source}/{detail.account}",
            {},
        )
    return page(request, "account.html", {"a": detail})


@router.get("/photos/{photo_id}", response_class=HTMLResponse)
def photo(photo_id: RowId, request: Request, state: StateDep, actor: Viewer) -> Response:
    """One gallery photo, large, with every face boxed."""
    with state.db() as session:
        info = readmodels.photo_detail(session, photo_id)
        detail = readmodels.account_detail(session, info.account_id)
    return page(request, "photo.html", {"p": info, "a": detail})
