"""How the evidence about one related account combines into a score and a suggested relation.

Pure functions over :class:`PairEvidence`, so the weights can be read, tested and tuned apart from
the database. The score is a weighted sum of saturating terms (the fifth joint photo adds less than
the first), divided by the sum of weights, so it lies in [0, 1]. Family cues (kinship words, a
shared surname stem, photos over many years) are part of the score because the team's first need
is relatives; they also decide the suggested relation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from nextofkin.i18n import N_, gettext, label, ngettext
from nextofkin.kin.labels import kin_label

FAMILY = "family"
FRIEND = "friend"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class Weights:
    """Weights of the score's terms (see :func:`score`)."""

    # Tuned on a 300-account development gallery (seed 2), not on the evaluation gallery.
    faces: float = 2.0  # distinct photos showing both people
    faces_rate: float = 0.9  # saturation: 1 photo -> 0.59, 2 -> 0.83, 3 -> 0.93
    link_one_way: float = 0.5  # listed as a friend by one side only (friend lists are noisy)
    link_mutual: float = 1.0
    tags: float = 0.6
    kin_words: float = 2.6
    # Friendship words in joint captions ("with friends", "classmates") speak against family: the
    # ranking is relatives first. Chosen with `circle` on seeds 2 and 3 (development galleries).
    friend_words: float = -0.5
    surname: float = 4.0  # with a link, a shared (rare) surname stem is the strongest family cue
    city: float = 0.6
    span: float = 0.6  # joint photos over many years: families stay, friendships come and go
    span_years: float = 6.0
    # A relative declared on a profile (VK relatives, relation_partner): one side, both sides.
    declared: float = 3.0
    declared_both: float = 4.0
    declared_kin: float = 3.0  # its type outweighs kinship words when they disagree
    circle: float = 2.0  # linked with the person's other family candidates (kin/circle.py)

    @property
    def total(self) -> float:
        """The largest raw score possible (a negative weight only ever lowers it)."""
        terms = (
            self.faces, self.link_mutual, self.tags, self.kin_words, self.friend_words,
            self.surname, self.city, self.span, self.declared_both, self.circle,
        )  # fmt: skip
        return sum(max(0.0, t) for t in terms)


DEFAULT_WEIGHTS = Weights()

# Gendered kinship words and the generic term a declared type gives.
_GENERIC = {
    "son": "child", "daughter": "child", "mother": "parent", "father": "parent",
    "brother": "sibling", "sister": "sibling", "husband": "spouse", "wife": "spouse",
}  # fmt: skip

PERSON = "person"  # declared on the person's profile
RELATIVE = "relative"  # declared on the related account's profile


@dataclass(frozen=True)
class Declaration:
    """A relative declared by a source: on whose profile, the type as declared, and what it
    makes the related account to the person (``kinship``, the engine's vocabulary)."""

    by: str  # PERSON or RELATIVE
    type: str  # as the source says: child, sibling, parent, grandparent, grandchild, partner
    kinship: str


@dataclass
class PairEvidence:
    """Everything found linking the person's account (A) to one other account (B)."""

    # image id -> confidence that the face there is the other person (0..1)
    companion_images: dict[int, float] = field(default_factory=dict)  # B's owner in A's photos
    appears_images: dict[int, float] = field(default_factory=dict)  # A's owner in B's photos
    listed_by_person: bool = False  # A's friend list has B
    lists_person: bool = False  # B's friend list has A
    tags_by_person: int = 0  # A's photos tagging B
    tags_person: int = 0  # B's photos tagging A
    kin_terms: dict[str, float] = field(default_factory=dict)  # what B is to A, weighted
    family_words: float = 0.0  # kinship words (any), weighted per photo
    friend_words: float = 0.0  # friendship (and figurative kinship) words, weighted per photo
    surname: float = 0.0  # 0 when no shared stem; else in (0, 1], rarer stems weigh more
    surname_stem: str | None = None
    same_city: bool = False
    dates: list[str] = field(default_factory=list)  # posted_at of the photos showing both
    declared: list[Declaration] = field(default_factory=list)
    pinned_images: set[int] = field(default_factory=set)  # joint images a positioned tag pins
    # The person's other family candidates this account is seen with or linked to (names).
    family_circle: list[str] = field(default_factory=list)

    @property
    def joint_images(self) -> set[int]:
        """Distinct images that show both people."""
        return set(self.companion_images) | set(self.appears_images)

    def joint_weight(self) -> float:
        """Distinct images that show both, each counted by how sure the face match is."""
        images = self.joint_images
        return sum(
            max(self.companion_images.get(i, 0.0), self.appears_images.get(i, 0.0)) for i in images
        )

    def span_years(self) -> float:
        """Years between the first and the last photo showing both people."""
        years = sorted(y for y in (_year(d) for d in self.dates if d) if y is not None)
        return float(years[-1] - years[0]) if len(years) >= 2 else 0.0


