"""CSRF: every unsafe request that relies on the session cookie carries the session's token.

Bearer requests carry no ambient credential (a browser never adds that header on its own), so they
need none.
"""

from __future__ import annotations

import hmac
import secrets

from starlette.requests import Request

from nextofkin.i18n import _
from nextofkin.web import sessions
from nextofkin.web.problems import CsrfRejected

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


CSRF_FIELD = "csrf_token"


CSRF_HEADER = "x-csrf-token"


def csrf_token(request: Request) -> str:
    """The session's CSRF token, made on first use (also for the login form, before login)."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def check_csrf(request: Request) -> None:
    """Refuse an unsafe session-authenticated request whose CSRF token is missing or wrong.

    The token comes from the ``X-CSRF-Token`` header (htmx and API clients) or the ``csrf_token``
    form field (plain forms). Bearer-token requests are exempt: a browser never adds that header
    on its own, so a forged cross-site request cannot carry it.
    """
    if request.method in SAFE_METHODS or bearer_token(request) is not None:
        return
    if sessions.session_of(request).user is None and request.url.path != "/login":
        # Nobody is logged in: the route's authentication answers 401, which says more than a
        # CSRF refusal would. (The login form itself is still checked.)
        return
    expected = request.session.get("csrf")
    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        given = value if isinstance(value, str) else None
    if not expected or not given or not hmac.compare_digest(str(expected), given):
        raise CsrfRejected(_("missing or wrong CSRF token: reload the page and try again"))


def bearer_token(request: Request) -> str | None:
    """The bearer token of the request, if it sends one."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()
