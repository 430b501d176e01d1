"""Decision thresholds from measured impostor scores, and what a score means to a person.

The quantity that matters for an identification team is the false-positive identification rate
(FPIR): how often a *stranger* (someone with no account in the gallery) gets a top candidate
scoring at least this high. It grows with the gallery, so it is measured on the gallery itself:
each sampled account's owner face is searched against every other account, and its top score is
one draw of "a stranger against a gallery of this size". Where the measured draws run out, an
exponential tail fitted to the highest tenth extrapolates. Thresholds for ``match`` and
``possible`` realise the FPIR targets of the decision policy; they are stored with the index.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from nextofkin.errors import CalibrationError
from nextofkin.i18n import _

# Decision lives beside the sentences that name it; it is re-exported where it always was.
from nextofkin.identify.meaning import Decision as Decision
from nextofkin.identify.meaning import meaning_text
from nextofkin.settings import DecisionPolicy

MIN_SAMPLES = 30
# Rates backed by at least this many impostor scores are counted; rarer ones come from the tail.
MIN_MEASURED = 5
MAX_STORED_SCORES = 4000
# Scores are cosine similarities of unit vectors.
MAX_SIMILARITY = 1.0


@dataclass
class Calibration:
    """Impostor top-1 scores measured for a gallery, and the thresholds they give."""

    method: str
    accounts: int
    samples: int
    scores: list[float]  # impostor top-1 scores, sorted high to low (possibly thinned)
    tail_start: float
    tail_mass: float
    tail_scale: float
    match_threshold: float
    possible_threshold: float
    match_fpir: float
    possible_fpir: float
    notes: list[str] = field(default_factory=list)
    # What the scores are: "cosine" similarities, or s-norm scores against the stored cohort
    # ``cohort`` (identify/normalise.py); a calibration only holds for the scores it measured.
    score_kind: str = "cosine"
    cohort: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form (stored in the index description)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibration:
        """Read the stored form back."""
        try:
            return cls(**data)
        except TypeError as exc:
            raise CalibrationError(_("stored calibration is not valid: %(exc)s", exc=exc)) from exc

    def fpir(self, score: float, accounts: int | None = None) -> float:
        """Estimated chance that a stranger's top candidate scores at least ``score``.

        ``accounts`` rescales to a gallery that grew or shrank since calibration (independent
        accounts: FPIR_N' = 1 - (1 - FPIR_N)^(N'/N)).
        """
        p = self._fpir_measured(score)
        if accounts and self.accounts and accounts != self.accounts:
            p = 1.0 - (1.0 - min(p, 1.0 - 1e-12)) ** (accounts / self.accounts)
        return float(min(1.0, max(p, 0.0)))

    def _fpir_measured(self, score: float) -> float:
        if self.samples == 0:
            if self.tail_scale > 0:
                # A gallery too small to measure (fallback): the rough tail is all there is.
                excess = max(score - self.tail_start, 0.0)
                return self.tail_mass * math.exp(-excess / self.tail_scale)
            raise CalibrationError(_("calibration holds no impostor scores"))
        scores = np.asarray(self.scores)
        # Scores are stored high to low; thinned lists keep their quantiles.
        rank = int(np.searchsorted(-scores, -score, side="right"))
        measured = rank / len(scores)
        if measured * self.samples >= MIN_MEASURED or self.tail_scale <= 0:
            # Enough impostors scored this high to count them (the rule thresholds follow too).
            return measured
        # Beyond the last few measured impostors the fitted tail speaks, capped by the measured
        # rate at the edge so that a higher score never reads as more common.
        edge = MIN_MEASURED / self.samples
        tail = self.tail_mass * math.exp(-max(score - self.tail_start, 0.0) / self.tail_scale)
        return min(tail, edge)

    def decide(self, score: float) -> Decision:
        """The decision for a candidate's score."""
        if score >= self.match_threshold:
            return Decision.MATCH
        if score >= self.possible_threshold:
            return Decision.POSSIBLE
        return Decision.NO_MATCH

    def meaning(self, score: float, accounts: int | None = None) -> str:
        """One sentence a reviewer can act on, in the current language (identify.meaning)."""
        return meaning_text(self.fpir(score, accounts), accounts or self.accounts, self.samples)


def _threshold_for(p: float, scores: np.ndarray, start: float, mass: float, scale: float) -> float:
    count = p * len(scores)
    if count >= MIN_MEASURED or scale <= 0:
        return float(np.quantile(scores, 1.0 - p))
    return start + scale * math.log(mass / p)


