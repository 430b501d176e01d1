"""The states of a case and the moves between them.

A case moves between the states of :class:`CaseState` only along :data:`TRANSITIONS`; anything
else is a :class:`CaseStateError`. Every move is written to the audit log in the same transaction.
"""

from __future__ import annotations

import logging
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.records import Case
from nextofkin.db import utcnow
from nextofkin.errors import CaseStateError, NotFound
from nextofkin.i18n import N_, _, label

log = logging.getLogger(__name__)


class CaseState(StrEnum):
    """Where a case is in the process."""

    OPEN = "open"  # photos recorded, not yet searched
    SEARCHED = "searched"  # candidates found, no decision yet
    UNDER_REVIEW = "under_review"  # some decisions, no complete confirmation
    IDENTIFIED = "identified"  # a confirmation satisfied the review policy
    NOTIFIED = "notified"  # at least one family member was notified
    CLOSED = "closed"  # finished; nothing changes any more
    REJECTED = "rejected"  # reviewers rejected every candidate of the latest search
    UNIDENTIFIED = "unidentified"  # set aside without identification (can be searched again)


# What people read for each state (the stored value stays English); nextofkin.cases.labels.
STATE_NAMES: dict[str, str] = {
    CaseState.OPEN: N_("open"),
    CaseState.SEARCHED: N_("searched"),
    CaseState.UNDER_REVIEW: N_("under review"),
    CaseState.IDENTIFIED: N_("identified"),
    CaseState.NOTIFIED: N_("notified"),
    CaseState.CLOSED: N_("closed"),
    CaseState.REJECTED: N_("rejected"),
    CaseState.UNIDENTIFIED: N_("unidentified"),
}


def state_label(state: object) -> str:
    """A case state in the current language."""
    return label(STATE_NAMES, state)


S = CaseState


TRANSITIONS: dict[CaseState, frozenset[CaseState]] = {
    S.OPEN: frozenset({S.SEARCHED, S.UNIDENTIFIED, S.CLOSED}),
    S.SEARCHED: frozenset({S.SEARCHED, S.UNDER_REVIEW, S.IDENTIFIED, S.REJECTED}),
    S.UNDER_REVIEW: frozenset({S.UNDER_REVIEW, S.IDENTIFIED, S.REJECTED}),
    S.REJECTED: frozenset({S.SEARCHED, S.UNDER_REVIEW, S.IDENTIFIED}),
    # Withdrawing the only confirmation before anyone was told sends the case back to review.
    S.IDENTIFIED: frozenset({S.UNDER_REVIEW, S.REJECTED, S.NOTIFIED, S.CLOSED}),
    S.NOTIFIED: frozenset({S.CLOSED}),
    S.UNIDENTIFIED: frozenset({S.SEARCHED, S.CLOSED}),
    S.CLOSED: frozenset(),
}
# Setting a case aside as unidentified, or closing it, is allowed from every working state.
for _state in (S.SEARCHED, S.UNDER_REVIEW, S.REJECTED):
    TRANSITIONS[_state] = TRANSITIONS[_state] | {S.UNIDENTIFIED, S.CLOSED}


# A new search from these states leaves the case in the state on the right.
AFTER_SEARCH: dict[CaseState, CaseState] = {
    S.OPEN: S.SEARCHED,
    S.SEARCHED: S.SEARCHED,
    S.REJECTED: S.SEARCHED,
    S.UNIDENTIFIED: S.SEARCHED,
    S.UNDER_REVIEW: S.UNDER_REVIEW,
}


def get_case(session: Session, number: str) -> Case:
    """The case numbered ``number``, or NotFound."""
    case = session.scalars(select(Case).where(Case.number == number)).one_or_none()
    if case is None:
        raise NotFound(_("no case %(number)r (see `nextofkin case list`)", number=number))
    return case


def transition(
    session: Session, case: Case, new: CaseState, actor: str | None, reason: str | None = None
) -> None:
    """Move ``case`` to ``new`` if :data:`TRANSITIONS` allows it, and audit the move.

    Raises :class:`CaseStateError` for an illegal move. A move to the same state that the table
    allows (e.g. another search) is recorded too, so the audit shows every step.
    """
    old = CaseState(case.state)
    if new not in TRANSITIONS[old]:
        allowed = ", ".join(sorted(state_label(s) for s in TRANSITIONS[old])) or _("none (final)")
        raise CaseStateError(
            _(
                "case %(number)s is %(state)s: cannot become %(new)s (allowed: %(allowed)s)",
                number=case.number,
                state=state_label(old),
                new=state_label(new),
                allowed=allowed,
            )
        )
    if old == new:
        case.updated_at = utcnow()
        return
    case.state = new.value
    case.updated_at = utcnow()
    audit.record(
        session,
        actor,
        audit.Action.CASE_STATE,
        f"case:{case.number}",
        {"from": old.value, "to": new.value, "reason": reason},
        case=case.number,
    )
    log.info("case %s: %s -> %s", case.number, old.value, new.value)
