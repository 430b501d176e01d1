"""Declared links: the type of a declared relative, the face a positioned tag points at, and how
both weigh in the judgement."""

from __future__ import annotations

from nextofkin.gallery.tags import Tag, parse_tag
from nextofkin.kin.declared import FaceBox, face_under, kinship_of
from nextofkin.kin.scoring import PERSON, RELATIVE, Declaration, PairEvidence, judge

# Three faces side by side in a 900x600 picture.
FACES = [
    FaceBox(1, 100, 100, 200, 220),
    FaceBox(2, 400, 120, 500, 240),
    FaceBox(3, 560, 110, 660, 230),
]


def test_declared_type_is_what_the_relative_is_to_the_person() -> None:
    assert kinship_of("child", declared_by_person=True) == "child"
    # The relative's profile lists the person as its child: the relative is the person's parent.
    assert kinship_of("child", declared_by_person=False) == "parent"
    assert kinship_of("grandparent", declared_by_person=False) == "grandchild"
    assert kinship_of("partner", declared_by_person=True) == "spouse"
    assert kinship_of("sibling", declared_by_person=False) == "sibling"
    assert kinship_of("relative", declared_by_person=True) == "family"


def test_point_on_a_face_is_that_face() -> None:
    assert face_under(Tag("a", point=(450 / 900, 180 / 600)), FACES, 900, 600) == 2


def test_point_on_the_body_below_a_face_is_that_face() -> None:
    # Tapped on the chest, below face 2 and nearer it than face 3.
    assert face_under(Tag("a", point=(470 / 900, 420 / 600)), FACES, 900, 600) == 2
    assert face_under(Tag("a", point=(600 / 900, 400 / 600)), FACES, 900, 600) == 3


def test_point_far_from_every_face_is_no_face() -> None:
    assert face_under(Tag("a", point=(0.95, 0.05)), FACES, 900, 600) is None
    assert face_under(Tag("a", point=(300 / 900, 500 / 600)), FACES, 900, 600) is None


def test_box_is_the_face_it_covers_nearer_its_middle() -> None:
    # A loose head-and-shoulders box around face 2 that also covers most of face 3.
    assert face_under(Tag("a", box=(380, 90, 650, 500)), FACES, 900, 600) == 2
    assert face_under(Tag("a", box=(540, 90, 700, 500)), FACES, 900, 600) == 3
    assert face_under(Tag("a", box=(700, 300, 800, 400)), FACES, 900, 600) is None


def test_frame_is_a_box_in_fractions_and_a_box_on_no_face_is_read_at_its_centre() -> None:
    # VK's rectangle in fractions of the picture: the same loose box as above, around face 2.
    frame = (380 / 900, 90 / 600, 650 / 900, 500 / 600)
    assert face_under(Tag("a", frame=frame), FACES, 900, 600) == 2
    assert face_under(Tag("a", frame=frame), FACES, 0, 0) is None  # size unknown: no pixels
    # A small rectangle drawn on the chest below face 2 covers no face: its centre is a point
    # on the body, which belongs to the face above it.
    assert face_under(Tag("a", frame=(440 / 900, 400 / 600, 500 / 900, 440 / 600)), FACES, 900,
                      600) == 2  # fmt: skip
    assert face_under(Tag("a", box=(440, 400, 500, 440)), FACES, 900, 600) == 2


def test_frame_round_trips_and_bad_frames_are_plain_tags() -> None:
    tag = Tag("a", frame=(0.1, 0.2, 0.3, 0.6))
    assert tag.positioned and parse_tag(tag.to_json()) == tag
    assert parse_tag({"account": "a", "frame": [0.1, 0.2, 1.3, 0.6]}) == Tag("a")  # past the edge
    assert parse_tag({"account": "a", "frame": [0.3, 0.2, 0.1, 0.6]}) == Tag("a")  # inverted
    assert not Tag("a").positioned


def test_tag_without_position_points_at_no_face() -> None:
    assert face_under(Tag("a"), FACES, 900, 600) is None


def test_declared_relative_is_family_with_its_type_and_a_reason() -> None:
    e = PairEvidence(declared=[Declaration(RELATIVE, "child", "parent")])
    verdict = judge(e)
    assert verdict.relation == "family"
    assert verdict.kinship == "parent"
    assert any("declares the person as their child" in r for r in verdict.reasons)


def test_declared_type_outweighs_a_caption_word() -> None:
    e = PairEvidence(
        companion_images={1: 0.9},
        kin_terms={"sibling": 1.0},
        family_words=1.0,
        declared=[Declaration(PERSON, "partner", "spouse")],
    )
    assert judge(e).kinship == "spouse"


def test_declared_relative_outranks_a_friend_with_a_joint_photo() -> None:
    friend = PairEvidence(companion_images={1: 0.95}, listed_by_person=True, lists_person=True)
    relative = PairEvidence(
        listed_by_person=True, declared=[Declaration(PERSON, "parent", "parent")]
    )
    assert judge(relative).score > judge(friend).score
    both = PairEvidence(
        declared=[Declaration(PERSON, "parent", "parent"), Declaration(RELATIVE, "child", "parent")]
    )
    one = PairEvidence(declared=[Declaration(PERSON, "parent", "parent")])
    assert judge(both).score > judge(one).score


def test_pinned_tag_is_a_reason() -> None:
    e = PairEvidence(companion_images={7: 0.95}, tags_by_person=1, pinned_images={7})
    assert any("a tag points at their face in 1 joint photo" in r for r in judge(e).reasons)


def test_caption_word_that_says_more_than_the_declared_type_is_kept() -> None:
    e = PairEvidence(
        kin_terms={"son": 1.0},
        family_words=1.0,
        declared=[Declaration(RELATIVE, "parent", "child")],
    )
    assert judge(e).kinship == "son"
