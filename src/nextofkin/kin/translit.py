"""Cyrillic to Latin transliteration, and a spelling-insensitive key for comparing names.

Names in a gallery export come in Cyrillic (Ukrainian or Russian spelling) and in several Latin
transliterations (Ukraine's official 2010 system, BGN-style Russian, informal spellings such as
"Kharkov"/"Kharkiv", "Yulia"/"Iuliia"). :func:`transliterate` produces one of those spellings;
:func:`skeleton` collapses all of them to one comparison key, so matching never depends on which
system a person or a platform used.
"""

from __future__ import annotations

import re
import unicodedata
from typing import Literal

Scheme = Literal["uk", "ru", "loose"]

_COMMON = {
    "а": "a", "б": "b", "в": "v", "д": "d", "ж": "zh", "з": "z", "к": "k", "л": "l", "м": "m",
    "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u", "ф": "f", "х": "kh",
    "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ъ": "", "'": "", "’": "", "ʼ": "",
}  # fmt: skip

# Ukrainian national system (2010): initial forms of є, ї, й, ю, я differ from medial ones.
_UK = _COMMON | {
    "г": "h", "ґ": "g", "е": "e", "є": "ie", "и": "y", "і": "i", "ї": "i", "й": "i", "ю": "iu",
    "я": "ia", "ё": "io", "ы": "y", "э": "e",
}  # fmt: skip
_UK_INITIAL = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}

# A BGN/PCGN-like Russian system.
_RU = _COMMON | {
    "г": "g", "ґ": "g", "е": "e", "ё": "e", "и": "i", "й": "y", "ы": "y", "э": "e", "ю": "yu",
    "я": "ya", "є": "ye", "і": "i", "ї": "yi",
}  # fmt: skip
_RU_INITIAL = {"е": "ye"}

# What people type without a system: h for х, i for й, ia/iu, no "ye".
_LOOSE = _RU | {"х": "h", "й": "i", "ю": "iu", "я": "ia", "ц": "c"}

_TABLES: dict[str, tuple[dict[str, str], dict[str, str]]] = {
    "uk": (_UK, _UK_INITIAL),
    "ru": (_RU, _RU_INITIAL),
    "loose": (_LOOSE, {}),
}


def transliterate(text: str, scheme: Scheme = "uk") -> str:
    """``text`` with Cyrillic letters written in Latin by ``scheme``; other characters kept.

    Capitalisation follows the source letter (a capital Ш becomes "Sh"). Word-initial forms of
    iotated vowels follow the scheme (Ukrainian "Юлія" -> "Yuliia").
    """
    table, initial = _TABLES[scheme]
    out: list[str] = []
    prev_letter = False
    for char in text:
        low = char.lower()
        if low in table:
            latin = initial.get(low, table[low]) if not prev_letter else table[low]
            if char != low and latin:
                latin = latin[0].upper() + latin[1:]
            out.append(latin)
            prev_letter = True
        else:
            out.append(char)
            prev_letter = char.isalpha()
    return "".join(out)


# Order matters: longer digraphs first.
_SKELETON_RULES = (
    ("shch", "sc"), ("sch", "sc"), ("kh", "h"), ("zh", "z"), ("ch", "c"), ("sh", "s"),
    ("ts", "c"), ("tz", "c"), ("w", "v"), ("x", "ks"), ("q", "k"), ("y", "i"), ("j", "i"),
    ("g", "h"),
)  # fmt: skip
# An i/y/j glide before a vowel is spelled or not depending on the system (Yulia/Iuliia/Julia).
_GLIDE = re.compile(r"i+(?=[aeou])")


def skeleton(text: str) -> str:
    """A spelling-insensitive key: Latin letters only, transliteration variants collapsed.

    "Шевченко", "Shevchenko" and "Sevcenko" share one key, as do "Юлія", "Yulia" and "Iuliia".
    Different names can collide (g/h are merged), which is acceptable for a cue, not an identity.
    """
    latin = transliterate(text, "uk").lower()
    latin = unicodedata.normalize("NFKD", latin)
    latin = "".join(c for c in latin if "a" <= c <= "z")
    for old, new in _SKELETON_RULES:
        latin = latin.replace(old, new)
    latin = _GLIDE.sub("", latin)
    # Doubled letters are spelling noise ("Anna"/"Ana", "Filippov"/"Filipov").
    return re.sub(r"(.)\1+", r"\1", latin)
