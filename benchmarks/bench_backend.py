"""Supervised linear backends (WCCN, LDA) on the 128-d vectors, measured on the 1:N protocol.

Every face comes from the evaluation cache (``--workspace``/cache/eval-faces.sqlite); the script
refuses to run when faces are missing rather than analyse thousands of images.

Training sources:

* ``even``: vectors of the even-indexed identities only (``split_by_identity``): each identity's
  gallery owner face (when it has an account) and its probe photos' faces, labelled by identity.
  Hyper-parameters are chosen on the even half alone: its identities are split again (sorted,
  alternating) into two sub-halves; each trains while the other is searched, and the objective
  ``FNIR@FPIR 0.01 + (1 - rank-1)`` is averaged over the two folds. Then the backend is trained on
  every even identity and reported on the odd identities' probes once.
* ``gallery-mirror``: what the product has without outside data. Every LFW protocol account has a
  single photo, so no account has two owner faces; the only label-free "two views of one face"
  are each owner face's plain and mirrored embeddings. Tuned on all even probes.

Usage::

    PYTHONPATH=src python benchmarks/bench_backend.py --workspace /work/evalws [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nextofkin.evaluation.backend import (
    LinearBackend,
    TwoCovariance,
    fit_lda,
    fit_two_covariance,
    fit_wccn,
)
from nextofkin.evaluation.cache import GALLERY, PROBE, FaceCache, ImageFaces, Job, cache_key
from nextofkin.evaluation.cache import fingerprint as cache_fingerprint
from nextofkin.evaluation.engine import (
    EngineOptions,
    Gallery,
    build_gallery,
    gallery_cohort,
    owner_faces,
    probe_vector,
    score_accounts,
    top_candidates,
    with_backend,
)
from nextofkin.evaluation.metrics import OpenSetResult, Search, open_set
from nextofkin.evaluation.protocols import OneToNProtocol, read_protocol, split_by_identity
from nextofkin.evaluation.runner import gallery_jobs, model_label, probe_jobs
from nextofkin.settings import Settings
from nextofkin.vision.flip import plain_embedder_name

F32 = npt.NDArray[np.float32]
DEFAULT_PROTOCOL = Path("/work/shared/datasets/lfw/protocol-1n.json")
FPIRS = (0.1, 0.01, 0.003)

Searcher = Callable[["Data", EngineOptions], list[Search]]
Trainer = Callable[[F32, npt.NDArray[np.int64]], Searcher]


@dataclass
class Data:
    """Everything the experiments need, computed once: gallery, probe vectors, labels."""

    raw: Gallery  # flip vectors, no normalisation, no backend
    probe_names: list[str]
    probe_mates: list[str | None]
    probe_ids: list[str]
    probe_vecs: F32  # one row per probe with a face
    probe_row: list[int]  # probe index -> row in probe_vecs, -1 without a face
    mirror_vecs: F32  # gallery owner faces' plain and mirrored embeddings, stacked
    mirror_labels: npt.NDArray[np.int64]


def load_faces(workspace: Path, protocol: OneToNProtocol) -> dict[Job, ImageFaces]:
    """Cached faces of every gallery and clean probe photo; raises when any is missing."""
    settings = Settings.load(workspace)
    vision = settings.vision.model_copy(
        update={"embedder": plain_embedder_name(settings.vision.embedder)}
    )
    print_ = cache_fingerprint(vision, model_label(vision))
    jobs = gallery_jobs(protocol) + probe_jobs(protocol.probes)
    keys = {job: cache_key(job, print_) for job in jobs}
    cache = FaceCache(workspace / "cache" / "eval-faces.sqlite")
    try:
        found = cache.get_many(list(dict.fromkeys(keys.values())))
    finally:
        cache.close()
    missing = [job for job, key in keys.items() if key not in found]
    if missing:
        raise SystemExit(f"{len(missing)} images are not cached yet (e.g. {missing[0].path})")
    return {job: found[key] for job, key in keys.items()}


def prepare(protocol: OneToNProtocol, faces: dict[Job, ImageFaces]) -> Data:
    """The flip gallery, every probe's vector and the mirror training set."""
    options = EngineOptions(flip=True)
    accounts = [
        (acc.account, [faces[Job(p, GALLERY)] for p in acc.photos]) for acc in protocol.gallery
    ]
    raw = build_gallery(accounts, options)
    vecs: list[F32] = []
    rows: list[int] = []
    for probe in protocol.probes:
        vec = probe_vector([faces[Job(probe.photo, PROBE)]], options)
        rows.append(-1 if vec is None else len(vecs))
        if vec is not None:
            vecs.append(vec)
    mirror: list[F32] = []
    labels: list[int] = []
    for idx, (_, images) in enumerate(accounts):
        for face in owner_faces(images):
            mirror += [face.embedding, face.flipped]
            labels += [idx, idx]
    return Data(
        raw=raw,
        probe_names=[str(p.photo) for p in protocol.probes],
        probe_mates=[p.mate for p in protocol.probes],
        probe_ids=[p.identity for p in protocol.probes],
        probe_vecs=np.stack(vecs).astype(np.float32),
        probe_row=rows,
        mirror_vecs=np.stack(mirror).astype(np.float32),
        mirror_labels=np.asarray(labels, dtype=np.int64),
    )