def _year(date: str) -> float | None:
    try:
        year, month = int(date[:4]), int(date[5:7]) if len(date) >= 7 else 6
    except ValueError:
        return None
    return year + (month - 0.5) / 12


def _saturate(x: float, rate: float = 1.0) -> float:
    return 1.0 - math.exp(-rate * x)


@dataclass(frozen=True)
class Judgement:
    """A score in [0, 1], the relation it suggests and the reasons, in words."""

    score: float
    relation: str
    kinship: str | None
    reasons: list[str]


def judge(e: PairEvidence, w: Weights = DEFAULT_WEIGHTS) -> Judgement:
    """Combine the evidence for one pair into a score, a suggested relation and reasons."""
    kinship, reasons = _reasons(e, w)
    relation = _relation(e)
    return Judgement(round(max(0.0, _raw_score(e, w)) / w.total, 4), relation,
                     kinship if relation == FAMILY else None, reasons)  # fmt: skip


def _mutual(e: PairEvidence) -> bool:
    return e.listed_by_person and e.lists_person


def _raw_score(e: PairEvidence, w: Weights) -> float:
    """The weighted sum of the saturating terms."""
    link_term = w.link_mutual if _mutual(e) else (
        w.link_one_way if (e.listed_by_person or e.lists_person) else 0.0
    )  # fmt: skip
    span_term = min(1.0, e.span_years() / w.span_years) if len(e.joint_images) >= 2 else 0.0
    sides = {d.by for d in e.declared}
    declared_term = w.declared_both if len(sides) == 2 else (w.declared if sides else 0.0)
    return (
        w.faces * _saturate(e.joint_weight(), w.faces_rate)
        + link_term
        + w.tags * _saturate(e.tags_by_person + e.tags_person, 0.7)
        + w.kin_words * _saturate(e.family_words)
        + w.friend_words * _saturate(e.friend_words)
        + w.surname * e.surname
        + w.city * e.same_city
        + w.span * span_term
        + declared_term
        + w.circle * _saturate(len(e.family_circle))
    )


def _kinship(e: PairEvidence, w: Weights) -> tuple[list[str], list[str]]:
    """The kinship terms, best first (declared types outweigh caption words), and the reasons
    the declarations give."""
    reasons: list[str] = []
    kin_terms = dict(e.kin_terms)
    for d in e.declared:
        # A caption may say more than the declared type ("son" for a declared child): keep it.
        specific = [t for t in e.kin_terms if _GENERIC.get(t) == d.kinship]
        term = max(specific, key=lambda t: (e.kin_terms[t], t)) if specific else d.kinship
        kin_terms[term] = kin_terms.get(term, 0.0) + w.declared_kin
        if d.by == PERSON:
            reasons.append(
                gettext(
                    "declared on the person's profile as their %(type)s", type=_declared(d.type)
                )
            )
        else:
            reasons.append(
                gettext(
                    "declares the person as their %(type)s on their profile", type=_declared(d.type)
                )
            )
    ranked = sorted(kin_terms.items(), key=lambda kv: (-kv[1], kv[0]))
    return [t for t, _ in ranked], reasons


