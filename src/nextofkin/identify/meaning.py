"""What a score and a decision mean to a person: the one source of every such sentence.

The CLI, the web UI, the case report and the human-readable fields of ``--json`` all build their
sentences here, in the current language (:mod:`nextofkin.i18n`), from the same numbers: the
false-positive identification rate (FPIR) of the score and the gallery's size. Stored results keep
those numbers, so a sentence is written again in the reader's language wherever it is shown; the
machine fields (``decision``, ``fpir``) stay English and stable.
"""

from __future__ import annotations

import math
from enum import StrEnum

from nextofkin.i18n import N_, format_number, format_percent, gettext, label, ngettext

# Past this the estimate is an extrapolation with little support: say so instead of a number.
SMALLEST_STATED_FPIR = 1e-7


class Decision(StrEnum):
    """What a candidate's score allows a person to conclude."""

    MATCH = "match"
    POSSIBLE = "possible"
    NO_MATCH = "no match"


DECISION_NAMES: dict[str, str] = {
    Decision.MATCH: N_("strong match"),
    Decision.POSSIBLE: N_("possible match"),
    Decision.NO_MATCH: N_("unlikely"),
}

DECISION_EXPLANATIONS: dict[str, str] = {
    Decision.MATCH: N_(
        "strong evidence: a stranger scores this high very rarely on a gallery this size"
    ),
    Decision.POSSIBLE: N_(
        "worth a careful human look, but strangers reach this score now and then"
    ),
    Decision.NO_MATCH: N_("no evidence: many strangers score this high"),
}


def decision_label(decision: object) -> str:
    """A decision's name in the current language (``match`` → "strong match")."""
    return label(DECISION_NAMES, decision)


def decision_explanation(decision: object) -> str:
    """What a decision allows a reviewer to conclude, in the current language."""
    return label(DECISION_EXPLANATIONS, decision) if str(decision) in DECISION_EXPLANATIONS else ""


def one_in(fpir: float) -> str:
    """``1/fpir`` as people say it: exact below 100, else two significant digits (40,000)."""
    value = 1.0 / fpir
    return format_number(round(value) if value < 100 else _round_sig(value))


def _round_sig(value: float, digits: int = 2) -> int:
    magnitude = 10 ** max(0, math.floor(math.log10(value)) - digits + 1)
    return int(round(value / magnitude) * magnitude)


def meaning_text(fpir: float, gallery: int, samples: int | None = None) -> str:
    """One sentence a reviewer can act on: how often a stranger scores this high.

    ``gallery`` is the number of accounts searched; ``samples`` the impostor scores the
    calibration measured (a rate rarer than one of them is marked as extrapolated; unknown for
    results stored before it was kept, which then say so only past the stated floor).
    """
    where = ngettext(
        "against this gallery of %(count)s account",
        "against this gallery of %(count)s accounts",
        gallery,
        count=format_number(gallery),
    )
    if fpir < SMALLEST_STATED_FPIR:
        return gettext(
            "a stranger scores this high %(where)s fewer than 1 time in %(one_in)s (extrapolated)",
            where=where,
            one_in=format_number(round(1 / SMALLEST_STATED_FPIR)),
        )
    if fpir >= 0.5:
        return gettext(
            "strangers commonly score this high %(where)s (%(share)s of them): not evidence",
            where=where,
            share=format_percent(fpir),
        )
    if samples is not None and fpir * samples < 1:
        return gettext(
            "a stranger scores this high %(where)s about 1 time in %(one_in)s (extrapolated)",
            where=where,
            one_in=one_in(fpir),
        )
    return gettext(
        "a stranger scores this high %(where)s about 1 time in %(one_in)s",
        where=where,
        one_in=one_in(fpir),
    )


def stored_meaning(
    fpir: object, gallery: object, samples: object = None, stored: object = ""
) -> str:
    """The meaning of a stored candidate written again in the current language.

    Stored results keep ``fpir`` and the gallery size beside the sentence they were searched
    with; a result too old to have them shows its stored sentence as it is.
    """
    if isinstance(fpir, int | float) and isinstance(gallery, int) and gallery > 0:
        return meaning_text(float(fpir), gallery, samples if isinstance(samples, int) else None)
    return str(stored or "")