def training_set(data: Data, identities: set[str]) -> tuple[F32, npt.NDArray[np.int64]]:
    """Vectors of ``identities``: gallery owner faces of their accounts and their probe faces."""
    label_of = {name: i for i, name in enumerate(sorted(identities))}
    vecs: list[F32] = []
    labels: list[int] = []
    for acc_idx, account in enumerate(data.raw.accounts):
        if account in label_of:
            rows = np.flatnonzero(data.raw.owner == acc_idx)
            vecs += list(data.raw.vectors[rows])
            labels += [label_of[account]] * len(rows)
    for identity, row in zip(data.probe_ids, data.probe_row, strict=True):
        if identity in label_of and row >= 0:
            vecs.append(data.probe_vecs[row])
            labels.append(label_of[identity])
    return np.stack(vecs).astype(np.float32), np.asarray(labels, dtype=np.int64)


def scored_gallery(data: Data, backend: LinearBackend | None, options: EngineOptions) -> Gallery:
    """The gallery in the backend's space (or raw), with snorm statistics when asked."""
    if backend is not None:
        return with_backend(data.raw, backend, options)
    gallery = Gallery(
        accounts=data.raw.accounts,
        vectors=data.raw.vectors,
        owner=data.raw.owner,
        empty_accounts=data.raw.empty_accounts,
    )
    if options.normalise == "snorm":
        gallery.cohort_mean, gallery.cohort_std = gallery_cohort(gallery, options.cohort)
    return gallery


def search_all(
    data: Data, options: EngineOptions, backend: LinearBackend | None = None, chunk: int = 1024
) -> list[Search]:
    """Every probe searched against the gallery (with the backend when given)."""
    gallery = scored_gallery(data, backend, options)
    cands: list[Any] = []
    for start in range(0, len(data.probe_vecs), chunk):
        scores = score_accounts(gallery, data.probe_vecs[start : start + chunk], options)
        cands += top_candidates(gallery, scores, options.top)
    return to_searches(data, cands)


def top_stats(scores: F32, k: int) -> tuple[F32, F32]:
    """Mean and spread of each row's top-``k`` scores (as the engine's snorm)."""
    k = max(1, min(k, scores.shape[1]))
    part = -np.partition(-scores, k - 1, axis=1)[:, :k]
    return part.mean(axis=1), np.maximum(part.std(axis=1), 1e-3)


def search_plda(
    data: Data,
    options: EngineOptions,
    model: TwoCovariance,
    proj: LinearBackend | None,
    chunk: int = 1024,
) -> list[Search]:
    """Every probe searched by two-covariance log-likelihood ratio (snorm as the engine does)."""
    raw = data.raw
    gal = proj.project(raw.vectors) if proj is not None else raw.vectors
    probes = proj.project(data.probe_vecs) if proj is not None else data.probe_vecs
    g_mu = g_sd = None
    if options.normalise == "snorm":
        mus, sds = [], []
        for start in range(0, len(gal), chunk):
            block = model.scores(gal[start : start + chunk], gal)
            block[raw.owner[start : start + chunk, None] == raw.owner[None, :]] = -np.inf
            mu, sd = top_stats(block, options.cohort)
            mus.append(mu)
            sds.append(sd)
        g_mu, g_sd = np.concatenate(mus), np.concatenate(sds)
    starts = np.flatnonzero(np.r_[True, raw.owner[1:] != raw.owner[:-1]])
    cands: list[Any] = []
    for start in range(0, len(probes), chunk):
        scores = model.scores(probes[start : start + chunk], gal)
        if g_mu is not None and g_sd is not None:
            mu_p, sd_p = top_stats(scores, options.cohort)
            zp = (scores - mu_p[:, None]) / sd_p[:, None]
            scores = (0.5 * (zp + (scores - g_mu[None, :]) / g_sd[None, :])).astype(np.float32)
        scores = np.maximum.reduceat(scores, starts, axis=1)
        cands += top_candidates(raw, scores, options.top)
    return to_searches(data, cands)


