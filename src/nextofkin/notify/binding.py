"""Which identification a message is written for: the case's current confirmed one, and no
review decision after the draft (the same test the outbox triggers make in the database)."""

from __future__ import annotations

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.orm import Session

from nextofkin.cases.info import stored_candidates
from nextofkin.cases.inquiry_records import InquiryLink, InquiryLinkDecision
from nextofkin.cases.records import Case, CaseDecision, Identification
from nextofkin.cases.review import CONFIRMED, current_identification
from nextofkin.cases.service import CaseState
from nextofkin.errors import PolicyViolation
from nextofkin.i18n import _
from nextofkin.identify.results import Candidate
from nextofkin.notify.records import OutboxMessage

IDENTIFIED_STATES = (CaseState.IDENTIFIED, CaseState.NOTIFIED)


def identified(session: Session, case: Case) -> tuple[Identification, Candidate]:
    """The current identification and its candidate record; PolicyViolation if there is none."""
    current = current_identification(session, case)
    if CaseState(case.state) not in IDENTIFIED_STATES or current is None:
        raise PolicyViolation(
            _(
                "case %(number)s has no confirmed identification (state %(state)s): a "
                "named reviewer must confirm a candidate (`nextofkin review`) before "
                "any message is drafted or sent",
                number=case.number,
                state=case.state,
            )
        )
    for search in sorted(case.searches, key=lambda s: -s.id):
        for candidate in stored_candidates(search):
            if candidate.ref == current.account_ref:
                return current, candidate
    raise PolicyViolation(
        _(
            "confirmed account %(account_ref)s is in no search of case %(number)s",
            account_ref=current.account_ref,
            number=case.number,
        )
    )


def newest_decision(session: Session, case: Case) -> int:
    return int(
        session.scalar(select(func.max(CaseDecision.id)).where(CaseDecision.case_id == case.id))
        or 0
    )


def bound_to_current(case_id: int) -> ColumnElement[bool]:
    """SQL: the outbox row was written for the case's current identification, and no decision
    came after its draft (the same test the database trigger makes)."""
    no_later_decision = ~exists().where(
        CaseDecision.case_id == case_id,
        CaseDecision.id > func.coalesce(OutboxMessage.decision_id, 0),
    )
    for_identification = and_(
        OutboxMessage.inquiry_link_id.is_(None),
        OutboxMessage.identification_id.in_(
            select(Identification.id).where(
                Identification.case_id == case_id, Identification.state == CONFIRMED
            )
        ),
    )
    # A letter to an inquirer: its link is the case's confirmed one, no link decision since.
    for_link = and_(
        OutboxMessage.inquiry_link_id.in_(
            select(InquiryLink.id).where(
                InquiryLink.case_id == case_id, InquiryLink.state == CONFIRMED
            )
        ),
        ~exists().where(
            InquiryLinkDecision.case_id == case_id,
            InquiryLinkDecision.id > func.coalesce(OutboxMessage.link_decision_id, 0),
        ),
    )
    return and_(or_(for_identification, for_link), no_later_decision)


def check_binding(session: Session, case: Case, row: OutboxMessage) -> None:
    """PolicyViolation unless ``row`` was written for the case's current identification (or,
    for a letter to an inquirer, for the case's confirmed inquiry link)."""
    if row.inquiry_link_id is not None:
        check_link_binding(session, case, row)
        return
    current = current_identification(session, case)
    if (
        current is None
        or row.identification_id != current.id
        or (row.decision_id or 0) < newest_decision(session, case)
    ):
        raise PolicyViolation(
            _(
                "the message to %(recipient_key)s was written before the latest review "
                "decision of case %(number)s: re-draft it for the current "
                "identification",
                recipient_key=row.recipient_key,
                number=case.number,
            )
        )


def newest_link_decision(session: Session, case: Case) -> int:
    """The id of the case's newest inquiry-link decision (0 if none)."""
    return int(
        session.scalar(
            select(func.max(InquiryLinkDecision.id)).where(InquiryLinkDecision.case_id == case.id)
        )
        or 0
    )


def check_link_binding(session: Session, case: Case, row: OutboxMessage) -> None:
    """PolicyViolation unless ``row`` was written for the case's confirmed inquiry link and no
    link or review decision of the case came after it."""
    link = session.get(InquiryLink, row.inquiry_link_id) if row.inquiry_link_id else None
    if (
        link is None
        or link.case_id != case.id
        or link.state != CONFIRMED
        or (row.link_decision_id or 0) < newest_link_decision(session, case)
        or (row.decision_id or 0) < newest_decision(session, case)
    ):
        raise PolicyViolation(
            _(
                "the message to %(recipient_key)s was written before the latest "
                "decision on case %(number)s or its inquiry link: re-draft it for the "
                "confirmed link",
                recipient_key=row.recipient_key,
                number=case.number,
            )
        )