# The relative types sources declare (VK's, and "partner"), named in the reader's language.
_DECLARED_TYPES = {
    "child": N_("child"),
    "parent": N_("parent"),
    "sibling": N_("sibling"),
    "grandparent": N_("grandparent"),
    "grandchild": N_("grandchild"),
    "partner": N_("partner"),
}


def _declared(kind: str) -> str:
    """A declared relative type as a reason names it (an unknown type is shown as it is)."""
    return label(_DECLARED_TYPES, kind)


def _reasons(e: PairEvidence, w: Weights) -> tuple[str | None, list[str]]:
    """The kinship the evidence suggests, and every reason in words."""
    terms, reasons = _kinship(e, w)
    reasons += _seen_and_linked(e)
    reasons += _words_and_circle(e, terms)
    return (terms[0] if terms else None), reasons


def _seen_and_linked(e: PairEvidence) -> list[str]:
    """The reasons from photos together, friend lists and tags, in words."""
    reasons: list[str] = []
    if e.companion_images:
        reasons.append(
            ngettext(
                "appears with the person in %(num)d of their photos",
                "appears with the person in %(num)d of their photos",
                len(e.companion_images),
            )
        )
    if e.appears_images:
        reasons.append(
            ngettext(
                "the person appears in %(num)d of this account's photos",
                "the person appears in %(num)d of this account's photos",
                len(e.appears_images),
            )
        )
    if _mutual(e):
        reasons.append(gettext("friends on both sides"))
    elif e.listed_by_person:
        reasons.append(gettext("in the person's friend list"))
    elif e.lists_person:
        reasons.append(gettext("lists the person as a friend"))
    tags = e.tags_by_person + e.tags_person
    if tags:
        reasons.append(ngettext("tagged %(num)d time", "tagged %(num)d times", tags))
    if e.pinned_images:
        reasons.append(
            ngettext(
                "a tag points at their face in %(num)d joint photo",
                "a tag points at their face in %(num)d joint photos",
                len(e.pinned_images),
            )
        )
    return reasons


def _words_and_circle(e: PairEvidence, terms: list[str]) -> list[str]:
    """The reasons from captions, surname, city, the family circle and the years, in words."""
    reasons: list[str] = []
    if e.family_words > 0:
        words = ", ".join(kin_label(term) for term in terms[:3]) or gettext("family")
        reasons.append(
            gettext("kinship words in captions of joint photos (%(words)s)", words=words)
        )
    if e.friend_words > 0:
        reasons.append(gettext("friendship words in captions of joint photos"))
    if e.surname > 0:
        reasons.append(gettext("shares the surname stem '%(stem)s'", stem=e.surname_stem))
    if e.same_city:
        reasons.append(gettext("same city"))
    if e.family_circle:
        names = ", ".join(e.family_circle[:3]) + (", …" if len(e.family_circle) > 3 else "")
        reasons.append(
            ngettext(
                "seen with or linked to %(num)d of the person's family (%(names)s)",
                "seen with or linked to %(num)d of the person's family (%(names)s)",
                len(e.family_circle),
                names=names,
            )
        )
    n_joint, span = len(e.joint_images), e.span_years()
    if n_joint >= 2 and span >= 1:
        reasons.append(
            ngettext(
                "%(joint)s joint photos over %(num)d year",
                "%(joint)s joint photos over %(num)d years",
                round(span),
                joint=n_joint,
            )
        )
    return reasons


def _relation(e: PairEvidence) -> str:
    """family, friend or unknown (see KIN.md, Score and relation)."""
    n_joint = len(e.joint_images)
    tags = e.tags_by_person + e.tags_person
    linked = n_joint >= 1 or _mutual(e) or tags > 0 or bool(e.declared)
    if (
        e.declared
        or e.family_words >= 0.6
        or (e.surname > 0 and linked)
        or (e.family_words > 0 and n_joint >= 2)
    ):
        return FAMILY
    if n_joint >= 1 or _mutual(e) or e.friend_words > 0:
        return FRIEND
    return UNKNOWN