def to_searches(data: Data, cands: Sequence[Any]) -> list[Search]:
    """Searches from each probe row's candidates (probes without a face have none)."""
    out: list[Search] = []
    for name, mate, row in zip(data.probe_names, data.probe_mates, data.probe_row, strict=True):
        search = Search(name, mate)
        if row < 0:
            search.error = "no face found"
        else:
            search.candidates = cands[row]
        out.append(search)
    return out


def rank1_changes(
    base: Sequence[Search], new: Sequence[Search], keep: Sequence[bool]
) -> dict[str, int]:
    """Mated searches (where ``keep``) whose rank-1 hit was gained or lost against ``base``."""
    gained = lost = 0
    for b, n, k in zip(base, new, keep, strict=True):
        if not k or b.mate is None:
            continue
        was, now = b.mate_rank() == 1, n.mate_rank() == 1
        gained += int(now and not was)
        lost += int(was and not now)
    return {"gained": gained, "lost": lost}


def figures(searches: Sequence[Search], keep: Sequence[bool]) -> OpenSetResult:
    """Open-set figures of the searches where ``keep`` is true."""
    return open_set([s for s, k in zip(searches, keep, strict=True) if k], fpirs=FPIRS)


def summary(result: OpenSetResult) -> dict[str, float]:
    """The figures reported: rank-1, rank-10 and FNIR at each FPIR."""
    out = {"rank1": result.rank1, "rank10": result.cmc[9]}
    out.update({f"fnir@{t:g}": result.fnir_at(t) for t in FPIRS})
    return out


def objective(result: OpenSetResult) -> float:
    """What tuning minimises: FNIR at FPIR 0.01 plus the rank-1 miss rate."""
    return result.fnir_at(0.01) + (1.0 - result.rank1)


def linear(fit: Callable[[F32, npt.NDArray[np.int64]], LinearBackend]) -> Trainer:
    """A trainer whose searches use the cosine in a learned linear space."""

    def train(vecs: F32, labels: npt.NDArray[np.int64]) -> Searcher:
        backend = fit(vecs, labels)
        return partial(search_all, backend=backend)

    return train


def plda(shrink: float, lda_dims: int | None) -> Trainer:
    """A trainer of the two-covariance model (in an LDA space of ``lda_dims`` first, if given)."""

    def train(vecs: F32, labels: npt.NDArray[np.int64]) -> Searcher:
        lda = fit_lda(vecs, labels, lda_dims, 0.2) if lda_dims else None
        model, proj = fit_two_covariance(vecs, labels, shrink, lda)
        return partial(search_plda, model=model, proj=proj)

    return train


def grid() -> list[tuple[str, Trainer]]:
    """Every backend configuration tried while tuning."""
    out: list[tuple[str, Trainer]] = []
    for shrink in (0.05, 0.1, 0.2, 0.35, 0.5, 0.7, 0.85):
        for centre in (False, True):
            name = f"wccn shrink={shrink:g} centre={centre}"
            out.append((name, linear(partial(fit_wccn, shrink=shrink, centre=centre))))
    for dims in (48, 64, 96, 112, 127):
        for shrink in (0.05, 0.2, 0.5):
            for centre in (True, False):
                name = f"lda dims={dims} shrink={shrink:g} centre={centre}"
                fit = partial(fit_lda, dims=dims, shrink=shrink, centre=centre)
                out.append((name, linear(fit)))
    for lda_dims in (None, 64, 96):
        for shrink in (0.05, 0.2, 0.5):
            name = f"plda shrink={shrink:g}" + (f" after lda dims={lda_dims}" if lda_dims else "")
            out.append((name, plda(shrink, lda_dims)))
    return out


def sub_halves(identities: set[str]) -> tuple[set[str], set[str]]:
    """Identities sorted by name, alternating into two halves."""
    names = sorted(identities)
    return set(names[0::2]), set(names[1::2])


