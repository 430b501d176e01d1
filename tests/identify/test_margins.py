"""How clearly a candidate stands out: its score minus the best other account's."""

from __future__ import annotations

from nextofkin.identify.search import margins


def test_top_is_measured_against_the_runner_up_and_others_against_the_top() -> None:
    assert margins({7: 5.0, 3: 2.0, 9: 1.5}) == [3.0, -3.0, -3.5]


def test_a_tie_at_the_top_has_no_margin() -> None:
    assert margins({1: 4.0, 2: 4.0}) == [0.0, 0.0]


def test_a_single_account_has_no_other_to_compare_with() -> None:
    assert margins({1: 4.0}) == [None]
    assert margins({}) == []
