"""Human review: reviewers confirm or reject candidates, under the policy in settings.

A confirmation counts only when it comes from a user with the reviewer role. How many different
reviewers an identification needs depends on the candidate's calibrated decision: below ``match``
(``possible`` or ``no match``) it needs two when ``review.second_reviewer_below_match`` is set,
and always two with ``review.always_two_reviewers``. With ``review.reviewer_differs_from_searcher``
a user who ran any search of the case that listed a candidate cannot confirm that candidate
(a later search by someone else does not launder it). A rejection withdraws every earlier
confirmation of that account; confirming it again starts the count afresh.

A body has one identity. When confirmations satisfy the policy, an :class:`Identification` row is
written; the database allows one ``confirmed`` row per case. While it stands, no other account can
be confirmed: replacing it takes an explicit rejection first, which withdraws it (recorded and
audited). Every decision voids the case's unsent messages (a database trigger), and once a message
may have reached a family no decision is recorded at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import column, func, select, table
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.identification import CONFIRMED as CONFIRMED
from nextofkin.cases.identification import MATCH as MATCH
from nextofkin.cases.identification import WITHDRAWN as WITHDRAWN
from nextofkin.cases.identification import Verdict as Verdict
from nextofkin.cases.identification import check_corroboration as check_corroboration
from nextofkin.cases.identification import confirmed_link_of as confirmed_link_of
from nextofkin.cases.identification import current_identification as current_identification
from nextofkin.cases.identification import settle_identification
from nextofkin.cases.info import stored_candidates
from nextofkin.cases.records import Case, CaseDecision, CaseSearch, Identification
from nextofkin.cases.states import CaseState, get_case, state_label, transition
from nextofkin.errors import CaseStateError, InputError, PermissionDenied, PolicyViolation
from nextofkin.gallery.accounts import parse_account_ref
from nextofkin.i18n import _
from nextofkin.identify.results import Candidate
from nextofkin.settings import ReviewPolicy
from nextofkin.users.service import Role, require_role

log = logging.getLogger(__name__)

# The message the database's trigger raises when a message may already have reached a family.
_MESSAGE_COMMITTED = "may have reached a family"
# The outbox belongs to the notify layer above; review only counts the unsent rows that its
# decision voids (for the audit entry), so it names the two columns it reads instead of importing.
_OUTBOX = table("outbox", column("case_id"), column("state"))
_UNSENT = ("draft", "approved", "failed")


@dataclass(frozen=True)
class CandidateRef:
    """A candidate of one of the case's searches, found from what a reviewer typed."""

    search: CaseSearch
    candidate: Candidate

    @property
    def ref(self) -> str:
        """``source/account`` (unique in the gallery)."""
        return self.candidate.ref

    @property
    def account_id(self) -> int:
        """The gallery account's database id."""
        return self.candidate.account_id


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


def find_candidate(case: Case, text: str) -> CandidateRef:
    """The candidate ``text`` names, from the newest search that lists it.

    Raises :class:`InputError` when no search of the case lists the account (a reviewer confirms
    evidence, never an arbitrary account) or when the name is ambiguous across sources.
    """
    # The one account grammar, matched against what the searches returned rather than the
    # gallery: a reviewer decides on a candidate, never on an arbitrary account.
    wanted = parse_account_ref(text)
    found: dict[str, CandidateRef] = {}
    for search in sorted(case.searches, key=lambda s: s.id):
        for candidate in stored_candidates(search):
            # A stored candidate names its source, not its platform.
            if wanted.matches(candidate.account_id, candidate.source, candidate.account, None):
                ref = CandidateRef(search, candidate)
                found[ref.ref] = ref  # later searches replace earlier ones
    if not found:
        raise InputError(
            _(
                "%(text)r is not a candidate of any search of case %(number)s: a reviewer can "
                "only decide on candidates a search returned",
                text=text,
                number=case.number,
            )
        )
    if len(found) > 1:
        raise InputError(
            _(
                "%(text)r is ambiguous: say which of %(refs)s",
                text=text,
                refs=", ".join(sorted(found)),
            )
        )
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


def searchers_of(case: Case, account_ref: str) -> set[str]:
    """Users who ran a search of the case that listed ``account_ref``."""
    return {
        search.run_by
        for search in case.searches
        for c in stored_candidates(search)
        if c.ref == account_ref
    }


