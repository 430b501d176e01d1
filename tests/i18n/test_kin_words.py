"""Kin's relation and kinship words in the reader's language, every word the engine can say."""

from __future__ import annotations

from nextofkin import i18n
from nextofkin.kin import cues
from nextofkin.kin.labels import EVIDENCE_WHY, KIN_WORDS, evidence_label, kin_label
from nextofkin.kin.scoring import _DECLARED_TYPES


def test_every_word_the_engine_can_say_has_a_label() -> None:
    said = set(cues.TERMS_FAMILY) | set(cues._INVERSE) | set(cues._INVERSE.values())
    said |= set(_DECLARED_TYPES) | {cues.FAMILY, cues.FRIEND, "unknown"}
    assert said <= set(KIN_WORDS), sorted(said - set(KIN_WORDS))


def test_kin_words_in_ukrainian() -> None:
    with i18n.use_language("uk"):
        assert kin_label("mother") == "мати"
        assert kin_label("friend") == "друг"
        for word in KIN_WORDS:
            assert kin_label(word) != KIN_WORDS[word], word
        assert kin_label("cousin-twice-removed") == "cousin-twice-removed"
    with i18n.use_language("en"):
        assert kin_label("in_law") == "in-law"


def test_why_a_photo_is_evidence_in_ukrainian() -> None:
    with i18n.use_language("uk"):
        for why in ("companion", "appears", "tag"):
            assert evidence_label(why) != EVIDENCE_WHY[why], why