def tune(data: Data, even: set[str], options: EngineOptions, source: str) -> list[dict[str, Any]]:
    """Objective of every grid configuration on the even half (two folds, or one for mirror)."""
    a, b = sub_halves(even)
    folds = [(a, b), (b, a)] if source == "even" else [(set(), even)]
    rows: list[dict[str, Any]] = []
    plain = search_all(data, options)
    base = [figures(plain, [i in tuned for i in data.probe_ids]) for _, tuned in folds]
    rows.append(
        {
            "config": "none",
            "objective": float(np.mean([objective(r) for r in base])),
            "folds": [summary(r) for r in base],
        }
    )
    for name, fit in grid():
        results = []
        for trained, tuned in folds:
            if source == "even":
                vecs, labels = training_set(data, trained)
            else:
                vecs, labels = data.mirror_vecs, data.mirror_labels
            searches = fit(vecs, labels)(data, options)
            results.append(figures(searches, [i in tuned for i in data.probe_ids]))
        rows.append(
            {
                "config": name,
                "objective": float(np.mean([objective(r) for r in results])),
                "folds": [summary(r) for r in results],
            }
        )
        print(
            f"  tune {source} {options.normalise}: {name}: {rows[-1]['objective']:.4f}", flush=True
        )
    return rows


def main() -> None:
    """Tune on the even half, report on the odd half, print a table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--workspace", type=Path, required=True)
    parser.add_argument("--protocol", type=Path, default=DEFAULT_PROTOCOL)
    parser.add_argument("--out", type=Path, default=Path("backend.json"))
    parser.add_argument("--sources", default="even,gallery-mirror")
    args = parser.parse_args()
    started = time.time()
    protocol = read_protocol(args.protocol)
    data = prepare(protocol, load_faces(args.workspace, protocol))
    even_p, _odd_p = split_by_identity(protocol.probes)
    even = {p.identity for p in even_p}
    odd_keep = [i not in even for i in data.probe_ids]
    everything = [True] * len(data.probe_ids)
    fitters = dict(grid())
    report: dict[str, Any] = {"tuning": {}, "final": []}
    for normalise in ("none", "snorm"):
        options = EngineOptions(flip=True, normalise=normalise, cohort=100)
        base = search_all(data, options)
        report["final"].append(
            {
                "normalise": normalise,
                "backend": "none",
                "source": "-",
                "all": summary(figures(base, everything)),
                "odd": summary(figures(base, odd_keep)),
            }
        )
        for source in args.sources.split(","):
            rows = tune(data, even, options, source)
            report["tuning"][f"{source}/{normalise}"] = rows
            for family in ("wccn", "lda", "plda"):
                best = min(
                    (r for r in rows if r["config"].startswith(family)),
                    key=lambda r: r["objective"],
                )
                if source == "even":
                    vecs, labels = training_set(data, even)
                else:
                    vecs, labels = data.mirror_vecs, data.mirror_labels
                searches = fitters[best["config"]](vecs, labels)(data, options)
                report["final"].append(
                    {
                        "normalise": normalise,
                        "backend": best["config"],
                        "source": source,
                        "tuning_objective": best["objective"],
                        "training_vectors": len(labels),
                        "training_classes": len(np.unique(labels)),
                        "all": summary(figures(searches, everything)),
                        "odd": summary(figures(searches, odd_keep)),
                        "odd_rank1_vs_baseline": rank1_changes(base, searches, odd_keep),
                    }
                )
                print(json.dumps(report["final"][-1]), flush=True)
    report["seconds"] = round(time.time() - started, 1)
    args.out.write_text(json.dumps(report, indent=1), encoding="utf-8")
    print_table(report["final"])


def print_table(rows: Sequence[dict[str, Any]]) -> None:
    """A markdown table: all probes and odd half side by side."""
    keys = ["rank1", "rank10", *(f"fnir@{t:g}" for t in FPIRS)]
    head = " | ".join(f"{k} all | {k} odd" for k in keys)
    print(f"| snorm | backend | trained on | {head} |")
    print("|" + "---|" * (3 + 2 * len(keys)))
    for r in rows:
        cells = " | ".join(f"{100 * r['all'][k]:.2f} | {100 * r['odd'][k]:.2f}" for k in keys)
        print(f"| {r['normalise']} | {r['backend']} | {r['source']} | {cells} |")


if __name__ == "__main__":
    main()
