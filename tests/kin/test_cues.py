"""Caption cues: inflected kinship words in ru/uk/en, and the words that must not count."""

from __future__ import annotations

import pytest

from nextofkin.kin.cues import caption_cues, inverse


def terms(caption: str) -> list[str]:
    return [c.term for c in caption_cues(caption)]


@pytest.mark.parametrize(
    ("caption", "term"),
    [
        ("С мамой на даче", "mother"),
        ("З мамою", "mother"),
        ("Мамо, з днем народження!", "mother"),
        ("Me and mom", "mother"),
        ("З татом", "father"),
        ("Папа и я на рыбалке", "father"),
        ("С сыном", "son"),
        ("Синочок виріс", "son"),
        ("my son", "son"),
        ("З донькою", "daughter"),
        ("С дочерью на выпускном", "daughter"),
        ("з братом", "brother"),
        ("С братишкой", "brother"),
        ("З сестрою на відпочинку", "sister"),
        ("С мужем", "husband"),
        ("З чоловіком", "husband"),
        ("З коханою дружиною", "wife"),
        ("С женой", "wife"),
        ("З бабусею", "grandparent"),
        ("С внучкой", "grandchild"),
        ("Зі свекрухою", "in_law"),
        ("С родителями", "family"),
        ("Уся родина разом", "family"),
        ("З подругою", "friend"),
        ("Me and my bestie", "friend"),
    ],
)
def test_inflected_kinship_words(caption: str, term: str) -> None:
    assert term in terms(caption)


@pytest.mark.parametrize(
    "caption",
    ["синее море", "другой день", "Отпуск", "Summer!", "", "sonnet reading"],
)
def test_words_that_are_not_kinship(caption: str) -> None:
    assert terms(caption) == []


def test_in_law_and_figurative_words_mask_the_plain_ones() -> None:
    assert terms("me and my mother-in-law") == ["in_law"]
    assert terms("Брат за брата") == ["figurative"]
    assert terms("Братан!") == ["figurative"]
    assert "brother" not in terms("brothers from another mother")
    assert "mother" not in terms("brothers from another mother")


def test_inverse_turns_the_relation_around() -> None:
    assert inverse("mother") == "child"
    assert inverse("son") == "parent"
    assert inverse("sister") == "sibling"
    assert inverse("wife") == "spouse"
    assert inverse("grandchild") == "grandparent"
