"""Search at 1M and 10M faces: nextofkin's size-chosen index beside exact FAISS and the naive scan.

The gallery is real LFW embeddings (dlib ResNet, 128-d) inside millions of synthetic vectors
drawn to match them. How the synthetic vectors are made:

* From the real faces, with identities from their LFW folder names, estimate the mean ``mu``,
  the *within-identity* covariance ``W`` (pooled deviations of each photo from its identity's
  mean) and the *between-identity* covariance ``B`` (covariance of identity means, minus the
  within part that averaging few photos leaves in them).
* A synthetic identity is a centre ``c ~ N(mu, B)``; each of its 1-5 faces (a social account's
  few photos) is ``c + N(0, W)``, L2-normalised like every embedding.
* The run checks the result: impostor similarities (faces of different identities) and genuine
  ones (same identity) of synthetic pairs beside real pairs (quantiles and a two-sample KS
  statistic), so a reader sees how close the stand-in is.

Queries are real LFW photos held out of the gallery whose identity has other photos in it, so
each search has a mated answer among a million strangers. For every method the run reports
p50/p95 search latency (one query at a time, ``k = 200`` as ``Searcher`` asks), recall@10
against exact search, rank-1 identification of the mated probes, memory per face and build time:

* **naive**: what face_recognition users write, ``face_distance(known_encodings, encoding)`` over
  every encoding (float64 arrays, as ``face_encodings`` returns them) and an ``argpartition`` for
  the top 10; timed on a subsample of queries;
* **exact FAISS**: ``IndexFlatIP``;
* **nextofkin**: :class:`~nextofkin.gallery.index.FaissIndex` with the factory that
  :func:`~nextofkin.gallery.index.plan_index` picks for the size (or ``--factory``).

At 10M (``--faces 10000000``) generation is streamed in chunks into the index; the exact top-10
and the naive scan are computed chunk by chunk on the way (latency = sum over chunks), so no
second copy of the gallery is ever held.

    python benchmarks/bench_scale.py --faces 1000000
    python benchmarks/bench_scale.py --faces 10000000 --naive-queries 3
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lfw"
EVAL_CACHE = Path.home() / ".local" / "share" / "nextofkin" / "cache" / "eval-faces.sqlite"
OWN_CACHE = Path(tempfile.gettempdir()) / "nextofkin-bench" / "lfw-embeddings.npz"
K_SEARCH = 200  # what Searcher.search_vector asks the index for
K_RECALL = 10

log = logging.getLogger("bench_scale")


# --- real embeddings ---------------------------------------------------------------------------


def _from_eval_cache(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
    """Faces of clean LFW photos the evaluation engineer's cache already holds (read-only).

    Gallery-mode entries win over probe-mode ones of the same photo (read last, they overwrite).
    """
    if not path.exists():
        return None
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30)
    try:
        rows = db.execute(
            "SELECT key, meta, vectors FROM images WHERE key LIKE '%|clean|0|%' "
            "ORDER BY key LIKE '%|gallery|%'"
        ).fetchall()
    finally:
        db.close()
    by_print: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    for key, meta_text, blob in rows:
        fingerprint, _, _, _, image = key.split("|", 4)
        meta = json.loads(meta_text)
        if not meta.get("faces") or not meta.get("dim"):
            continue
        vectors = np.frombuffer(blob, dtype=np.float32).reshape(-1, int(meta["dim"]))
        areas = [(f["box"][2] - f["box"][0]) * (f["box"][3] - f["box"][1]) for f in meta["faces"]]
        by_print[fingerprint][image] = vectors[2 * int(np.argmax(areas))]  # the main face
    if not by_print:
        return None
    best = max(by_print.values(), key=len)
    images = sorted(best)
    names = np.array([Path(p).parent.name for p in images])
    return np.stack([best[p] for p in images]).astype(np.float32), names


def _compute(limit: int) -> tuple[np.ndarray, np.ndarray]:
    """Embed LFW photos with the project's pipeline (people with several photos first)."""
    from nextofkin.settings import Settings
    from nextofkin.vision.image_io import load_image
    from nextofkin.vision.pipeline import FacePipeline
    from nextofkin.vision.registry import default_registry

    settings = Settings.load()
    pipeline = FacePipeline.from_settings(settings.vision, default_registry())
    people = sorted((LFW / "images").iterdir())
    multi = [p for p in people if len(list(p.glob("*.jpg"))) >= 2]
    single = [p for p in people if len(list(p.glob("*.jpg"))) == 1]
    photos = [f for p in multi for f in sorted(p.glob("*.jpg"))[:6]] + [
        next(iter(p.glob("*.jpg"))) for p in single
    ]
    vectors, names = [], []
    for n, photo in enumerate(photos[:limit]):
        image = load_image(photo, max_pixels=settings.vision.max_pixels, max_bytes=10**8)
        try:
            found = pipeline.analyse(image.pixels)
        except Exception:  # a photo without a face is simply skipped
            continue
        face = max(found.faces, key=lambda f: f.box.width * f.box.height)
        vectors.append(face.embedding)
        names.append(photo.parent.name)
        if n % 200 == 0:
            log.info("embedded %d / %d", n, min(limit, len(photos)))
    return np.stack(vectors).astype(np.float32), np.array(names)


