"""E-mail addresses checked once, by a library made for it, wherever one enters the system.

An address reaches a mail header, so anything that is not one plain address (a CR/LF with a
``Bcc:`` after it, a display name, a list) must be refused where it comes in: at ingest, where
it is dropped from the account's contacts with a reason, and at drafting, where it stops the
draft. ``email-validator`` knows the RFCs and the internationalised forms; deliverability (DNS)
is not checked because this machine, and many teams' machines, have no resolver to ask.
"""

from __future__ import annotations

from nextofkin.errors import InputError
from nextofkin.i18n import _


def normalise_email(text: str) -> str:
    """``text`` as one normalised e-mail address; :class:`InputError` if it is not one."""
    if any(ch in text for ch in "\r\n\0"):
        raise InputError(_("%(text)r is not an e-mail address: it holds a line break", text=text))
    # Deferred: email-validator loads its DNS and IDNA machinery (a twentieth of a second), and
    # most commands (identify among them) import this module without ever checking an address.
    from email_validator import EmailNotValidError, validate_email

    try:
        return validate_email(text.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise InputError(
            _("%(text)r is not an e-mail address: %(exc)s", text=text, exc=exc)
        ) from exc


def is_email(text: object) -> bool:
    """Whether ``text`` is a string holding one valid e-mail address."""
    if not isinstance(text, str):
        return False
    try:
        normalise_email(text)
    except InputError:
        return False
    return True
