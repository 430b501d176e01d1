"""Evaluation runs: protocol files in, figures (and every search's candidates) out.

This is the service behind ``nextofkin eval pairs``, ``nextofkin eval protocol``, ``nextofkin
calibrate`` and ``benchmarks/bench_accuracy.py``. It analyses each image once through the cache
(:mod:`nextofkin.evaluation.cache`), then scores in memory (:mod:`nextofkin.evaluation.engine`).

Tuning and reporting never share people: probes are split by identity (sorted names, alternating;
see :mod:`nextofkin.evaluation.heldout`), thresholds and options are chosen on the *even* half and
figures are reported on the *odd* half as well as on the whole protocol; every report says which.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from nextofkin.errors import CalibrationError, InputError
from nextofkin.evaluation.cache import GALLERY, PROBE, FaceCache, ImageFaces, Job, run_jobs
from nextofkin.evaluation.engine import (
    F32,
    EngineOptions,
    Gallery,
    ProbeInput,
    build_gallery,
    face_vector,
    pick_probe,
    run_searches,
)
from nextofkin.evaluation.heldout import CalibrationCheck, calibration_check
from nextofkin.evaluation.metrics import (
    DEFAULT_FPIRS,
    DetCurve,
    OpenSetResult,
    PairsAccuracy,
    Search,
    det_curve,
    kfold_accuracy,
    mated_rank1_scores,
    nonmated_top_scores,
    open_set,
)
from nextofkin.evaluation.protocols import OneToNProtocol, Pair, Probe, split_by_identity
from nextofkin.i18n import gettext
from nextofkin.identify.calibration import Calibration
from nextofkin.identify.normalise import top_stats
from nextofkin.settings import DecisionPolicy, VisionSettings
from nextofkin.vision.flip import plain_embedder_name
from nextofkin.vision.registry import default_registry

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class RunContext:
    """Where faces come from: the cache, the vision settings and model label, the pool size."""

    cache: FaceCache
    vision: VisionSettings
    model: str
    workers: int
    progress: Progress | None = None


def model_label(vision: VisionSettings) -> str:
    """The cache's model label for these settings: the embedder's spec name and alignment."""
    spec = default_registry().embedder(plain_embedder_name(vision.embedder)).spec
    return f"{spec.name}/{spec.alignment}"


def analyse(ctx: RunContext, jobs: Sequence[Job]) -> dict[Job, ImageFaces]:
    """Faces of every job (cached or computed in the pool)."""
    unique = list(dict.fromkeys(jobs))
    return run_jobs(
        unique, ctx.cache, ctx.vision, ctx.model, workers=ctx.workers, progress=ctx.progress
    )


# --------------------------------------------------------------------------- pairs


@dataclass
class PairsReport:
    """LFW-style verification: accuracy and every pair's score (``None``: a face was missing)."""

    pairs_file: str
    options: str
    accuracy: PairsAccuracy
    scores: list[float | None]
    same: list[bool]
    folds: list[int]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready form."""
        return asdict(self)


def evaluate_pairs(
    ctx: RunContext, pairs: Sequence[Pair], options: EngineOptions, name: str = "pairs"
) -> PairsReport:
    """10-fold verification accuracy of the probe pipeline on ``pairs``.

    Each image is analysed as a probe (rotation search included) and its face chosen by the
    product's rule; the score is the cosine similarity of the two faces' vectors. A pair with a
    photo where no face was found scores ``NaN`` and counts as wrong.
    """
    jobs = [Job(p, PROBE) for pair in pairs for p in (pair.left, pair.right)]
    results = analyse(ctx, jobs)
    vectors: dict[Path, F32] = {}
    for job in dict.fromkeys(jobs):
        face = pick_probe(results[job])
        if face is not None:
            vectors[job.path] = face_vector(face, options.flip)
    if options.normalise == "snorm":
        scores = pair_snorm_scores(pairs, vectors, options.cohort)
    else:
        scores = [
            float(vectors[p.left] @ vectors[p.right])
            if p.left in vectors and p.right in vectors
            else math.nan
            for p in pairs
        ]
    acc = kfold_accuracy(scores, [p.same for p in pairs], [p.fold for p in pairs])
    return PairsReport(
        pairs_file=name,
        options=options.label(),
        accuracy=acc,
        scores=[None if math.isnan(s) else round(s, 6) for s in scores],
        same=[p.same for p in pairs],
        folds=[p.fold for p in pairs],
    )


def pair_snorm_scores(pairs: Sequence[Pair], vectors: dict[Path, F32], k: int) -> list[float]:
    """S-norm scores of verification pairs, each fold normalised against the other folds' faces.

    LFW's folds hold disjoint people, so the cohort of a fold's faces (every face in the other
    folds' pairs) never contains the person being verified, as the product's cohort leaves out a
    face's own account. A pair with a missing face scores ``NaN``.
    """
    folds = sorted({p.fold for p in pairs})
    if len(folds) < 2:
        raise InputError(
            gettext("score normalisation of pairs needs at least two folds (the cohort)")
        )
    in_fold: dict[int, list[Path]] = {f: [] for f in folds}
    for pair in pairs:
        in_fold[pair.fold] += [q for q in (pair.left, pair.right) if q in vectors]
    stats: dict[tuple[int, Path], tuple[float, float]] = {}
    for fold in folds:
        own = list(dict.fromkeys(in_fold[fold]))
        others = list(dict.fromkeys(q for f in folds if f != fold for q in in_fold[f]))
        if not own or not others:
            continue
        cohort = np.stack([vectors[q] for q in others])
        mean, std = top_stats(np.stack([vectors[q] for q in own]) @ cohort.T, k)
        for path, m, sd in zip(own, mean, std, strict=True):
            stats[(fold, path)] = (float(m), float(sd))
    scores: list[float] = []
    for pair in pairs:
        a, b = (pair.fold, pair.left), (pair.fold, pair.right)
        if a not in stats or b not in stats:
            scores.append(math.nan)
            continue
        raw = float(vectors[pair.left] @ vectors[pair.right])
        (ma, sa), (mb, sb) = stats[a], stats[b]
        scores.append(0.5 * ((raw - ma) / sa + (raw - mb) / sb))
    return scores


# --------------------------------------------------------------------------- protocol


def gallery_jobs(protocol: OneToNProtocol) -> list[Job]:
    """Jobs for every gallery photo (analysed upright, as ingest does)."""
    return [Job(p, GALLERY) for acc in protocol.gallery for p in acc.photos]


def probe_jobs(probes: Sequence[Probe], degrade: str = "clean", seed: int = 0) -> list[Job]:
    """Jobs for probe photos, degraded by ``degrade``."""
    return [Job(p.photo, PROBE, degrade, seed) for p in probes]


def load_gallery(
    ctx: RunContext, protocol: OneToNProtocol, options: EngineOptions
) -> tuple[Gallery, dict[Job, ImageFaces]]:
    """The protocol's gallery, analysed and built into vectors."""
    results = analyse(ctx, gallery_jobs(protocol))
    accounts = [
        (acc.account, [results[Job(p, GALLERY)] for p in acc.photos]) for acc in protocol.gallery
    ]
    return build_gallery(accounts, options), results


def sample_probes(probes: Sequence[Probe], n: int | None, seed: int = 0) -> list[Probe]:
    """A fixed, seeded subset of ``n`` probes keeping the mated/non-mated proportion."""
    if n is None or n >= len(probes):
        return list(probes)
    rng = np.random.default_rng(seed)
    mated = [p for p in probes if p.mate is not None]
    nonmated = [p for p in probes if p.mate is None]
    n_m = round(n * len(mated) / max(len(probes), 1))
    pick_m = sorted(rng.choice(len(mated), min(n_m, len(mated)), replace=False).tolist())
    pick_n = sorted(rng.choice(len(nonmated), min(n - n_m, len(nonmated)), replace=False).tolist())
    return [mated[i] for i in pick_m] + [nonmated[i] for i in pick_n]


@dataclass
class ConditionFigures:
    """Open-set figures for one probe condition on one set of probes."""

    condition: str
    probes: str  # which probes: "all", "odd identities", ...
    result: OpenSetResult
    no_face: int
    rotation_passes: float  # mean detector passes per probe (the cost of rotation search)


@dataclass(frozen=True)
class FusionSide:
    """Rank-1 and FNIR (keyed by the target FPIR as written, ``"0.01"``) of one way of probing."""

    rank1: float
    fnir: dict[str, float]


@dataclass(frozen=True)
class FusionFigures:
    """Several photos of one body fused into one probe (``fused``) against one photo alone
    (``single``: the mean over the group's photos searched one by one)."""

    group_size: int
    groups_mated: int
    groups_nonmated: int
    degrade: str
    fused: FusionSide
    single: FusionSide


@dataclass
class ProtocolReport:
    """Everything ``eval protocol`` reports; ``searches`` lets anyone recompute the figures."""

    protocol: str
    model: str
    options: str
    gallery_accounts: int
    gallery_without_face: int
    figures: list[ConditionFigures]
    calibration: CalibrationCheck | None
    searches: dict[str, list[Search]] = field(default_factory=dict)
    det: dict[str, DetCurve] = field(default_factory=dict)
    fusion: FusionFigures | None = None
    # The held-out calibration, to say what each search's top score means.
    meaning: Calibration | None = field(default=None, repr=False)

    def _top_meaning(self, search: Search) -> dict[str, Any]:
        if self.meaning is None or not search.candidates:
            return {}
        score = search.candidates[0].score
        return {
            "top_fpir": self.meaning.fpir(score),
            "top_meaning": self.meaning.meaning(score),
            "top_decision": self.meaning.decide(score).value,
        }

    def to_dict(self, include_searches: bool = True) -> dict[str, Any]:
        """A JSON-ready form: figures, and (optionally) every search's top candidates."""
        out = {
            "protocol": self.protocol,
            "model": self.model,
            "options": self.options,
            "gallery_accounts": self.gallery_accounts,
            "gallery_without_face": self.gallery_without_face,
            "figures": [asdict(f) for f in self.figures],
            "calibration": asdict(self.calibration) if self.calibration else None,
            "fusion": asdict(self.fusion) if self.fusion else None,
        }
        if include_searches:
            out["searches"] = {
                cond: [
                    {
                        "probe": s.probe,
                        "mate": s.mate,
                        "error": s.error,
                        "top": [[c.account, c.score] for c in s.candidates],
                        **self._top_meaning(s),
                    }
                    for s in searches
                ]
                for cond, searches in self.searches.items()
            }
        return out


def _probe_inputs(
    probes: Sequence[Probe], results: dict[Job, ImageFaces], degrade: str, seed: int
) -> list[ProbeInput]:
    return [
        ProbeInput(str(p.photo), p.mate, [results[Job(p.photo, PROBE, degrade, seed)]])
        for p in probes
    ]


def _figures(
    condition: str, label: str, searches: Sequence[Search], images: Sequence[ImageFaces]
) -> ConditionFigures:
    return ConditionFigures(
        condition=condition,
        probes=label,
        result=open_set(searches),
        no_face=sum(1 for s in searches if s.error),
        rotation_passes=round(float(np.mean([im.tried for im in images])) if images else 0.0, 3),
    )


def search_condition(
    ctx: RunContext,
    gallery: Gallery,
    probes: Sequence[Probe],
    options: EngineOptions,
    degrade: str = "clean",
    seed: int = 0,
) -> tuple[list[Search], list[ImageFaces]]:
    """Searches of ``probes`` under one degradation against ``gallery``."""
    results = analyse(ctx, probe_jobs(probes, degrade, seed))
    inputs = _probe_inputs(probes, results, degrade, seed)
    return run_searches(gallery, inputs, options), [im for p in inputs for im in p.images]


def _subset_figures(
    label: str, probes: Sequence[Probe], clean: Sequence[Search], images: Sequence[ImageFaces]
) -> ConditionFigures:
    """The clean figures of the searches of ``probes`` only (the same searches, not new ones)."""
    names = {str(p.photo) for p in probes}
    pairs = [(s, im) for s, im in zip(clean, images, strict=True) if s.probe in names]
    return _figures("clean", label, [s for s, _ in pairs], [im for _, im in pairs])


def evaluate_protocol(
    ctx: RunContext,
    protocol: OneToNProtocol,
    options: EngineOptions,
    *,
    policy: DecisionPolicy,
    degrade: Sequence[str] = (),
    seed: int = 0,
    sample: int | None = None,
    fusion: bool = False,
) -> ProtocolReport:
    """Open-set figures on the clean probes and under each ``degrade`` condition.

    With ``sample``, degraded conditions (and the clean figure beside them) use a fixed subset of
    that many probes, because each condition re-analyses every probe photo.
    """
    gallery, _ = load_gallery(ctx, protocol, options)
    report = ProtocolReport(
        protocol=protocol.name,
        model=ctx.model,
        options=options.label(),
        gallery_accounts=gallery.size,
        gallery_without_face=len(gallery.empty_accounts),
        figures=[],
        calibration=None,
    )
    clean, clean_images = search_condition(ctx, gallery, protocol.probes, options)
    report.searches["clean"] = clean
    report.figures.append(_figures("clean", "all", clean, clean_images))
    _, odd = split_by_identity(protocol.probes)
    if odd:  # an empty half has no figure to report
        report.figures.append(_subset_figures("odd identities", odd, clean, clean_images))
    report.det["clean"] = det_curve(mated_rank1_scores(clean), nonmated_top_scores(clean))
    try:
        report.calibration, report.meaning = calibration_check(
            gallery, clean, protocol.probes, options, policy
        )
    except CalibrationError as exc:
        # A small protocol has too few strangers to set thresholds: report the figures anyway.
        log.warning("no calibration check: %s", exc)
    if degrade:
        subset = sample_probes(protocol.probes, sample, seed)
        label = f"sample of {len(subset)}" if len(subset) < len(protocol.probes) else "all"
        if label != "all":
            report.figures.append(_subset_figures(label, subset, clean, clean_images))
        for cond in degrade:
            searches, images = search_condition(ctx, gallery, subset, options, cond, seed)
            report.searches[cond] = searches
            report.figures.append(_figures(cond, label, searches, images))
            report.det[cond] = det_curve(
                mated_rank1_scores(searches), nonmated_top_scores(searches)
            )
    if fusion:
        report.fusion = fusion_experiment(ctx, gallery, protocol, options)
    return report


def fusion_experiment(
    ctx: RunContext,
    gallery: Gallery,
    protocol: OneToNProtocol,
    options: EngineOptions,
    group: int = 3,
    degrade: str = "clean",
    seed: int = 0,
) -> FusionFigures:
    """Several photos of one body fused into one probe against one photo alone.

    Each identity's probe photos are cut into groups of ``group`` (in protocol order). Each group
    is searched once fused and once per single photo; the single-photo figure averages the
    ``group`` single searches so it uses the same photos.
    """
    by_identity: dict[tuple[str, str | None], list[Probe]] = defaultdict(list)
    for p in protocol.probes:
        by_identity[(p.identity, p.mate)].append(p)
    groups = [
        probes[i : i + group]
        for probes in by_identity.values()
        for i in range(0, len(probes) - group + 1, group)
    ]
    results = analyse(ctx, [j for g in groups for j in probe_jobs(g, degrade, seed)])
    fused_inputs = [
        ProbeInput(
            "+".join(str(p.photo) for p in g),
            g[0].mate,
            [results[Job(p.photo, PROBE, degrade, seed)] for p in g],
        )
        for g in groups
    ]
    fused = open_set(run_searches(gallery, fused_inputs, options))
    singles = []
    for k in range(group):
        inputs = [
            ProbeInput(str(g[k].photo), g[k].mate, [results[Job(g[k].photo, PROBE, degrade, seed)]])
            for g in groups
        ]
        singles.append(open_set(run_searches(gallery, inputs, options)))
    return FusionFigures(
        group_size=group,
        groups_mated=fused.mated_searches,
        groups_nonmated=fused.nonmated_searches,
        degrade=degrade,
        fused=FusionSide(
            fused.rank1, {str(op.target_fpir): op.fnir for op in fused.operating_points}
        ),
        single=FusionSide(
            float(np.mean([s.rank1 for s in singles])),
            {str(t): float(np.mean([s.fnir_at(t) for s in singles])) for t in DEFAULT_FPIRS},
        ),
    )