def real_embeddings(minimum: int, cache: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """LFW face vectors with identities: ours cached under /tmp, the evaluation cache, or new."""
    if OWN_CACHE.exists():
        data = np.load(OWN_CACHE)
        if len(data["vectors"]) >= minimum:
            return data["vectors"], data["names"], f"{OWN_CACHE}"
    found = _from_eval_cache(cache)
    if found is not None and len(found[0]) >= minimum:
        return found[0], found[1], f"evaluation face cache {cache} ({len(found[0])} images)"
    vectors, names = _compute(minimum)
    OWN_CACHE.parent.mkdir(parents=True, exist_ok=True)
    np.savez(OWN_CACHE, vectors=vectors, names=names)
    return vectors, names, f"computed with the project's pipeline, cached in {OWN_CACHE}"


# --- the synthetic distribution ----------------------------------------------------------------


def unit(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (float32)."""
    rows = np.asarray(rows, dtype=np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


class FaceModel:
    """A two-level Gaussian fitted to real embeddings (see the module docstring)."""

    def __init__(self, vectors: np.ndarray, names: np.ndarray) -> None:
        x = vectors.astype(np.float64)
        dim = x.shape[1]
        self.mu = x.mean(axis=0)
        groups = defaultdict(list)
        for i, name in enumerate(names):
            groups[name].append(i)
        deviations, means, inverse_counts = [], [], []
        for rows in groups.values():
            if len(rows) >= 2:
                m = x[rows].mean(axis=0)
                deviations.append(x[rows] - m)
                means.append(m)
                inverse_counts.append(1.0 / len(rows))
        dev = np.concatenate(deviations)
        dof = len(dev) - len(deviations)
        within = dev.T @ dev / max(dof, 1)
        between = np.cov(np.stack(means).T) - float(np.mean(inverse_counts)) * within
        self.within = _psd_root(within, dim)
        self.between = _psd_root(between, dim)
        self.identities = len(groups)
        self.multi = len(means)

    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` unit vectors in identities of 1-5 faces; returns (vectors, identity numbers)."""
        sizes = rng.integers(1, 6, size=n)  # at most n identities
        owner = np.repeat(np.arange(n), sizes)[:n]
        identities = int(owner[-1]) + 1
        centres = self.mu + rng.standard_normal((identities, self.mu.size)) @ self.between.T
        faces = centres[owner] + rng.standard_normal((n, self.mu.size)) @ self.within.T
        return unit(faces), owner


def _psd_root(cov: np.ndarray, dim: int) -> np.ndarray:
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    values = np.clip(values, 0, None)
    return (vectors * np.sqrt(values)).reshape(dim, dim)


def similarity_check(
    real: np.ndarray, names: np.ndarray, model: FaceModel, rng: np.random.Generator
) -> dict[str, object]:
    """Impostor and genuine similarity distributions, real vs synthetic."""
    from scipy.stats import ks_2samp

    def pairs(vectors: np.ndarray, ident: np.ndarray, n: int) -> tuple[np.ndarray, np.ndarray]:
        a = rng.integers(0, len(vectors), n)
        b = rng.integers(0, len(vectors), n)
        keep = a != b
        a, b = a[keep], b[keep]
        sims = np.einsum("ij,ij->i", vectors[a], vectors[b])
        same = ident[a] == ident[b]
        # Genuine pairs are rare among random ones: add pairs drawn within identities.
        order = np.argsort(ident, kind="stable")
        sorted_ident = ident[order]
        starts = np.flatnonzero(np.r_[True, sorted_ident[1:] != sorted_ident[:-1]])
        ends = np.r_[starts[1:], len(order)]
        genuine = []
        for s, e in zip(starts, ends, strict=True):
            if e - s >= 2:
                i, j = order[s], order[s + 1]
                genuine.append(float(vectors[i] @ vectors[j]))
        return sims[~same], np.asarray(genuine)

    real_ident = np.unique(names, return_inverse=True)[1]
    synth, owner = model.sample(max(20_000, len(real)), rng)
    real_imp, real_gen = pairs(real, real_ident, 200_000)
    syn_imp, syn_gen = pairs(synth, owner, 200_000)
    qs = [0.5, 0.9, 0.99, 0.999, 0.9999]

    def summary(a: np.ndarray) -> dict[str, float]:
        return {
            "mean": round(float(a.mean()), 4),
            "std": round(float(a.std()), 4),
            **{f"q{q}": round(float(np.quantile(a, q)), 4) for q in qs},
        }

    return {
        "impostor_real": summary(real_imp),
        "impostor_synthetic": summary(syn_imp),
        "impostor_ks": round(float(ks_2samp(real_imp, syn_imp).statistic), 4),
        "genuine_real": summary(real_gen),
        "genuine_synthetic": summary(syn_gen[:5000]),
        "genuine_ks": round(float(ks_2samp(real_gen, syn_gen[:5000]).statistic), 4),
    }


# --- measuring ---------------------------------------------------------------------------------


def rss_bytes() -> int:
    """This process's resident memory now."""
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def percentiles(times: list[float]) -> dict[str, float]:
    """p50 / p95 / mean in milliseconds."""
    ms = sorted(t * 1000 for t in times)
    return {
        "p50_ms": round(statistics.median(ms), 3),
        "p95_ms": round(ms[min(len(ms) - 1, round(0.95 * (len(ms) - 1)))], 3),
        "mean_ms": round(statistics.fmean(ms), 3),
    }


def recall_at(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Mean fraction of the exact top-``k`` found in the returned top-``k``."""
    hits = [
        len(set(f[:k].tolist()) & set(t[:k].tolist())) / k
        for f, t in zip(found, truth, strict=True)
    ]
    return round(float(np.mean(hits)), 4)


class TopK:
    """A running exact top-k per query over chunks of the gallery."""

    def __init__(self, queries: np.ndarray, k: int) -> None:
        self.queries = queries
        self.k = k
        self.scores = np.full((len(queries), k), -np.inf, dtype=np.float32)
        self.ids = np.full((len(queries), k), -1, dtype=np.int64)

    def update(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        sims = self.queries @ vectors.T
        top = np.argpartition(-sims, min(self.k, sims.shape[1] - 1), axis=1)[:, : self.k]
        cand_scores = np.concatenate([self.scores, np.take_along_axis(sims, top, 1)], axis=1)
        cand_ids = np.concatenate([self.ids, ids[top]], axis=1)
        order = np.argsort(-cand_scores, axis=1)[:, : self.k]
        self.scores = np.take_along_axis(cand_scores, order, 1)
        self.ids = np.take_along_axis(cand_ids, order, 1)


def naive_search(encodings: np.ndarray, query: np.ndarray) -> np.ndarray:
    """face_recognition's way: distances to every encoding, then the 10 nearest."""
    import face_recognition

    distances = face_recognition.face_distance(encodings, query)
    return np.argpartition(distances, K_RECALL)[:K_RECALL]


def markdown(summary: dict[str, object]) -> str:
    """A results table for docs/benchmarks/scale.md from one run's JSON."""
    results = summary["results"]
    assert isinstance(results, dict)
    lines = [
        f"#### {int(summary['faces']):,} faces ({int(summary['real_faces']):,} real LFW, "
        f"the rest synthetic); {summary['machine']}",
        "",
        "| method | index | p50 ms | p95 ms | recall@10 | rank-1 (mated) | bytes/face | build s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    names = {
        "nextofkin": "nextofkin",
        "exact_faiss": "exact FAISS",
        "naive_face_distance": "naive `face_distance`",
    }
    for key, label in names.items():
        row = results.get(key)
        if not row:
            continue
        timed = f" ({row['queries_timed']} queries)" if "queries_timed" in row else ""
        lines.append(
            f"| {label}{timed} | {row.get('factory', 'numpy float64')} | {row['p50_ms']} | "
            f"{row['p95_ms']} | {row['recall@10']} | {row.get('rank1_mated', '')} | "
            f"{row['bytes_per_face_file']} | {row.get('build_s', '')} |"
        )
    for row in results["nextofkin"].get("sweep", []):
        measured = {"p50_ms", "p95_ms", "mean_ms", "recall@10", "rank1_mated"}
        setting = ", ".join(f"{k}={v}" for k, v in row.items() if k not in measured)
        lines.append(
            f"| nextofkin, {setting} | same index | {row['p50_ms']} | {row['p95_ms']} | "
            f"{row['recall@10']} | {row['rank1_mated']} | | |"
        )
    lines += [
        "",
        f"Speed-up of nextofkin at p50: **{summary['speedup_vs_naive_p50']}x** the naive scan, "
        f"{summary['speedup_vs_exact_p50']}x exact FAISS. Resident memory grew by "
        f"{summary['rss_growth_bytes_per_face']} B per face during the build (all indexes of the "
        f"run together); peak RSS {summary['peak_rss_gib']} GiB.",
    ]
    return "\n".join(lines)


# --- the run -----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--faces", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--naive-queries", type=int, default=20)
    parser.add_argument("--factory", default=None, help="override the size-chosen factory")
    parser.add_argument("--chunk", type=int, default=500_000)
    parser.add_argument("--threads", type=int, default=2, help="FAISS threads for building")
    parser.add_argument(
        "--exact",
        choices=["index", "stream"],
        default=None,
        help="exact FAISS as a held IndexFlatIP (default up to 2M faces) or chunk by chunk",
    )
    parser.add_argument("--real-cache", type=Path, default=EVAL_CACHE)
    parser.add_argument("--min-real", type=int, default=3000)
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", type=Path, help="print a saved run's JSON as markdown")
    parser.add_argument(
        "--sweep",
        action="append",
        default=[],
        help="also measure nextofkin with a search parameter at other values, e.g. "
        "efSearch=256,512,1024, nprobe=32,128 or k_factor=64:nprobe=512,1024 (repeatable)",
    )
    args = parser.parse_args()
    if args.report:
        print(markdown(json.loads(args.report.read_text())))
        return
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    import faiss

    from nextofkin.gallery.index import FaissIndex, plan_index
    from nextofkin.settings import IndexSettings
    from nextofkin.vision.models import EmbedderSpec

    rng = np.random.default_rng(args.seed)
    real, names, origin = real_embeddings(args.min_real, args.real_cache)
    real = unit(real)
    log.info("real faces: %d from %s", len(real), origin)
    model = FaceModel(real, names)
    check = similarity_check(real, names, model, np.random.default_rng(args.seed + 1))
    log.info("similarity check: %s", json.dumps(check))

    # Held-out mated probes: one photo of each identity with >= 2 photos.
    by_name: dict[str, list[int]] = defaultdict(list)
    for i, name in enumerate(names):
        by_name[name].append(i)
    multi = [rows for rows in by_name.values() if len(rows) >= 2]
    rng.shuffle(multi)
    probe_rows = [rows[0] for rows in multi[: args.queries]]
    probe_names = names[probe_rows]
    queries = real[probe_rows]
    gallery_real = np.setdiff1d(np.arange(len(real)), probe_rows)
    n_real = len(gallery_real)
    n_total = args.faces
    n_synth = n_total - n_real
    # Real faces get the first ids; synthetic ones follow.
    real_ids = np.arange(n_real, dtype=np.int64)
    real_vectors = real[gallery_real]
    mated = {
        i: set(np.flatnonzero(names[gallery_real] == probe_names[i]).tolist())
        for i in range(len(probe_rows))
    }
    exact_mode = args.exact or ("index" if n_total <= 2_000_000 else "stream")

    policy = IndexSettings()
    plan = plan_index(n_total, policy, args.factory)
    spec = EmbedderSpec("dlib-resnet-v1", real.shape[1], "dlib-5pt-150-pad0.25", 0.82, 0.875)
    workdir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    ours = FaissIndex.create(workdir, spec, plan, policy=policy)
    log.info("gallery %d faces (%d real, %d synthetic); index %s", n_total, n_real, n_synth,
             plan.factory)  # fmt: skip

    def chunks() -> object:
        yield real_ids, real_vectors
        made = 0
        chunk_rng = np.random.default_rng(args.seed + 7)
        while made < n_synth:
            n = min(args.chunk, n_synth - made)
            vectors, _ = model.sample(n, chunk_rng)
            yield np.arange(n_real + made, n_real + made + n, dtype=np.int64), vectors
            made += n

    import face_recognition  # noqa: F401 - loads dlib's models at import: not in the timings

    faiss.omp_set_num_threads(args.threads)
    truth = TopK(queries, K_RECALL)
    naive_q = queries[: args.naive_queries].astype(np.float64)
    naive_times = np.zeros(len(naive_q))
    naive_top: list[list[tuple[float, int]]] = [[] for _ in naive_q]
    exact_index = faiss.IndexFlatIP(real.shape[1]) if exact_mode == "index" else None
    exact_stream_times = np.zeros(min(len(queries), 20))
    rss0 = rss_bytes()
    build_seconds = 0.0
    train_seconds = 0.0
    exact_build = 0.0
    trained = False
    for ids, vectors in chunks():  # type: ignore[attr-defined]
        truth.update(ids, vectors)
        if exact_index is not None:
            t = time.perf_counter()
            exact_index.add(vectors)
            exact_build += time.perf_counter() - t
        else:
            # Exact FAISS latency at this size: a flat scan of each chunk, summed per query.
            flat = faiss.IndexFlatIP(real.shape[1])
            flat.add(vectors)
            faiss.omp_set_num_threads(1)
            for qi in range(len(exact_stream_times)):
                t = time.perf_counter()
                flat.search(queries[qi : qi + 1], K_SEARCH)
                exact_stream_times[qi] += time.perf_counter() - t
            faiss.omp_set_num_threads(args.threads)
            del flat
        if len(naive_q):
            encodings = vectors.astype(np.float64)  # face_recognition's encodings are float64
            for qi, q in enumerate(naive_q):
                t = time.perf_counter()
                top = naive_search(encodings, q)
                naive_times[qi] += time.perf_counter() - t
                d = np.linalg.norm(encodings[top] - q, axis=1)
                naive_top[qi].extend(zip(d.tolist(), ids[top].tolist(), strict=True))
            del encodings
        if not trained:
            t = time.perf_counter()
            if plan.factory != "Flat" and not ours.is_trained:
                pool = vectors if len(vectors) >= policy.train_max else None
                if pool is None:
                    extra, _ = model.sample(policy.train_max, np.random.default_rng(99))
                    pool = np.concatenate([vectors, extra])
                sample = pool[rng.choice(len(pool), policy.train_max, replace=False)]
                ours.train(sample)
            train_seconds = time.perf_counter() - t
            trained = True
        t = time.perf_counter()
        ours.add(ids, vectors)
        build_seconds += time.perf_counter() - t
        log.info("added %d / %d (build %.0f s so far)", len(ours), n_total,
                 build_seconds + train_seconds)  # fmt: skip
    rss_after = rss_bytes()
    faiss.omp_set_num_threads(1)  # latency: one query, one core, like one identify call

    def measure(search: object) -> tuple[list[float], np.ndarray]:
        times, found = [], []
        for q in queries:
            t = time.perf_counter()
            _, ids = search(q[None, :], K_SEARCH)  # type: ignore[operator]
            times.append(time.perf_counter() - t)
            found.append(ids[0])
        return times, np.stack(found)

    def rank1(found: np.ndarray) -> float:
        return round(float(np.mean([int(f[0]) in mated[i] for i, f in enumerate(found)])), 4)

    ours_times, ours_found = measure(ours.search)
    results: dict[str, dict[str, object]] = {}
    ours_file = workdir / "ours.faiss"
    ours.write_data(ours_file)
    results["nextofkin"] = {
        "factory": plan.factory,
        "params": ours.description.params,
        **percentiles(ours_times),
        "recall@10": recall_at(ours_found, truth.ids, K_RECALL),
        "rank1_mated": rank1(ours_found),
        "bytes_per_face_file": round(ours_file.stat().st_size / n_total, 1),
        "train_s": round(train_seconds, 1),
        "build_s": round(build_seconds + train_seconds, 1),
    }
    ours_file.unlink()
    sweeps = []
    for spec_text in args.sweep:
        # "k_factor=64:nprobe=512,1024": k_factor fixed at 64 while nprobe takes each value.
        *fixed_parts, swept = spec_text.split(":")
        fixed = {k: int(v) for k, _, v in (f.partition("=") for f in fixed_parts)}
        key, _, values = swept.partition("=")
        saved = dict(ours.description.params)
        for value in values.split(","):
            ours.description.params = {**saved, **fixed, key: int(value)}
            times, found = measure(ours.search)
            sweeps.append(
                {
                    **fixed,
                    key: int(value),
                    **percentiles(times),
                    "recall@10": recall_at(found, truth.ids, K_RECALL),
                    "rank1_mated": rank1(found),
                }
            )
            log.info("sweep %s", sweeps[-1])
        ours.description.params = saved
    results["nextofkin"]["sweep"] = sweeps
    if exact_index is not None:
        exact_times, exact_found = measure(exact_index.search)
        results["exact_faiss"] = {
            "factory": "IndexFlatIP",
            **percentiles(exact_times),
            "recall@10": recall_at(exact_found, truth.ids, K_RECALL),
            "rank1_mated": rank1(exact_found),
            "bytes_per_face_file": 4 * real.shape[1],
            "build_s": round(exact_build, 1),
        }
    else:
        exact_truth = truth.ids
        results["exact_faiss"] = {
            "factory": "IndexFlatIP (chunk by chunk)",
            **percentiles(list(exact_stream_times)),
            "recall@10": 1.0,
            "rank1_mated": rank1(exact_truth),
            "bytes_per_face_file": 4 * real.shape[1],
            "queries_timed": len(exact_stream_times),
        }
    if len(naive_q):
        naive_found = np.array(
            [[i for _, i in sorted(top)[:K_RECALL]] for top in naive_top], dtype=np.int64
        )
        results["naive_face_distance"] = {
            **percentiles(list(naive_times)),
            "recall@10": recall_at(naive_found, truth.ids[: len(naive_q)], K_RECALL),
            "bytes_per_face_file": 8 * real.shape[1],
            "queries_timed": len(naive_q),
        }
    naive_p50 = results.get("naive_face_distance", {}).get("p50_ms")
    ours_p50 = results["nextofkin"]["p50_ms"]
    summary = {
        "faces": n_total,
        "real_faces": n_real,
        "real_origin": origin,
        "queries": len(queries),
        "k_search": K_SEARCH,
        "machine": f"{os.cpu_count()} cores, load {os.getloadavg()[0]:.1f}",
        "rss_growth_bytes_per_face": round((rss_after - rss0) / n_total, 1),
        "peak_rss_gib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 2**30, 2),
        "similarity_check": check,
        "results": results,
        "speedup_vs_naive_p50": round(float(naive_p50) / float(ours_p50), 1)  # type: ignore[arg-type]
        if naive_p50
        else None,
        "speedup_vs_exact_p50": round(
            float(results["exact_faiss"]["p50_ms"]) / float(ours_p50),  # type: ignore[arg-type]
            1,
        ),
    }
    text = json.dumps(summary, indent=1)
    print(text)
    out = args.out or Path(tempfile.gettempdir()) / "nextofkin-bench" / f"scale-{n_total}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    print(
        f"\n{n_total:,} faces: nextofkin {plan.factory} p50 {ours_p50} ms, "
        f"recall@10 {results['nextofkin']['recall@10']}; exact FAISS p50 "
        f"{results['exact_faiss']['p50_ms']} ms; naive face_distance p50 {naive_p50} ms "
        f"-> {summary['speedup_vs_naive_p50']}x faster than naive, "
        f"{summary['speedup_vs_exact_p50']}x faster than exact",
        file=sys.stderr,
    )


if __name__ == "__main__":
    main()
