"""The score and the suggested relation respond to evidence the way the docs say."""

from __future__ import annotations

import itertools

from nextofkin.kin.scoring import FAMILY, FRIEND, UNKNOWN, PairEvidence, judge


def test_more_joint_photos_score_higher_with_diminishing_returns() -> None:
    scores = []
    for n in range(5):
        e = PairEvidence(companion_images=dict.fromkeys(range(n), 1.0))
        scores.append(judge(e).score)
    gains = [b - a for a, b in itertools.pairwise(scores)]
    assert all(g > 0 for g in gains)
    assert gains[0] > gains[-1]


def test_kinship_words_make_family_and_outrank_a_friend() -> None:
    friend = PairEvidence(companion_images={1: 1.0, 2: 1.0}, friend_words=1.0)
    mother = PairEvidence(companion_images={3: 1.0}, family_words=1.0, kin_terms={"mother": 1.0})
    f, m = judge(friend), judge(mother)
    assert f.relation == FRIEND
    assert m.relation == FAMILY and m.kinship == "mother"
    assert m.score > f.score
    assert any("kinship" in r for r in m.reasons)


def test_shared_surname_needs_a_link_to_mean_family() -> None:
    alone = judge(PairEvidence(surname=1.0, surname_stem="ivanov"))
    linked = judge(PairEvidence(surname=1.0, surname_stem="ivanov", appears_images={5: 0.9}))
    assert alone.relation == UNKNOWN
    assert linked.relation == FAMILY


def test_one_way_friend_list_entry_is_weak() -> None:
    one_way = judge(PairEvidence(listed_by_person=True))
    mutual = judge(PairEvidence(listed_by_person=True, lists_person=True))
    assert one_way.relation == UNKNOWN
    assert mutual.relation == FRIEND
    assert mutual.score > one_way.score


def test_photos_over_many_years_add_to_the_score() -> None:
    short = PairEvidence(companion_images={1: 1.0, 2: 1.0}, dates=["2020-01-01", "2020-03-01"])
    long = PairEvidence(companion_images={1: 1.0, 2: 1.0}, dates=["2012-01-01", "2022-03-01"])
    assert judge(long).score > judge(short).score
    assert 0.0 <= judge(long).score <= 1.0