def _fallback_calibration(
    scores: np.ndarray,
    accounts: int,
    policy: DecisionPolicy,
    fallback: tuple[float, float],
    *,
    method: str,
    score_kind: str,
    cohort: str | None,
) -> Calibration:
    """A gallery too small to measure: the model's published (possible, match) operating points,
    with a rough tail around what was measured, saying so in its notes."""
    possible, match = fallback
    notes = [
        f"gallery too small to measure impostor scores ({len(scores)} samples): thresholds "
        "are the model's published operating points, and score meanings are rough"
    ]
    spread = max(float(scores.std()) if len(scores) > 1 else 0.05, 0.02)
    top = float(scores[0]) if len(scores) else possible - 0.1
    return Calibration(
        method=method + " (fallback)",
        accounts=accounts,
        samples=len(scores),
        scores=[float(s) for s in scores],
        tail_start=top,
        tail_mass=1.0 / max(len(scores), 1),
        tail_scale=spread,
        match_threshold=match,
        possible_threshold=possible,
        match_fpir=policy.match_fpir,
        possible_fpir=policy.possible_fpir,
        notes=notes,
        score_kind=score_kind,
        cohort=cohort,
    )


def _measured_notes(
    samples: int,
    tail_n: int,
    policy: DecisionPolicy,
    score_kind: str,
    thresholds: tuple[float, float],
) -> list[str]:
    """What a reviewer should know about thresholds measured on ``samples`` impostor scores."""
    notes: list[str] = []
    match, possible = thresholds
    if policy.match_fpir * samples < 5:
        notes.append(
            f"the match threshold (FPIR {policy.match_fpir:g}) is extrapolated from the highest "
            f"{tail_n} of {samples} impostor scores"
        )
    for label, threshold in (("match", match), ("possible", possible)):
        if score_kind == "cosine" and threshold > MAX_SIMILARITY:
            # Cosine scores never exceed 1: say plainly that the decision is out of reach rather
            # than let a reviewer wonder why nothing ever matches.
            notes.append(
                f"no score can reach '{label}' on this gallery's evidence: {samples} impostor "
                f"scores put its threshold at {threshold:.3f}; measure more strangers "
                "(`nextofkin calibrate PROTOCOL`) or grow the gallery"
            )
    return notes


def calibrate(
    impostor_top1: np.ndarray,
    accounts: int,
    policy: DecisionPolicy,
    *,
    method: str,
    fallback: tuple[float, float] | None = None,
    score_kind: str = "cosine",
    cohort: str | None = None,
) -> Calibration:
    """Thresholds from impostor top-1 scores measured against a gallery of ``accounts``.

    ``fallback`` (possible, match) similarity thresholds are used when there are too few
    samples to measure anything (a gallery of a handful of accounts); the calibration says so.
    """
    scores = np.sort(np.asarray(impostor_top1, dtype=np.float64))[::-1]
    if len(scores) < MIN_SAMPLES:
        if fallback is None:
            raise CalibrationError(
                _(
                    "only %(n_scores)s impostor scores; at least %(min_samples)s are needed",
                    n_scores=len(scores),
                    min_samples=MIN_SAMPLES,
                )
            )
        return _fallback_calibration(
            scores, accounts, policy, fallback, method=method, score_kind=score_kind, cohort=cohort
        )
    tail_n = max(10, len(scores) // 10)
    tail = scores[:tail_n]
    start = float(scores[tail_n - 1])
    mass = tail_n / len(scores)
    scale = float(np.mean(tail - start)) if tail_n > 1 else 0.0
    match = _threshold_for(policy.match_fpir, scores, start, mass, scale)
    possible = _threshold_for(policy.possible_fpir, scores, start, mass, scale)
    notes = _measured_notes(len(scores), tail_n, policy, score_kind, (match, possible))
    # Below the tail, FPIR is a plain quantile, which an even thinning of the list preserves.
    stored = scores[:: max(1, -(-len(scores) // MAX_STORED_SCORES))]
    return Calibration(
        method=method,
        accounts=accounts,
        samples=len(scores),
        scores=[round(float(s), 5) for s in stored],
        tail_start=start,
        tail_mass=mass,
        tail_scale=scale,
        match_threshold=round(max(match, possible), 5),
        possible_threshold=round(possible, 5),
        match_fpir=policy.match_fpir,
        possible_fpir=policy.possible_fpir,
        notes=notes,
        score_kind=score_kind,
        cohort=cohort,
    )
