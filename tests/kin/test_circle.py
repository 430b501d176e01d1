"""The family-circle cue and friendship words as counter-evidence, on the pure scoring path."""

from __future__ import annotations

from dataclasses import replace
from types import SimpleNamespace

import numpy as np
import pytest

from nextofkin.kin.circle import family_circle
from nextofkin.kin.faces import nearest_owners, nearest_owners_many
from nextofkin.kin.scoring import DEFAULT_WEIGHTS, FAMILY, FRIEND, PairEvidence, judge


def _joint(**kw: object) -> PairEvidence:
    e = PairEvidence(companion_images={1: 0.9}, listed_by_person=True, lists_person=True)
    for key, value in kw.items():
        setattr(e, key, value)
    return e


def test_family_circle_is_the_linked_family_other_than_the_candidate() -> None:
    together = {5: {1, 2, 3, 9}, 9: {5}}
    assert family_circle(together, 5, family={2, 3, 5, 7}) == {2, 3}
    assert family_circle(together, 8, family={2, 3}) == set()  # not in the graph at all


def test_circle_raises_the_score_and_names_the_family() -> None:
    alone = judge(_joint())
    linked = judge(_joint(family_circle=["Ганна Бойко", "Petro Boiko"]))
    assert linked.score > alone.score
    assert any("2 of the person's family (Ганна Бойко, Petro Boiko)" in r for r in linked.reasons)
    # It ranks; it does not by itself make the relation family.
    assert linked.relation == alone.relation == FRIEND


def test_circle_saturates_and_long_lists_are_cut() -> None:
    names = [f"n{i}" for i in range(6)]
    three = judge(_joint(family_circle=names[:3])).score
    six = judge(_joint(family_circle=names))
    assert six.score - three < three - judge(_joint()).score
    assert any("6 of the person's family (n0, n1, n2, …)" in r for r in six.reasons)


def test_friendship_words_speak_against_family_in_the_ranking() -> None:
    plain = judge(_joint())
    friendly = judge(_joint(friend_words=1.0))
    assert friendly.score < plain.score
    assert "friendship words in captions of joint photos" in friendly.reasons
    assert friendly.relation == FRIEND
    # A relative with kinship words and friendship words is still family.
    both = judge(_joint(friend_words=1.0, family_words=1.0, kin_terms={"mother": 1.0}))
    assert both.relation == FAMILY and both.kinship == "mother"


def test_score_stays_in_unit_interval_with_a_negative_weight() -> None:
    harsh = replace(DEFAULT_WEIGHTS, friend_words=-50.0)
    assert judge(_joint(friend_words=3.0), harsh).score == 0.0
    everything = _joint(
        companion_images=dict.fromkeys(range(20), 1.0), tags_person=20, family_words=20.0,
        surname=1.0, same_city=True, family_circle=["a"] * 20,
        dates=["2000-01-01", "2020-01-01"],
    )  # fmt: skip
    assert 0.0 < judge(everything).score <= 1.0


def test_nearest_owners_matches_a_plain_scan() -> None:
    rng = np.random.default_rng(7)
    for trial in range(30):
        n_owners = int(rng.integers(1, 200))
        # Few accounts with many owner faces each exercise the full-row fallback.
        accounts = rng.integers(0, max(1, n_owners // int(rng.integers(1, 40))), n_owners)
        owner_vectors = _unit(rng.normal(size=(n_owners, 8)))
        vectors = _unit(rng.normal(size=(40, 8)))
        links = SimpleNamespace(owner_accounts=accounts, owner_vectors=owner_vectors)
        exclude = int(accounts[0]) if trial % 2 else None
        got = nearest_owners(links, vectors, exclude=exclude)  # type: ignore[arg-type]
        sims = vectors @ owner_vectors.T
        if exclude is not None:
            sims[:, accounts == exclude] = -2.0
        for row, found in zip(sims, got, strict=True):
            col = int(row.argmax())
            others = row[accounts != accounts[col]]
            assert found is not None and found[0] == accounts[col]
            assert found[1] == pytest.approx(row[col])
            assert found[2] == pytest.approx(others.max() if others.size else -1.0)


def _unit(x: np.ndarray) -> np.ndarray:
    unit: np.ndarray = (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)
    return unit


def test_nearest_owners_many_matches_nearest_owners() -> None:
    rng = np.random.default_rng(11)
    for _ in range(20):
        n_owners = int(rng.integers(1, 200))
        accounts = rng.integers(0, max(1, n_owners // int(rng.integers(1, 40))), n_owners)
        links = SimpleNamespace(
            owner_accounts=accounts, owner_vectors=_unit(rng.normal(size=(n_owners, 8)))
        )
        vectors = _unit(rng.normal(size=(60, 8)))
        many = nearest_owners_many(links, vectors)  # type: ignore[arg-type]
        one = nearest_owners(links, vectors)  # type: ignore[arg-type]
        for a, b in zip(many, one, strict=True):
            assert a is not None and b is not None and a[0] == b[0]
            assert a[1:] == pytest.approx(b[1:], abs=1e-5)
