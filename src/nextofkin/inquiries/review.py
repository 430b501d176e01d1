"""Reviewers confirm or reject links between inquiries and cases, as they do identifications.

The rules are the identification's (:mod:`nextofkin.cases.review`): only users with the reviewer
role decide; a link whose decision is below ``match`` needs two different reviewers under the
same policy settings; a rejection withdraws earlier confirmations (and a confirmed link); one
reviewer never counts twice. The user who filed the inquiry may not confirm its link, as a
searcher may not confirm their own search. A body has one family's person and a person one body:
the database allows one confirmed link per case and per inquiry, so confirming another takes a
rejection of the standing one first. Every link decision voids the case's unsent messages (a
database trigger), and no decision is recorded once a message to the link's inquirer may have
reached them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.inquiry_records import Inquiry, InquiryLink, InquiryLinkDecision
from nextofkin.cases.records import Case
from nextofkin.cases.review import Verdict, current_identification, needed_reviewers
from nextofkin.db import utcnow
from nextofkin.errors import (
    CaseStateError,
    InputError,
    NotFound,
    PermissionDenied,
    PolicyViolation,
)
from nextofkin.i18n import _
from nextofkin.inquiries.service import InquiryAction
from nextofkin.settings import ReviewPolicy
from nextofkin.users.service import Role, require_role

log = logging.getLogger(__name__)

CONFIRMED = "confirmed"
_MESSAGE_COMMITTED = "may have reached them"


@dataclass(frozen=True)
class LinkOutcome:
    """What a link decision did."""

    link_id: int
    inquiry_id: int
    case_number: str
    verdict: Verdict
    reviewer: str
    confirmations: list[str]
    needed: int
    state: str


def counting_confirmations(session: Session, link: InquiryLink) -> list[str]:
    """Reviewers whose confirmations of ``link`` count: those since its last rejection."""
    reviewers: list[str] = []
    for decision in session.scalars(
        select(InquiryLinkDecision)
        .where(InquiryLinkDecision.link_id == link.id)
        .order_by(InquiryLinkDecision.id)
    ):
        if decision.decision == Verdict.REJECT:
            reviewers = []
        elif decision.reviewer not in reviewers:
            reviewers.append(decision.reviewer)
    return reviewers


def _lock(session: Session, case_id: int) -> None:
    """Serialise decisions on one case's links with review decisions and send claims."""
    session.execute(select(Case.id).where(Case.id == case_id).with_for_update())


def _other_confirmed(session: Session, link: InquiryLink) -> InquiryLink | None:
    return session.scalars(
        select(InquiryLink).where(
            InquiryLink.state == CONFIRMED,
            InquiryLink.id != link.id,
            (InquiryLink.case_id == link.case_id) | (InquiryLink.inquiry_id == link.inquiry_id),
        )
    ).first()


def _check_confirm(session: Session, link: InquiryLink, reviewer: str, before: list[str]) -> None:
    inquiry = session.get_one(Inquiry, link.inquiry_id)
    if inquiry.filed_by == reviewer:
        raise PolicyViolation(
            _(
                "%(reviewer)s filed inquiry %(id)s: another reviewer must confirm its link",
                reviewer=reviewer,
                id=inquiry.id,
            )
        )
    other = _other_confirmed(session, link)
    if other is not None:
        raise PolicyViolation(
            _(
                "link %(id)s (inquiry %(inquiry_id)s) is confirmed for this case or "
                "this inquiry: one body, one missing person. Reject it first (recorded "
                "and audited)",
                id=other.id,
                inquiry_id=other.inquiry_id,
            )
        )
    if reviewer in before or link.state == CONFIRMED:
        # A superfluous confirmation would still void the case's drafts: refuse it instead.
        raise PolicyViolation(
            _(
                "link %(id)s is already confirmed by %(before)s",
                id=link.id,
                before=", ".join(before),
            )
        )


def _check_corroboration(
    session: Session, case: Case, link: InquiryLink, verdict: Verdict, corroborates: int | None
) -> None:
    """Refuse a confirmation that would give the body a second, unreconciled identity.

    Whether inquiry Y's missing person is gallery account X only a reviewer can say: while the
    case is identified, the confirmation must name that identification (migration 0018).
    """
    if verdict is not Verdict.CONFIRM:
        if corroborates is not None:
            raise InputError(_("only a confirmation corroborates an identification"))
        return
    current = current_identification(session, case)
    if current is None:
        if corroborates is not None:
            raise PolicyViolation(
                _(
                    "case %(number)s has no confirmed identification, so identification "
                    "%(corroborates)s cannot be corroborated; confirm without "
                    "--corroborates",
                    number=case.number,
                    corroborates=corroborates,
                )
            )
        return
    if corroborates != current.id:
        said = (
            "" if corroborates is None else _("identification %(id)s is not it. ", id=corroborates)
        )
        raise PolicyViolation(
            _(
                "case %(number)s is identified as %(account_ref)s (confirmed "
                "identification %(id)s): two families must never be told the same body "
                "is theirs. %(said)sEither confirm link %(id2)s as corroborating it "
                "(--corroborates %(id)s: you state inquiry %(inquiry_id)s's missing "
                "person IS %(account_ref)s), or reject %(account_ref)s on case "
                "%(number)s first",
                number=case.number,
                account_ref=current.account_ref,
                id=current.id,
                said=said,
                id2=link.id,
                inquiry_id=link.inquiry_id,
            )
        )


