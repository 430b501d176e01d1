"""What people read for a relation and a kinship word (the engine's values stay English: they
are machine fields of the JSON and the API)."""

from __future__ import annotations

from nextofkin.i18n import N_, label

# KinRelation.relation, and the kinship terms of kin/cues.py (what the companion is to the
# person), by their stored names.
KIN_WORDS: dict[str, str] = {
    "family": N_("family"),
    "friend": N_("friend"),
    "unknown": N_("unknown"),
    "figurative": N_("figurative"),
    "mother": N_("mother"),
    "father": N_("father"),
    "parent": N_("parent"),
    "son": N_("son"),
    "daughter": N_("daughter"),
    "child": N_("child"),
    "brother": N_("brother"),
    "sister": N_("sister"),
    "sibling": N_("sibling"),
    "husband": N_("husband"),
    "wife": N_("wife"),
    "spouse": N_("spouse"),
    "partner": N_("partner"),
    "grandparent": N_("grandparent"),
    "grandchild": N_("grandchild"),
    "in_law": N_("in-law"),
}


def kin_label(word: object) -> str:
    """A relation (family, friend, unknown) or kinship word (mother, son…), in the current
    language; a word the table does not know is shown as it is."""
    return label(KIN_WORDS, word)


# EvidencePhoto.why: why a photo is evidence (kin/gather.py).
EVIDENCE_WHY: dict[str, str] = {
    "companion": N_("with the person in the person's photo"),
    "appears": N_("the person appears in their photo"),
    "tag": N_("tagged"),
}


def evidence_label(why: object) -> str:
    """Why a photo is evidence, in the current language."""
    return label(EVIDENCE_WHY, why)
