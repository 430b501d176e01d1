"""Helpers the page routes share: redirects after a form, and errors shown as flash messages."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import RedirectResponse

from nextofkin.errors import InputError, NextOfKinError
from nextofkin.i18n import _
from nextofkin.web.errors import describe
from nextofkin.web.render import flash


def case_url(number: str, suffix: str = "") -> str:
    """The page of case ``number`` (case numbers may contain slashes)."""
    return f"/cases/{quote(number, safe='/')}{suffix}"


def see_other(url: str) -> RedirectResponse:
    """Redirect after a form post (the browser then GETs ``url``)."""
    return RedirectResponse(url, status_code=303)


class FormFailed(Exception):
    """A form's action failed; the message was flashed."""


@contextmanager
def flashing_errors(request: Request) -> Iterator[None]:
    """Turn a domain error inside a form action into a flash message (then FormFailed).

    The message and its kind come from :func:`nextofkin.web.errors.describe`, the one mapping.
    """
    try:
        yield
    except NextOfKinError as exc:
        body = describe(exc)
        flash(request, body.message, "error")
        raise FormFailed(body.message) from exc


def optional_id(text: str | None) -> int | None:
    """A row id typed into an optional form field (a blank field posts ``""``, not nothing)."""
    if text is None or not text.strip():
        return None
    if not text.strip().isdigit() or int(text) < 1:
        raise InputError(_("%(text)r is not a row number", text=text))
    return int(text)
