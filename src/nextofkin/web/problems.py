"""The errors the web layer itself raises (authentication, CSRF, upload limits), and the shape
every error is shown in (:class:`ErrorBody`).

Apart from :mod:`nextofkin.web.errors` (which maps every error to a status and renders it), so that
the modules raising them need not import the renderer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nextofkin.errors import NextOfKinError


class WebError(NextOfKinError):
    """An error the web layer itself raises (authentication, CSRF, upload limits)."""


class NotAuthenticated(WebError):
    """Nobody is logged in, or the bearer token is unknown or revoked."""


class CsrfRejected(WebError):
    """An unsafe request without the session's CSRF token."""


class UploadTooLarge(WebError):
    """An upload (or the whole request) over the configured size limit."""


class UploadRejected(WebError):
    """An upload that is not one of the accepted image types, or too many files."""


class LoginThrottled(WebError):
    """Too many failed logins for this account name or from this address: wait and retry."""

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class LoginBusy(WebError):
    """More logins are waiting for a password check than the server queues: retry shortly."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class InternalError(WebError):
    """An error nobody foresaw (a bug, a full disk); the details are in the server log."""


@dataclass(frozen=True)
class ErrorBody:
    """What an error says, whichever way it is shown."""

    status: int
    type: str
    message: str
    extra: dict[str, Any]

    def json(self) -> dict[str, Any]:
        """The stable JSON shape of every API error."""
        return {"error": {"type": self.type, "message": self.message, **self.extra}}