def _insert(session: Session, decision: InquiryLinkDecision) -> None:
    """Write ``decision``; the database refuses it once a letter may have reached the inquirer."""
    session.add(decision)
    try:
        session.flush()
    except DBAPIError as exc:
        if _MESSAGE_COMMITTED in str(exc.orig):
            raise CaseStateError(
                _(
                    "a message to the inquirer of link %(link_id)s is being sent, was sent "
                    "or may have been sent: no further decision; contact the family in "
                    "person",
                    link_id=decision.link_id,
                )
            ) from exc
        raise


def review_link(
    session: Session,
    policy: ReviewPolicy,
    actor: str | None,
    link_id: int,
    verdict: Verdict | str,
    *,
    reason: str | None = None,
    corroborates: int | None = None,
) -> LinkOutcome:
    """Record the acting reviewer's confirmation or rejection of link ``link_id``.

    Raises :class:`PolicyViolation` when the policy forbids the confirmation and
    :class:`CaseStateError` once a message to the inquirer may have reached them. While the
    case has a confirmed identification, a confirmation must name it in ``corroborates`` (the
    reviewer states the inquiry's missing person IS the identified account's person).
    """
    verdict = Verdict(verdict)
    if not actor:
        raise PermissionDenied(_("name the reviewer: --user NAME"))
    user = require_role(session, actor, Role.REVIEWER)
    link = session.get(InquiryLink, link_id)
    if link is None:
        raise NotFound(_("no inquiry link %(link_id)s", link_id=link_id))
    _lock(session, link.case_id)
    case = session.get_one(Case, link.case_id)
    number = case.number
    before = counting_confirmations(session, link)
    if verdict is Verdict.CONFIRM:
        _check_confirm(session, link, user.name, before)
    _check_corroboration(session, case, link, verdict, corroborates)
    decision = InquiryLinkDecision(
        link_id=link.id,
        case_id=link.case_id,
        decision=verdict.value,
        reviewer=user.name,
        reason=reason,
        corroborates_identification_id=corroborates,
    )
    _insert(session, decision)
    after = counting_confirmations(session, link)
    needed = needed_reviewers(policy, link.decision)
    action = InquiryAction.LINK_CONFIRM if verdict is Verdict.CONFIRM else InquiryAction.LINK_REJECT
    details = {
        "link": link.id,
        "case": number,
        "confirmations": after,
        "needed": needed,
        "corroborates_identification": corroborates,
    }
    audit.record(session, user.name, action, f"inquiry:{link.inquiry_id}", details, case=number)
    _settle(session, link, decision, after, needed, number)
    log.info("link %d: %s by %s", link.id, verdict.value, user.name)
    return LinkOutcome(
        link.id, link.inquiry_id, number, verdict, user.name, after, needed, link.state
    )


def _settle(
    session: Session,
    link: InquiryLink,
    decision: InquiryLinkDecision,
    confirmations: list[str],
    needed: int,
    number: str,
) -> None:
    """Confirm the link once enough reviewers have, or withdraw / reject it on a rejection."""
    subject = f"inquiry:{link.inquiry_id}"
    link.updated_at = utcnow()
    if decision.decision == Verdict.CONFIRM:
        if link.state != CONFIRMED and len(confirmations) >= needed:
            link.state = CONFIRMED
            link.decision_id = decision.id
            link.reviewers = list(confirmations)
            session.flush()
            details = {"link": link.id, "case": number, "reviewers": confirmations}
            audit.record(
                session,
                decision.reviewer,
                InquiryAction.LINK_CONFIRMED,
                subject,
                details,
                case=number,
            )
        return
    was_confirmed = link.state == CONFIRMED
    link.state = "withdrawn" if was_confirmed else "rejected"
    session.flush()
    if was_confirmed:
        details = {"link": link.id, "case": number, "decision": decision.id}
        audit.record(
            session, decision.reviewer, InquiryAction.LINK_WITHDRAWN, subject, details, case=number
        )


def confirmed_link(session: Session, case_id: int) -> InquiryLink | None:
    """The case's confirmed link, if any (the database allows at most one)."""
    return session.scalars(
        select(InquiryLink).where(InquiryLink.case_id == case_id, InquiryLink.state == CONFIRMED)
    ).one_or_none()
