"""Human review: reviewers confirm or reject candidates, under the policy in settings.

A confirmation counts only when it comes from a user with the reviewer role. How many different
reviewers an identification needs depends on the candidate's calibrated decision: below ``match``
(``possible`` or ``no match``) it needs two when ``review.second_reviewer_below_match`` is set,
and always two with ``review.always_two_reviewers``. With ``review.reviewer_differs_from_searcher``
the user who ran the search cannot confirm its candidates. A rejection withdraws every earlier
confirmation of that account; confirming it again starts the count afresh.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.records import Case, CaseDecision, CaseSearch
from nextofkin.cases.service import CaseState, get_case, transition
from nextofkin.errors import CaseStateError, InputError, PermissionDenied, PolicyViolation
from nextofkin.settings import ReviewPolicy
from nextofkin.users.service import Role, require_role

log = logging.getLogger(__name__)

MATCH = "match"


class Verdict(StrEnum):
    """A reviewer's decision on one candidate."""

    CONFIRM = "confirm"
    REJECT = "reject"


@dataclass(frozen=True)
class CandidateRef:
    """A candidate of one of the case's searches, found from what a reviewer typed."""

    search: CaseSearch
    candidate: dict[str, Any]

    @property
    def ref(self) -> str:
        """``source/account`` (unique in the gallery)."""
        return f"{self.candidate['source']}/{self.candidate['account']}"

    @property
    def account_id(self) -> int:
        """The gallery account's database id."""
        return int(self.candidate["account_id"])


@dataclass(frozen=True)
class ReviewOutcome:
    """What a review decision did."""

    case_number: str
    account_ref: str
    verdict: Verdict
    reviewer: str
    candidate_decision: str
    score: float
    confirmations: list[str]  # reviewers whose confirmations now count for this account
    needed: int
    identified: bool
    state: CaseState


def ref_matches(text: str, account_id: int, source: str, external_id: str) -> bool:
    """Whether ``text`` names this account: ``source/id``, the account id, or ``#<db id>``."""
    text = text.strip()
    return text in {f"{source}/{external_id}", external_id, f"#{account_id}"}


def find_candidate(case: Case, text: str) -> CandidateRef:
    """The candidate ``text`` names, from the newest search that lists it.

    Raises :class:`InputError` when no search of the case lists the account (a reviewer confirms
    evidence, never an arbitrary account) or when the name is ambiguous across sources.
    """
    found: dict[str, CandidateRef] = {}
    for search in sorted(case.searches, key=lambda s: s.id):
        for candidate in search.candidates or []:
            if ref_matches(
                text, int(candidate["account_id"]), candidate["source"], candidate["account"]
            ):
                ref = CandidateRef(search, candidate)
                found[ref.ref] = ref  # later searches replace earlier ones
    if not found:
        raise InputError(
            f"{text!r} is not a candidate of any search of case {case.number}: a reviewer can "
            "only decide on candidates a search returned"
        )
    if len(found) > 1:
        raise InputError(f"{text!r} is ambiguous: say which of {', '.join(sorted(found))}")
    return next(iter(found.values()))


def counting_confirmations(case: Case, account_ref: str) -> list[str]:
    """Reviewers whose confirmations of ``account_ref`` count: those since its last rejection."""
    reviewers: list[str] = []
    for decision in sorted(case.decisions, key=lambda d: d.id):
        if decision.account_ref != account_ref:
            continue
        if decision.decision == Verdict.REJECT:
            reviewers = []
        elif decision.reviewer not in reviewers:
            reviewers.append(decision.reviewer)
    return reviewers


def needed_reviewers(policy: ReviewPolicy, candidate_decision: str) -> int:
    """How many different reviewers must confirm a candidate with this decision."""
    if policy.always_two_reviewers:
        return 2
    if policy.second_reviewer_below_match and candidate_decision != MATCH:
        return 2
    return 1


def confirmed_accounts(case: Case, policy: ReviewPolicy) -> list[str]:
    """Accounts whose confirmations currently satisfy the policy (the identification)."""
    out: list[str] = []
    last: dict[str, CaseDecision] = {}
    for decision in sorted(case.decisions, key=lambda d: d.id):
        last[decision.account_ref] = decision
    for ref, decision in last.items():
        if decision.decision != Verdict.CONFIRM:
            continue
        needed = needed_reviewers(policy, decision.candidate_decision or "")
        if len(counting_confirmations(case, ref)) >= needed:
            out.append(ref)
    return out