def _unsent_messages(session: Session, case: Case) -> int:
    return int(
        session.scalar(
            select(func.count())
            .select_from(_OUTBOX)
            .where(_OUTBOX.c.case_id == case.id, _OUTBOX.c.state.in_(_UNSENT))
        )
        or 0
    )


def _lock(session: Session, case: Case) -> None:
    """Serialise decisions and send claims on one case (row lock on PostgreSQL).

    SQLite serialises writers already: a transaction that read before another one's commit
    cannot write after it (it fails busy), so no decision and claim can interleave there.
    """
    session.execute(select(Case.id).where(Case.id == case.id).with_for_update())


def _all_rejected(case: Case) -> bool:
    """Whether every candidate of the newest search has been rejected (last word: reject)."""
    if not case.searches:
        return False
    newest = max(case.searches, key=lambda s: s.id)
    last: dict[str, str] = {}
    for decision in sorted(case.decisions, key=lambda d: d.id):
        last[decision.account_ref] = decision.decision
    refs = [c.ref for c in stored_candidates(newest)]
    return bool(refs) and all(last.get(r) == Verdict.REJECT for r in refs)


def _reviewer_name(actor: str | None, reviewer: str | None) -> str:
    """The reviewer recording the decision: themselves, never someone else in their name."""
    name = reviewer or actor
    if not name:
        raise PermissionDenied(_("name the reviewer: --reviewer NAME (or --user NAME)"))
    if actor and reviewer and actor != reviewer:
        raise PermissionDenied(
            _(
                "acting as %(actor)r but recording a decision for %(reviewer)r: "
                "a reviewer records their own decisions",
                actor=actor,
                reviewer=reviewer,
            )
        )
    return name


def _check_reviewable(number: str, state: CaseState) -> None:
    """Decisions are recorded on searched cases only; say why otherwise."""
    if state in (CaseState.NOTIFIED, CaseState.CLOSED, CaseState.UNIDENTIFIED, CaseState.OPEN):
        said = _(
            "case %(number)s is %(state)s: decisions are recorded on searched cases only",
            number=number,
            state=state_label(state),
        )
        if state is CaseState.NOTIFIED:
            said += _(
                "; a family was already notified, record a correction in the case notes and "
                "contact them in person"
            )
        raise CaseStateError(said)


def _check_confirmation(
    policy: ReviewPolicy,
    case: Case,
    user_name: str,
    ref: str,
    current: Identification | None,
    before: list[str],
    needed: int,
) -> None:
    """Refuse a confirmation the review policy or the one-identity rule forbids."""
    if policy.reviewer_differs_from_searcher and user_name in searchers_of(case, ref):
        raise PolicyViolation(
            _(
                "%(user)s ran a search of case %(number)s that listed %(account)s: another "
                "reviewer must confirm it (settings review.reviewer_differs_from_searcher)",
                user=user_name,
                number=case.number,
                account=ref,
            )
        )
    if current is not None and current.account_ref != ref:
        raise PolicyViolation(
            _(
                "case %(number)s is identified as %(account)s: a body has one identity. "
                "Reject %(account)s first (recorded and audited), then confirm another",
                number=case.number,
                account=current.account_ref,
            )
        )
    if user_name in before:
        raise PolicyViolation(
            _(
                "%(user)s has already confirmed %(account)s: a second, different reviewer "
                "must confirm it",
                user=user_name,
                account=ref,
            )
            if len(before) < needed
            else _(
                "%(user)s has already confirmed %(account)s: the identification is already "
                "confirmed",
                user=user_name,
                account=ref,
            )
        )


