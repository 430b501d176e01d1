"""What people read for a case's state and a reviewer's verdict (stored values stay English)."""

from __future__ import annotations

from nextofkin.cases.review import Verdict
from nextofkin.cases.states import STATE_NAMES, state_label
from nextofkin.i18n import N_, label

__all__ = [
    "MESSAGE_STATE_NAMES",
    "STATE_NAMES",
    "VERDICT_NAMES",
    "message_state_label",
    "state_label",
    "verdict_label",
]

VERDICT_NAMES: dict[str, str] = {
    Verdict.CONFIRM: N_("confirmed"),
    Verdict.REJECT: N_("rejected"),
}


def verdict_label(verdict: object) -> str:
    """A reviewer's verdict in the current language."""
    return label(VERDICT_NAMES, verdict)


# The states of notify.model.OutboxState, by value: the case report shows them, and cases sits
# below notify (a test holds the two lists equal).
MESSAGE_STATE_NAMES: dict[str, str] = {
    "draft": N_("draft"),
    "approved": N_("approved"),
    "sending": N_("sending"),
    "sent": N_("sent"),
    "failed": N_("failed"),
    "uncertain": N_("uncertain"),
    "void": N_("void"),
}


def message_state_label(state: object) -> str:
    """A message's state in the current language."""
    return label(MESSAGE_STATE_NAMES, state)