def _all_rejected(case: Case) -> bool:
    """Whether every candidate of the newest search has been rejected (last word: reject)."""
    if not case.searches:
        return False
    newest = max(case.searches, key=lambda s: s.id)
    last: dict[str, str] = {}
    for decision in sorted(case.decisions, key=lambda d: d.id):
        last[decision.account_ref] = decision.decision
    refs = [f"{c['source']}/{c['account']}" for c in newest.candidates or []]
    return bool(refs) and all(last.get(r) == Verdict.REJECT for r in refs)


def review(
    session: Session,
    policy: ReviewPolicy,
    actor: str | None,
    number: str,
    account: str,
    verdict: Verdict | str,
    *,
    reviewer: str | None = None,
    reason: str | None = None,
) -> ReviewOutcome:
    """Record one reviewer's confirmation or rejection of a candidate, and move the case on.

    ``reviewer`` (default: the acting user) must be an active user with the reviewer role; when
    both are given they must be the same person, so nobody records a decision in someone else's
    name. Raises :class:`PolicyViolation` when the review policy forbids the confirmation (the
    searcher confirming their own search, the same reviewer confirming twice) and
    :class:`CaseStateError` once a family was notified or the case is closed.
    """
    verdict = Verdict(verdict)
    name = reviewer or actor
    if not name:
        raise PermissionDenied("name the reviewer: --reviewer NAME (or --user NAME)")
    if actor and reviewer and actor != reviewer:
        raise PermissionDenied(
            f"acting as {actor!r} but recording a decision for {reviewer!r}: "
            "a reviewer records their own decisions"
        )
    user = require_role(session, name, Role.REVIEWER)
    case = get_case(session, number)
    state = CaseState(case.state)
    if state in (CaseState.NOTIFIED, CaseState.CLOSED, CaseState.UNIDENTIFIED, CaseState.OPEN):
        raise CaseStateError(
            f"case {number} is {state.value}: decisions are recorded on searched cases only"
            + (
                "; a family was already notified, record a correction in the case notes and "
                "contact them in person"
                if state is CaseState.NOTIFIED
                else ""
            )
        )
    target = find_candidate(case, account)
    cand = target.candidate
    decision_level = str(cand.get("decision", ""))
    score = float(cand.get("score", 0.0))
    needed = needed_reviewers(policy, decision_level)
    before = counting_confirmations(case, target.ref)
    if verdict is Verdict.CONFIRM:
        if policy.reviewer_differs_from_searcher and target.search.run_by == user.name:
            raise PolicyViolation(
                f"{user.name} ran search {target.search.id}: another reviewer must confirm its "
                "candidates (settings review.reviewer_differs_from_searcher)"
            )
        if user.name in before:
            raise PolicyViolation(
                f"{user.name} has already confirmed {target.ref}: "
                + (
                    "a second, different reviewer must confirm it"
                    if len(before) < needed
                    else "the identification is already confirmed"
                )
            )
    decision = CaseDecision(
        case_id=case.id,
        search_id=target.search.id,
        account_id=target.account_id,
        account_ref=target.ref,
        decision=verdict.value,
        reviewer=user.name,
        reason=reason,
        candidate_decision=decision_level,
        score=score,
    )
    session.add(decision)
    case.decisions.append(decision)
    session.flush()
    after = counting_confirmations(case, target.ref)
    audit.record(
        session,
        user.name,
        audit.Action.REVIEW_CONFIRM if verdict is Verdict.CONFIRM else audit.Action.REVIEW_REJECT,
        f"case:{number}",
        {
            "account": target.ref,
            "search": target.search.id,
            "score": score,
            "candidate_decision": decision_level,
            "meaning": cand.get("meaning"),
            "reason": reason,
            "confirmations": after,
            "needed": needed,
        },
        case=number,
    )
    confirmed = confirmed_accounts(case, policy)
    if confirmed:
        if case.identified_ref not in confirmed:
            case.identified_ref = confirmed[0]
            first = next(d for d in reversed(case.decisions) if d.account_ref == confirmed[0])
            case.identified_account_id = first.account_id
        new_state = CaseState.IDENTIFIED
    else:
        case.identified_ref = None
        case.identified_account_id = None
        new_state = CaseState.REJECTED if _all_rejected(case) else CaseState.UNDER_REVIEW
    if new_state != state:
        why = f"{verdict.value} {target.ref} by {user.name}"
        transition(session, case, new_state, user.name, why)
    session.flush()
    log.info("case %s: %s %s by %s", number, verdict.value, target.ref, user.name)
    return ReviewOutcome(
        case_number=number,
        account_ref=target.ref,
        verdict=verdict,
        reviewer=user.name,
        candidate_decision=decision_level,
        score=score,
        confirmations=after,
        needed=needed,
        identified=target.ref in confirmed,
        state=CaseState(case.state),
    )