def _move_case(
    session: Session,
    case: Case,
    current: Identification | None,
    state: CaseState,
    actor: str,
    why: str,
) -> None:
    """The case's identified account and state after a decision."""
    if current is not None:
        case.identified_ref = current.account_ref
        case.identified_account_id = current.account_id
        new_state = CaseState.IDENTIFIED
    else:
        case.identified_ref = None
        case.identified_account_id = None
        new_state = CaseState.REJECTED if _all_rejected(case) else CaseState.UNDER_REVIEW
    if new_state != state:
        transition(session, case, new_state, actor, why)


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
    corroborates: int | None = None,
) -> ReviewOutcome:
    """Record one reviewer's confirmation or rejection of a candidate, and move the case on.

    ``reviewer`` (default: the acting user) must be an active user with the reviewer role; when
    both are given they must be the same person, so nobody records a decision in someone else's
    name. Raises :class:`PolicyViolation` when the review policy forbids the confirmation (the
    searcher confirming their own search, the same reviewer confirming twice) and
    :class:`CaseStateError` once a family was notified or the case is closed. While an inquiry
    link of the case is confirmed, a confirmation must name it in ``corroborates`` (the reviewer
    states the link's missing person IS this account); see :func:`check_corroboration`.
    """
    verdict = Verdict(verdict)
    user = require_role(session, _reviewer_name(actor, reviewer), Role.REVIEWER)
    case = get_case(session, number)
    state = CaseState(case.state)
    _check_reviewable(number, state)
    target = find_candidate(case, account)
    needed = needed_reviewers(policy, target.candidate.decision)
    before = counting_confirmations(case, target.ref)
    _lock(session, case)
    current = current_identification(session, case)
    check_corroboration(session, case, verdict, target.ref, corroborates)
    if verdict is Verdict.CONFIRM:
        _check_confirmation(policy, case, user.name, target.ref, current, before, needed)
    voided = _unsent_messages(session, case)
    decision = _add_decision(session, case, target, verdict, user.name, reason, corroborates)
    after = counting_confirmations(case, target.ref)
    _audit_decision(session, case, target, decision, after, needed, voided)
    current = settle_identification(session, case, current, decision, after, needed)
    _move_case(
        session, case, current, state, user.name, f"{verdict.value} {target.ref} by {user.name}"
    )
    session.flush()
    log.info("case %s: %s %s by %s", number, verdict.value, target.ref, user.name)
    return ReviewOutcome(
        case_number=number,
        account_ref=target.ref,
        verdict=verdict,
        reviewer=user.name,
        candidate_decision=target.candidate.decision,
        score=target.candidate.score,
        confirmations=after,
        needed=needed,
        identified=current is not None and current.account_ref == target.ref,
        state=CaseState(case.state),
    )


def _add_decision(
    session: Session,
    case: Case,
    target: CandidateRef,
    verdict: Verdict,
    reviewer: str,
    reason: str | None,
    corroborates: int | None,
) -> CaseDecision:
    """Write the decision row; refused (by a database trigger) once a message may have reached
    the family."""
    decision = CaseDecision(
        case_id=case.id,
        search_id=target.search.id,
        account_id=target.account_id,
        account_ref=target.ref,
        decision=verdict.value,
        reviewer=reviewer,
        reason=reason,
        candidate_decision=target.candidate.decision,
        score=target.candidate.score,
        corroborates_link_id=corroborates,
    )
    number = case.number  # read now: after a failed flush the session cannot load attributes
    session.add(decision)
    case.decisions.append(decision)
    try:
        session.flush()
    except DBAPIError as exc:
        if _MESSAGE_COMMITTED in str(exc.orig):
            raise CaseStateError(
                _(
                    "a message of case %(number)s is being sent, was sent or may have been "
                    "sent: no further decision; record a correction in the case notes and "
                    "contact the family in person",
                    number=number,
                )
            ) from exc
        raise
    return decision


def _audit_decision(
    session: Session,
    case: Case,
    target: CandidateRef,
    decision: CaseDecision,
    confirmations: list[str],
    needed: int,
    voided: int,
) -> None:
    confirm = decision.decision == Verdict.CONFIRM
    audit.record(
        session,
        decision.reviewer,
        audit.Action.REVIEW_CONFIRM if confirm else audit.Action.REVIEW_REJECT,
        f"case:{case.number}",
        {
            "account": target.ref,
            "search": target.search.id,
            "score": target.candidate.score,
            "candidate_decision": target.candidate.decision,
            "meaning": target.candidate.meaning,
            "reason": decision.reason,
            "confirmations": confirmations,
            "needed": needed,
            "unsent_messages_voided": voided,
            "corroborates_link": decision.corroborates_link_id,
        },
        case=case.number,
    )
