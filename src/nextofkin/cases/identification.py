"""A body's one identity: reviewers' verdicts, the confirmed identification, and its corroboration.

The database allows one ``confirmed`` :class:`Identification` per case and one confirmed inquiry
link per case; while both stand they must corroborate one another (migration 0018), so two
families are never told the same body is theirs. :mod:`nextofkin.cases.review` records the
decisions; this module holds what a decision is checked against and what it writes.
"""

from __future__ import annotations

from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.inquiry_records import InquiryLink
from nextofkin.cases.records import Case, CaseDecision, Identification
from nextofkin.db import utcnow
from nextofkin.errors import InputError, PolicyViolation
from nextofkin.i18n import _

MATCH = "match"
CONFIRMED = "confirmed"
WITHDRAWN = "withdrawn"


class Verdict(StrEnum):
    """A reviewer's decision on one candidate."""

    CONFIRM = "confirm"
    REJECT = "reject"


def current_identification(session: Session, case: Case) -> Identification | None:
    """The case's confirmed identification, if any (the database allows at most one)."""
    return session.scalars(
        select(Identification).where(
            Identification.case_id == case.id, Identification.state == CONFIRMED
        )
    ).one_or_none()


def confirmed_link_of(session: Session, case: Case) -> InquiryLink | None:
    """The case's confirmed inquiry link, if any (the database allows at most one)."""
    return session.scalars(
        select(InquiryLink).where(InquiryLink.case_id == case.id, InquiryLink.state == CONFIRMED)
    ).one_or_none()


def check_corroboration(
    session: Session, case: Case, verdict: Verdict, account_ref: str, corroborates: int | None
) -> None:
    """Refuse a confirmation that would give the body a second, unreconciled identity.

    The data cannot know whether a gallery account and an inquiry's missing person are the same
    person, so while a link of the case stands the reviewer must say so by naming it; the
    database refuses the identification otherwise (migration 0018).
    """
    if verdict is not Verdict.CONFIRM:
        if corroborates is not None:
            raise InputError(_("only a confirmation corroborates a link; drop --corroborates"))
        return
    link = confirmed_link_of(session, case)
    if link is None:
        if corroborates is not None:
            raise PolicyViolation(
                _(
                    "case %(number)s has no confirmed inquiry link, so link "
                    "%(corroborates)s cannot be corroborated; confirm without "
                    "--corroborates",
                    number=case.number,
                    corroborates=corroborates,
                )
            )
        return
    if corroborates != link.id:
        said = "" if corroborates is None else _("link %(id)s is not it. ", id=corroborates)
        raise PolicyViolation(
            _(
                "case %(number)s is linked to inquiry %(inquiry_id)s (confirmed link "
                "%(id)s): two families must never be told the same body is theirs. "
                "%(said)sEither confirm %(account_ref)s as corroborating that link "
                "(--corroborates %(id)s: you state the inquiry's missing person IS "
                "this account's person), or reject link %(id)s first (nextofkin "
                "inquiry review %(id)s --reject)",
                number=case.number,
                inquiry_id=link.inquiry_id,
                id=link.id,
                said=said,
                account_ref=account_ref,
            )
        )


def settle_identification(
    session: Session,
    case: Case,
    current: Identification | None,
    decision: CaseDecision,
    confirmations: list[str],
    needed: int,
) -> Identification | None:
    """Write or withdraw the identification after ``decision``; returns the current one."""
    if decision.decision == Verdict.CONFIRM and current is None and len(confirmations) >= needed:
        current = Identification(
            case_id=case.id,
            account_id=decision.account_id,
            account_ref=decision.account_ref,
            state=CONFIRMED,
            decision_id=decision.id,
            reviewers=list(confirmations),
        )
        session.add(current)
        session.flush()
        audit.record(
            session,
            decision.reviewer,
            audit.Action.IDENTIFICATION_CONFIRM,
            f"case:{case.number}",
            {"account": current.account_ref, "reviewers": confirmations, "decision": decision.id},
            case=case.number,
        )
    elif (
        decision.decision == Verdict.REJECT
        and current is not None
        and current.account_ref == decision.account_ref
    ):
        current.state = WITHDRAWN
        current.withdrawn_decision_id = decision.id
        current.withdrawn_by = decision.reviewer
        current.withdrawn_at = utcnow()
        session.flush()
        audit.record(
            session,
            decision.reviewer,
            audit.Action.IDENTIFICATION_WITHDRAW,
            f"case:{case.number}",
            {"account": current.account_ref, "decision": decision.id, "reason": decision.reason},
            case=case.number,
        )
        current = None
    return current
