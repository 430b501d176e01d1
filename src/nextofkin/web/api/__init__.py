"""The REST API under ``/api``: one router per area, all behind authentication and CSRF checks."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from nextofkin.web.api import alerts, audit, cases, core, inquiries, kin, notify
from nextofkin.web.csrf import check_csrf


def api_router() -> APIRouter:
    """Every API route, mounted at ``/api`` by the app factory."""
    router = APIRouter(prefix="/api", dependencies=[Depends(check_csrf)])
    for module in (core, cases, audit, notify, kin, alerts, inquiries):
        router.include_router(module.router)
    router.include_router(cases.tail)
    return router
