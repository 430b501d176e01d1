"""A user's own preferences: the language of the web UI (issue 18)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from nextofkin.errors import InputError
from nextofkin.i18n import LANGUAGES, gettext, normalise_language
from nextofkin.users.service import get_user


def set_language(session: Session, name: str, language: str | None) -> str | None:
    """Set the user's language (``uk``, ``en``, ``ru``), or None to follow the browser.

    Not audited: it changes what the user reads, never what anyone may do or see.
    """
    chosen = normalise_language(language) if language else None
    if language and chosen is None:
        raise InputError(
            gettext(
                "unknown language %(language)s (one of: %(known)s)",
                language=language,
                known=", ".join(LANGUAGES),
            )
        )
    get_user(session, name).language = chosen
    return chosen


def get_language(session: Session, name: str) -> str | None:
    """The user's own language setting, or None (follow the browser)."""
    return get_user(session, name).language
