"""Accuracy metrics: LFW 10-fold verification and NIST FRVT-style open-set 1:N identification.

Verification follows the LFW protocol: each fold's threshold is the one that maximises accuracy on
the other nine folds, and a pair whose faces could not be found (score ``NaN``) counts as wrong.

Identification follows the definitions of NIST FRVT 1:N (NISTIR 8271):

* a *mated* search has an enrolled mate; rank-k identification rate (the CMC) is the fraction of
  mated searches whose mate is among the top k candidates, whatever the score;
* FPIR(T) is the fraction of *non-mated* searches whose top candidate scores at least T;
* FNIR(T) is the fraction of mated searches whose mate is not returned at rank 1 with a score of
  at least T; a search that produced no template (no face found) is a miss when mated and a correct
  rejection when non-mated, as in FRVT;
* "FNIR at FPIR x" uses the lowest threshold at which FPIR does not exceed x.

Scores are similarities: higher means more alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]

# The FPIR operating points the project reports (issue 3).
DEFAULT_FPIRS: tuple[float, ...] = (0.1, 0.01, 0.003, 0.001)
CMC_RANKS = 20


# --------------------------------------------------------------------------- verification


@dataclass(frozen=True)
class PairsAccuracy:
    """The result of a k-fold pair verification run."""

    mean: float
    std: float
    standard_error: float
    fold_accuracies: list[float]
    fold_thresholds: list[float]
    pairs: int
    failed_pairs: int  # pairs without a score (no face found); counted wrong


def best_threshold(scores: npt.ArrayLike, same: npt.ArrayLike) -> float:
    """The similarity threshold that maximises accuracy of ``score >= t`` on these pairs.

    Candidates are the midpoints between consecutive distinct scores (and one below the lowest and
    one above the highest); pairs with a ``NaN`` score are ignored. Ties between equally good
    thresholds go to the middle one, which generalises best when the optimum is a plateau.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    keep = ~np.isnan(s)
    s, y = s[keep], y[keep]
    if s.size == 0:
        return 0.0
    order = np.argsort(s, kind="stable")
    s, y = s[order], y[order]
    uniq = np.unique(s)
    # Threshold candidates: below everything, midpoints, above everything.
    cands = np.concatenate(([uniq[0] - 1.0], (uniq[:-1] + uniq[1:]) / 2.0, [uniq[-1] + 1.0]))
    # For candidate t: correct = #same with s >= t + #diff with s < t.
    idx = np.searchsorted(s, cands, side="left")  # number of pairs with s < t
    diff_below = np.concatenate(([0], np.cumsum(~y)))[idx]
    same_below = np.concatenate(([0], np.cumsum(y)))[idx]
    correct = (int(y.sum()) - same_below) + diff_below
    best = np.flatnonzero(correct == correct.max())
    return float(cands[best[len(best) // 2]])


def kfold_accuracy(
    scores: npt.ArrayLike, same: npt.ArrayLike, folds: npt.ArrayLike
) -> PairsAccuracy:
    """Accuracy of ``score >= t`` per fold, with ``t`` chosen on all the other folds.

    ``folds`` gives each pair's fold number. Pairs with a ``NaN`` score (a face was not found)
    never take part in choosing a threshold and always count as wrong, as the LFW protocol asks of
    a complete pipeline.
    """
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(same, dtype=bool)
    f = np.asarray(folds)
    if not (s.shape == y.shape == f.shape):
        raise ValueError("scores, same and folds must have the same length")
    accs: list[float] = []
    thresholds: list[float] = []
    for fold in np.unique(f):
        test = f == fold
        train = ~test
        if not train.any():  # a single fold: choose on itself (documented optimistic case)
            train = test
        t = best_threshold(s[train], y[train])
        st, yt = s[test], y[test]
        with np.errstate(invalid="ignore"):
            correct = np.where(np.isnan(st), False, (st >= t) == yt)
        accs.append(float(correct.mean()))
        thresholds.append(t)
    arr = np.asarray(accs)
    std = float(arr.std(ddof=1)) if arr.size > 1 else 0.0
    return PairsAccuracy(
        mean=float(arr.mean()),
        std=std,
        standard_error=std / math.sqrt(arr.size),
        fold_accuracies=accs,
        fold_thresholds=thresholds,
        pairs=int(s.size),
        failed_pairs=int(np.isnan(s).sum()),
    )


# --------------------------------------------------------------------------- identification


@dataclass(frozen=True)
class Candidate:
    """One account in a search's candidate list."""

    account: str
    score: float


@dataclass
class Search:
    """One 1:N search as evaluated: who it should find (``mate``; ``None`` when non-mated) and the
    candidates returned, best first. ``error`` says why there are none (e.g. no face found)."""

    probe: str
    mate: str | None
    candidates: list[Candidate] = field(default_factory=list)
    error: str | None = None

    @property
    def mated(self) -> bool:
        """Whether this search has an enrolled mate."""
        return self.mate is not None

    def mate_rank(self) -> int | None:
        """1-based rank of the mate among the candidates, or ``None`` when absent."""
        for i, cand in enumerate(self.candidates, start=1):
            if cand.account == self.mate:
                return i
        return None

    def top_score(self) -> float:
        """The best candidate's score, ``-inf`` when there is none."""
        return self.candidates[0].score if self.candidates else -math.inf


@dataclass(frozen=True)
class OperatingPoint:
    """FNIR at one target FPIR, with the threshold that realises it and the FPIR achieved."""

    target_fpir: float
    threshold: float
    fpir: float
    fnir: float
    false_positives_allowed: int


@dataclass(frozen=True)
class OpenSetResult:
    """Open-set 1:N identification figures (FRVT definitions)."""

    mated_searches: int
    nonmated_searches: int
    mated_failures: int  # mated searches that produced no template (no face)
    nonmated_failures: int
    rank1: float
    cmc: list[float]  # cmc[k-1] = rank-k identification rate
    operating_points: list[OperatingPoint]

    def fnir_at(self, fpir: float) -> float:
        """FNIR at the operating point whose target FPIR is ``fpir``."""
        for op in self.operating_points:
            if math.isclose(op.target_fpir, fpir):
                return op.fnir
        raise KeyError(fpir)


def mated_rank1_scores(searches: Iterable[Search]) -> FloatArray:
    """For each mated search: the mate's score when it is the top candidate, else ``-inf``."""
    out = []
    for s in searches:
        if s.mate is None:
            continue
        hit = bool(s.candidates) and s.candidates[0].account == s.mate
        out.append(s.candidates[0].score if hit else -math.inf)
    return np.asarray(out, dtype=np.float64)


def nonmated_top_scores(searches: Iterable[Search]) -> FloatArray:
    """For each non-mated search: its top candidate's score (``-inf`` when it has none)."""
    return np.asarray([s.top_score() for s in searches if s.mate is None], dtype=np.float64)


def cmc_curve(searches: Sequence[Search], max_rank: int = CMC_RANKS) -> list[float]:
    """Rank-k identification rates for k = 1..max_rank over the mated searches."""
    ranks = [s.mate_rank() for s in searches if s.mate is not None]
    if not ranks:
        return [0.0] * max_rank
    arr = np.asarray([r if r is not None else max_rank + 1 for r in ranks])
    return [float((arr <= k).mean()) for k in range(1, max_rank + 1)]


def threshold_at_fpir(nonmated_top: npt.ArrayLike, fpir: float) -> float:
    """The lowest threshold T with FPIR(T) = #(top score >= T) / N <= ``fpir``.

    With N non-mated searches at most ``floor(fpir * N)`` may score at or above T, so T lies just
    above the (that many + 1)-th highest top score. Ties at that score are all rejected, which keeps
    the achieved FPIR at or below the target.
    """
    s = np.sort(np.asarray(nonmated_top, dtype=np.float64))[::-1]
    n = s.size
    if n == 0:
        return -math.inf
    allowed = math.floor(fpir * n + 1e-9)
    if allowed >= n:
        return -math.inf
    return float(np.nextafter(s[allowed], math.inf))


def fpir_at(nonmated_top: npt.ArrayLike, threshold: float) -> float:
    """FPIR(T): the fraction of non-mated searches whose top score is at least ``threshold``."""
    s = np.asarray(nonmated_top, dtype=np.float64)
    return float((s >= threshold).mean()) if s.size else 0.0


def fnir_at(mated_rank1: npt.ArrayLike, threshold: float) -> float:
    """FNIR(T) at rank 1: the fraction of mated searches whose mate is not top with score >= T."""
    s = np.asarray(mated_rank1, dtype=np.float64)
    return float((s < threshold).mean()) if s.size else 0.0


def open_set(
    searches: Sequence[Search],
    fpirs: Sequence[float] = DEFAULT_FPIRS,
    max_rank: int = CMC_RANKS,
) -> OpenSetResult:
    """Every open-set figure the project reports, computed from the searches' candidate lists."""
    mated = [s for s in searches if s.mate is not None]
    nonmated = [s for s in searches if s.mate is None]
    m1 = mated_rank1_scores(mated)
    nm = nonmated_top_scores(nonmated)
    points = []
    for target in fpirs:
        t = threshold_at_fpir(nm, target)
        points.append(
            OperatingPoint(
                target_fpir=target,
                threshold=t,
                fpir=fpir_at(nm, t),
                fnir=fnir_at(m1, t),
                false_positives_allowed=math.floor(target * len(nm) + 1e-9),
            )
        )
    cmc = cmc_curve(mated, max_rank)
    return OpenSetResult(
        mated_searches=len(mated),
        nonmated_searches=len(nonmated),
        mated_failures=sum(1 for s in mated if not s.candidates),
        nonmated_failures=sum(1 for s in nonmated if not s.candidates),
        rank1=cmc[0],
        cmc=cmc,
        operating_points=points,
    )


@dataclass(frozen=True)
class DetCurve:
    """FNIR against FPIR as the threshold sweeps over every observed score."""

    thresholds: list[float]
    fpir: list[float]
    fnir: list[float]


def det_curve(mated_rank1: npt.ArrayLike, nonmated_top: npt.ArrayLike) -> DetCurve:
    """The detection-error trade-off of an open-set search, one point per distinct score."""
    m = np.asarray(mated_rank1, dtype=np.float64)
    nm = np.asarray(nonmated_top, dtype=np.float64)
    finite = np.concatenate((m[np.isfinite(m)], nm[np.isfinite(nm)]))
    thresholds = np.unique(finite)
    if thresholds.size == 0:
        return DetCurve([], [], [])
    ms = np.sort(m)
    ns = np.sort(nm)
    # FPIR(T) = #(nm >= T)/N; FNIR(T) = #(m < T)/M, both by binary search.
    fp = (ns.size - np.searchsorted(ns, thresholds, side="left")) / max(ns.size, 1)
    fn = np.searchsorted(ms, thresholds, side="left") / max(ms.size, 1)
    return DetCurve(thresholds.tolist(), fp.tolist(), fn.tolist())
