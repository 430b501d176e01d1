"""Which identification a message is written for: the case's current confirmed one, and no
review decision after the draft (the same test the outbox triggers make in the database)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, and_, exists, func, select
from sqlalchemy.orm import Session

from nextofkin.cases.records import Case, CaseDecision, Identification
from nextofkin.cases.review import CONFIRMED, current_identification
from nextofkin.cases.service import CaseState
from nextofkin.errors import PolicyViolation
from nextofkin.notify.records import OutboxMessage

IDENTIFIED_STATES = (CaseState.IDENTIFIED, CaseState.NOTIFIED)


def identified(session: Session, case: Case) -> tuple[Identification, dict[str, Any]]:
    """The current identification and its candidate record; PolicyViolation if there is none."""
    current = current_identification(session, case)
    if CaseState(case.state) not in IDENTIFIED_STATES or current is None:
        raise PolicyViolation(
            f"case {case.number} has no confirmed identification (state {case.state}): a named "
            "reviewer must confirm a candidate (`nextofkin review`) before any message is drafted "
            "or sent"
        )
    for search in sorted(case.searches, key=lambda s: -s.id):
        for candidate in search.candidates or []:
            if f"{candidate['source']}/{candidate['account']}" == current.account_ref:
                return current, candidate
    raise PolicyViolation(
        f"confirmed account {current.account_ref} is in no search of case {case.number}"
    )


def newest_decision(session: Session, case: Case) -> int:
    return int(
        session.scalar(select(func.max(CaseDecision.id)).where(CaseDecision.case_id == case.id))
        or 0
    )


def bound_to_current(case_id: int) -> ColumnElement[bool]:
    """SQL: the outbox row was written for the case's current identification, and no decision
    came after its draft (the same test the database trigger makes)."""
    return and_(
        OutboxMessage.identification_id.in_(
            select(Identification.id).where(
                Identification.case_id == case_id, Identification.state == CONFIRMED
            )
        ),
        ~exists().where(
            CaseDecision.case_id == case_id,
            CaseDecision.id > func.coalesce(OutboxMessage.decision_id, 0),
        ),
    )


def check_binding(session: Session, case: Case, row: OutboxMessage) -> None:
    """PolicyViolation unless ``row`` was written for the case's current identification."""
    current = current_identification(session, case)
    if (
        current is None
        or row.identification_id != current.id
        or (row.decision_id or 0) < newest_decision(session, case)
    ):
        raise PolicyViolation(
            f"the message to {row.recipient_key} was written before the latest review decision "
            f"of case {case.number}: re-draft it for the current identification"
        )
