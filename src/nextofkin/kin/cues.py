"""Caption cues: kinship and friendship words in Russian, Ukrainian and English, inflected.

People write "с мамой", "з братом", "мой сынок", "my son", "me and hubby": the kinship word is
inflected (case, diminutive), so the lexicon is a small set of stems and explicit forms, matched
as whole words. Figurative uses ("братан", "bro", "сестра по духу") and in-law words are matched
first and mask what they cover, so "mother-in-law" never counts as "mother".

A cue says what the *companion* is to the *poster*: "з мамою" posted by A means the person with
A is A's mother. :func:`inverse` turns it around when the poster is the other person.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

FAMILY = "family"
FRIEND = "friend"

# What a companion is to the poster. Generic terms are used where a word does not say more.
TERMS_FAMILY = (
    "mother", "father", "parent", "son", "daughter", "child", "brother", "sister", "sibling",
    "husband", "wife", "spouse", "grandparent", "grandchild", "in_law", "family",
)  # fmt: skip

_INVERSE = {
    "mother": "child", "father": "child", "parent": "child",
    "son": "parent", "daughter": "parent", "child": "parent",
    "brother": "sibling", "sister": "sibling", "sibling": "sibling",
    "husband": "spouse", "wife": "spouse", "spouse": "spouse",
    "grandparent": "grandchild", "grandchild": "grandparent",
    "in_law": "in_law", "family": "family", "friend": "friend", "figurative": "figurative",
}  # fmt: skip

W = r"[\w’'ʼ-]*"  # the rest of an inflected word

# (term, pattern). Patterns are matched case-insensitively as whole words, in this order; a
# match masks its span for the patterns after it.
_PATTERNS: tuple[tuple[str, str], ...] = (
    # Figurative kinship between friends, and in-laws, before the plain words they contain.
    ("figurative", r"братан\w*|братв\w*|брат(?:а|и)? за брата|bro\b|bros\b|sis from \w+"
                   r"|brothers? from another \w+|(?:брат|сестр)\w* по духу|не по крови"),
    ("in_law", r"свекров\w*|свекрух\w*|свёкр\w*|свекр\w*|тёщ\w*|тещ\w*|тест(?:ь|я|ю|ем|і)\b"
               r"|зят\w*|невестк\w*|невістк\w*|in-laws?\b|\w+-in-law\b"),
    ("grandparent", r"бабушк\w*|бабул\w*|бабус\w*|бабц\w*|дедушк\w*|дедул\w*|дед(?:ом|а|у)?\b"
                    r"|дідус\w*|дід(?:ом|а|у)?\b|grand(?:ma|pa|mother|father|parents?)\w*"
                    r"|granny|nana\b"),
    ("grandchild", r"внук\w*|внучк\w*|внучен\w*|внучок|онук\w*|онуч\w*|grand(?:son|daughter"
                   r"|kids?|child|children)\w*"),
    ("family", r"семь[яиеюё]\w*|семейн\w*|родител\w*|родин\w*|сім['’ʼ]?\w*|сімей\w*"
               r"|батьк(?:и|ами|ів|ам|ах)\b|family\b|parents\b|folks\b"),
    ("mother", r"мам\w*|матус\w*|мати\b|матір\w*|матер(?:и|ью|і)\b|мать\b|матуся"
               r"|mom\w*|mum\w*|mother\w*|mommy|mama\b"),
    ("father", r"пап\w*|отц\w*|отец|бат(?:я|ей|е|ю)\b|тат(?:о|ом|у|ові|ко|ка|усь)\b"
               r"|батьк(?:о|ом|а|ові|у)\b|dad\w*|father\w*|papa\b"),
    ("son", r"сын\w*|син(?:а|у|ом|ові|і|ок|очок|очка|очком|очку|ку)?\b|son\b|sons\b|sonny"),
    ("daughter", r"доч\w*|дочер\w*|дочк\w*|доченьк\w*|доньк\w*|донечк\w*|донь\w*"
                 r"|daughter\w*"),
    ("brother", r"брат\w*|brother\w*"),
    ("sister", r"сестр\w*|сестрён\w*|сестрен\w*|сестрич\w*|sister\w*|sis\b"),
    ("husband", r"муж(?:а|у|ем|ем|ья)?\b|мужен\w*|чоловік\w*|чоловіч\w*|husband\w*|hubby"),
    ("wife", r"жен(?:а|ы|е|у|ой|ушк\w*)\b|жён\w*|супруг(?:а|и|е|у|ой)\b|дружин\w*|жінк\w*"
             r"|дружинонька|wife\b|wifey|the missus"),
    ("spouse", r"супруг(?:ом|а)?\b|spouse"),
    ("friend", r"друз\w*|друг(?:а|у|ом|е)?\b|подруг\w*|подруж\w*|однокласс\w*|одноклас\w*"
               r"|коллег\w*|колег\w*|friend\w*|bestie|bff\b|buddy|buddies|pals?\b"
               r"|classmates?|colleagues?|teammates?"),
)  # fmt: skip

_COMPILED = tuple(
    (term, re.compile(rf"(?<![\w’'ʼ])(?:{pattern})", re.IGNORECASE | re.UNICODE))
    for term, pattern in _PATTERNS
)


@dataclass(frozen=True)
class CaptionCue:
    """One kinship or friendship word found in a caption."""

    term: str  # what the companion is to the poster ("mother", "friend", "figurative", …)
    kind: str  # "family" or "friend"
    text: str  # the words as written

    @property
    def specific(self) -> bool:
        """Whether the word names a relation (not just "family")."""
        return self.term not in ("family", "friend", "figurative")


def caption_cues(caption: str | None) -> list[CaptionCue]:
    """Every kinship/friendship cue in ``caption``, in the order of the lexicon."""
    if not caption:
        return []
    text = caption
    cues: list[CaptionCue] = []
    for term, pattern in _COMPILED:
        for match in pattern.finditer(text):
            kind = FAMILY if term in TERMS_FAMILY else FRIEND
            cues.append(CaptionCue(term, kind, match.group(0)))
        # Mask what matched so later, shorter patterns cannot match inside it.
        text = pattern.sub(lambda m: " " * len(m.group(0)), text)
    return cues


def inverse(term: str) -> str:
    """What the poster is to the companion, given what the companion is to the poster."""
    return _INVERSE.get(term, term)
