"""The server-rendered pages (Jinja2 + htmx): thin routes over the same services as the API."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from nextofkin.web.csrf import check_csrf
from nextofkin.web.pages import admin, alerts, auth, cases, gallery, inquiries, kin, notify


def pages_router() -> APIRouter:
    """Every page route; the case page's catch-all path comes last."""
    router = APIRouter(dependencies=[Depends(check_csrf)], include_in_schema=False)
    for module in (auth, gallery, admin, notify, kin, alerts, inquiries, cases):
        router.include_router(module.router)
    router.include_router(cases.tail)
    return router
