"""Review policy: who may confirm, how many reviewers, and what a rejection does."""

from __future__ import annotations

from pathlib import Path

import pytest

from cases.casework import add_team, candidate, photo, result
from nextofkin.cases.review import Verdict, review
from nextofkin.cases.service import CaseState, attach_search, open_case, view_case
from nextofkin.errors import CaseStateError, InputError, PermissionDenied, PolicyViolation
from nextofkin.settings import ReviewPolicy
from nextofkin.users.service import add_user
from nextofkin.workspace import Workspace

POLICY = ReviewPolicy()


@pytest.fixture
def ws(workspace: Workspace, tmp_path: Path) -> Workspace:
    p = photo(tmp_path / "body.jpg")
    with workspace.session() as s:
        add_team(s)
        open_case(s, workspace, "ivan", "C1", [p])
        attach_search(
            s,
            workspace,
            "ivan",
            "C1",
            result(
                [p],
                [
                    candidate(11, "olena", 0.93, "match"),
                    candidate(12, "petro", 0.74, "possible"),
                    candidate(13, "olena", 0.70, "possible", source="ok"),
                ],
            ),
        )
    return workspace


def state_of(ws: Workspace) -> CaseState:
    with ws.session() as s:
        return view_case(s, "ivan", "C1").state


def test_match_needs_one_reviewer(ws: Workspace) -> None:
    with ws.session() as s:
        out = review(s, POLICY, None, "C1", "vk/olena", Verdict.CONFIRM, reviewer="rita")
    assert out.identified and out.needed == 1 and out.state is CaseState.IDENTIFIED
    with ws.session() as s:
        assert view_case(s, "ivan", "C1").identified_ref == "vk/olena"


def test_below_match_needs_a_second_different_reviewer(ws: Workspace) -> None:
    with ws.session() as s:
        first = review(s, POLICY, "rita", "C1", "petro", "confirm", reason="scar on chin")
    assert not first.identified and first.needed == 2 and first.state is CaseState.UNDER_REVIEW
    with ws.session() as s, pytest.raises(PolicyViolation, match="second, different reviewer"):
        review(s, POLICY, "rita", "C1", "petro", "confirm")
    with ws.session() as s:
        second = review(s, POLICY, "rob", "C1", "petro", "confirm")
    assert second.identified and second.confirmations == ["rita", "rob"]
    assert state_of(ws) is CaseState.IDENTIFIED


def test_policy_switches(ws: Workspace) -> None:
    lenient = ReviewPolicy(second_reviewer_below_match=False)
    with ws.session() as s:
        assert review(s, lenient, "rita", "C1", "petro", "confirm").identified
    strict = ReviewPolicy(always_two_reviewers=True)
    with ws.session() as s:
        review(s, strict, "rita", "C1", "petro", "reject", reason="withdrawn")
    with ws.session() as s:
        out = review(s, strict, "rob", "C1", "vk/olena", "confirm")
    assert not out.identified and out.needed == 2


def test_searcher_may_not_confirm_own_search(ws: Workspace, tmp_path: Path) -> None:
    with ws.session() as s:
        add_user(s, "ada", "rhea", "reviewer")
        attach_search(s, ws, "rhea", "C1", result([], [candidate(11, "olena", 0.93, "match")]))
    with ws.session() as s, pytest.raises(PolicyViolation, match="ran a search"):
        review(s, POLICY, "rhea", "C1", "vk/olena", "confirm")
    allowed = ReviewPolicy(reviewer_differs_from_searcher=False)
    with ws.session() as s:
        assert review(s, allowed, "rhea", "C1", "vk/olena", "confirm").identified


def test_reviewer_role_and_identity_are_checked(ws: Workspace) -> None:
    with ws.session() as s:
        for name in ("ivan", "ada", "nobody"):
            with pytest.raises(PermissionDenied):
                review(s, POLICY, None, "C1", "vk/olena", "confirm", reviewer=name)
        with pytest.raises(PermissionDenied, match="recording a decision"):
            review(s, POLICY, "rob", "C1", "vk/olena", "confirm", reviewer="rita")


def test_only_candidates_and_unambiguous_names(ws: Workspace) -> None:
    with ws.session() as s:
        with pytest.raises(InputError, match="not a candidate"):
            review(s, POLICY, "rita", "C1", "vk/stranger", "confirm")
        with pytest.raises(InputError, match="ambiguous"):
            review(s, POLICY, "rita", "C1", "olena", "confirm")


def test_rejections(ws: Workspace) -> None:
    with ws.session() as s:
        review(s, POLICY, "rita", "C1", "vk/olena", "confirm")
    assert state_of(ws) is CaseState.IDENTIFIED
    # A rejection withdraws the identification before anyone was told.
    with ws.session() as s:
        out = review(s, POLICY, "rob", "C1", "vk/olena", "reject", reason="different ear shape")
    assert out.state is CaseState.UNDER_REVIEW
    with ws.session() as s:
        assert view_case(s, "ivan", "C1").identified_ref is None
        review(s, POLICY, "rob", "C1", "petro", "reject")
        out = review(s, POLICY, "rob", "C1", "ok/olena", "reject")
    assert out.state is CaseState.REJECTED
    # Confirming again after a rejection starts the count afresh.
    with ws.session() as s:
        again = review(s, POLICY, "rita", "C1", "vk/olena", "confirm")
    assert again.confirmations == ["rita"] and again.identified


def test_no_decisions_after_close(ws: Workspace) -> None:
    from nextofkin.cases.service import close_case

    with ws.session() as s:
        close_case(s, "rita", "C1", unidentified=True)
    with ws.session() as s, pytest.raises(CaseStateError):
        review(s, POLICY, "rita", "C1", "vk/olena", "confirm")
