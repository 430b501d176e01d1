"""Accuracy benchmark: nextofkin against the peer on LFW pairs and the 1:N protocol, same run.

The peer is the ``face_recognition`` library as its users call it: ``face_locations`` with the HOG
detector upsampled once, ``face_encodings`` of the first face, and the nearest account by
Euclidean distance (a photo where it finds no face is a miss). Both sides' per-image results are
cached (``--cache-dir``), so a rerun only recomputes what is missing.

Usage::

    python benchmarks/bench_accuracy.py [--lfw DIR] [--workers N] [--sample N] [--out DIR]

Prints both sides' figures and their ratio, writes JSON (``--out``/accuracy.json) and the DET,
CMC and degradation plots as PNG. Tuning never touches reported identities: the score
normalisation and flip options were chosen on the even-indexed identities (see
docs/ACCURACY.md), and the calibration check sets thresholds on even-indexed non-mated identities
and reports on the odd ones.
"""

from __future__ import annotations

import argparse
import json
import logging
import math
import os
import sqlite3
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "datasets" / "lfw"

log = logging.getLogger("bench_accuracy")


# --------------------------------------------------------------------------- the peer


_PEER_EMBEDDER: list[Any] = []


def _peer_encode(path: str, exact: bool = False) -> tuple[str, int, bytes]:
    """The peer's encoding of one image: (path, faces found, first face's 128 floats).

    Detection and landmarks are the peer's own calls. ``face_encodings`` then runs dlib's ResNet
    on dlib's 150x150 chip; unless ``exact``, the same network runs on ONNX Runtime instead
    (identical vectors, checked to 3e-7 on LFW; 20x faster on this machine), on the same chip.
    """
    import face_recognition
    from face_recognition import api

    image = face_recognition.load_image_file(path)
    locations = face_recognition.face_locations(image, number_of_times_to_upsample=1, model="hog")
    if not locations:
        return path, 0, b""
    if exact:
        encoding = face_recognition.face_encodings(image, locations)[0]
    else:
        import dlib

        if not _PEER_EMBEDDER:
            from nextofkin.vision.registry import default_registry

            _PEER_EMBEDDER.append(default_registry().embedder("dlib-resnet-onnx"))
        # What face_encodings does: 5-point landmarks of the first face, dlib's chip.
        shape = api._raw_face_landmarks(image, locations[:1], model="small")[0]
        chip = np.asarray(dlib.get_face_chip(image, shape, size=150, padding=0.25))
        encoding = _PEER_EMBEDDER[0].raw_descriptors([chip])[0]
    return path, len(locations), np.asarray(encoding, dtype=np.float64).tobytes()


def _peer_encode_exact(path: str) -> tuple[str, int, bytes]:
    return _peer_encode(path, exact=True)


class PeerCache:
    """The peer's encodings per image path (SQLite, written by this process only)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path))
        self.db.execute(
            "CREATE TABLE IF NOT EXISTS peer (path TEXT PRIMARY KEY, faces INT, enc BLOB)"
        )

    def encodings(
        self, paths: list[str], workers: int, exact: bool = False
    ) -> dict[str, np.ndarray | None]:
        have: dict[str, np.ndarray | None] = {}
        for start in range(0, len(paths), 500):
            part = paths[start : start + 500]
            marks = ",".join("?" * len(part))
            for p, faces, enc in self.db.execute(
                f"SELECT path, faces, enc FROM peer WHERE path IN ({marks})", part
            ):
                have[p] = np.frombuffer(enc, dtype=np.float64) if faces else None
        todo = [p for p in dict.fromkeys(paths) if p not in have]
        if todo:
            log.info("peer: encoding %d images (%d cached)", len(todo), len(have))
            t0 = time.time()
            with ProcessPoolExecutor(max_workers=workers) as pool:
                for i, (p, faces, enc) in enumerate(
                    pool.map(_peer_encode_exact if exact else _peer_encode, todo, chunksize=8), 1
                ):
                    self.db.execute("INSERT OR REPLACE INTO peer VALUES (?, ?, ?)", (p, faces, enc))
                    have[p] = np.frombuffer(enc, dtype=np.float64) if faces else None
                    if i % 200 == 0:
                        self.db.commit()
                        log.info("peer: %d/%d (%.0f s)", i, len(todo), time.time() - t0)
            self.db.commit()
        return have


def peer_pairs(pairs: list[Any], enc: dict[str, np.ndarray | None]) -> Any:
    from nextofkin.evaluation.metrics import kfold_accuracy

    scores = []
    for pair in pairs:
        a, b = enc[str(pair.left)], enc[str(pair.right)]
        # Similarity = minus the peer's distance, so "higher is more alike" like ours.
        scores.append(math.nan if a is None or b is None else -float(np.linalg.norm(a - b)))
    return kfold_accuracy(scores, [p.same for p in pairs], [p.fold for p in pairs])


def peer_protocol(protocol: Any, enc: dict[str, np.ndarray | None], top: int = 20) -> list[Any]:
    from nextofkin.evaluation.metrics import Candidate, Search

    names, rows = [], []
    for acc in protocol.gallery:
        vec = enc[str(acc.photos[0])]
        if vec is not None:
            names.append(acc.account)
            rows.append(vec)
    gallery = np.stack(rows)
    searches = []
    for probe in protocol.probes:
        vec = enc[str(probe.photo)]
        if vec is None:
            searches.append(Search(str(probe.photo), probe.mate, [], error="no face found"))
            continue
        dist = np.linalg.norm(gallery - vec, axis=1)
        order = np.argsort(dist)[:top]
        cands = [Candidate(names[i], round(-float(dist[i]), 5)) for i in order]
        searches.append(Search(str(probe.photo), probe.mate, cands))
    return searches


# --------------------------------------------------------------------------- report


def fig(res: Any) -> dict[str, float]:
    return {
        "rank1": res.rank1,
        "rank10": res.cmc[9],
        **{f"fnir@{op.target_fpir:g}": op.fnir for op in res.operating_points},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--sample", type=int, default=400, help="probes per degraded condition")
    parser.add_argument(
        "--conditions", default="all-single", help="all, all-single, none or a comma list"
    )
    parser.add_argument("--out", type=Path, default=REPO / "docs" / "benchmarks")
    parser.add_argument(
        "--cache-dir", type=Path, default=None, help="default: the workspace's cache folder"
    )
    parser.add_argument("--skip-peer", action="store_true")
    parser.add_argument(
        "--peer-exact", action="store_true", help="run face_encodings itself (20x slower here)"
    )
    parser.add_argument("--peer-only", action="store_true", help="only fill the peer's cache")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    from nextofkin.evaluation.cache import FaceCache
    from nextofkin.evaluation.degrade import combined_conditions, single_conditions
    from nextofkin.evaluation.engine import EngineOptions
    from nextofkin.evaluation.metrics import (
        det_curve,
        mated_rank1_scores,
        nonmated_top_scores,
        open_set,
    )
    from nextofkin.evaluation.plots import plot_cmc, plot_det
    from nextofkin.evaluation.protocols import read_pairs, read_protocol
    from nextofkin.evaluation.runner import (
        RunContext,
        evaluate_pairs,
        evaluate_protocol,
        model_label,
    )
    from nextofkin.settings import Settings
    from nextofkin.vision.flip import plain_embedder_name

    settings = Settings.load()
    if args.cache_dir is None:
        args.cache_dir = settings.home / "cache"
    pairs = read_pairs(args.lfw / "pairs.txt", args.lfw / "images")
    protocol = read_protocol(args.lfw / "protocol-1n.json")
    results: dict[str, Any] = {}

    peer = None
    if not args.skip_peer:
        paths = [str(p) for pr in pairs for p in (pr.left, pr.right)]
        paths += [str(p) for p in protocol.all_photos()]
        t0 = time.time()
        peer_db = "peer-exact.sqlite" if args.peer_exact else "peer.sqlite"
        enc = PeerCache(args.cache_dir / peer_db).encodings(paths, args.workers, args.peer_exact)
        if args.peer_only:
            return 0
        peer_acc = peer_pairs(pairs, enc)
        peer_res = open_set(peer_protocol(protocol, enc))
        peer_searches = peer_protocol(protocol, enc)
        peer = {"pairs": asdict(peer_acc), "protocol": fig(peer_res), "seconds": time.time() - t0}
        peer["det"] = det_curve(
            mated_rank1_scores(peer_searches), nonmated_top_scores(peer_searches)
        )
        peer["cmc"] = peer_res.cmc
        results["peer"] = {k: v for k, v in peer.items() if k not in ("det", "cmc")}

    vision = settings.vision
    vision.embedder = plain_embedder_name(vision.embedder)  # --flip is the engine's option
    if vision.embedder == "dlib-resnet":
        # The same network on ONNX Runtime: identical vectors (docs/MODELS.md), 20x faster here.
        vision.embedder = "dlib-resnet-onnx"
    ctx = RunContext(
        cache=FaceCache(args.cache_dir / "eval-faces.sqlite"),
        vision=vision,
        model=model_label(vision),
        workers=args.workers,
    )
    t0 = time.time()
    baseline = EngineOptions()
    ours = EngineOptions(flip=True, normalise="snorm", cohort=100)
    pairs_base = evaluate_pairs(ctx, pairs, baseline)
    pairs_ours = evaluate_pairs(ctx, pairs, ours)
    conditions: list[str] = []
    if args.conditions in ("all", "all-single"):
        conditions = single_conditions() + (
            combined_conditions() if args.conditions == "all" else []
        )
    elif args.conditions != "none":
        conditions = args.conditions.split(",")
    base_report = evaluate_protocol(ctx, protocol, baseline, policy=settings.decision)
    report = evaluate_protocol(
        ctx,
        protocol,
        ours,
        policy=settings.decision,
        degrade=conditions,
        sample=args.sample,
        fusion=True,
    )
    results["ours"] = {
        "model": ctx.model,
        "options": ours.label(),
        "pairs": asdict(pairs_ours.accuracy),
        "pairs_baseline": asdict(pairs_base.accuracy),
        "protocol": report.to_dict(include_searches=False),
        "protocol_baseline": fig(base_report.figures[0].result),
        "seconds": time.time() - t0,
    }

    args.out.mkdir(parents=True, exist_ok=True)
    dets = {f"nextofkin ({ours.label()})": report.det["clean"]}
    dets["nextofkin baseline"] = base_report.det["clean"]
    cmcs = {
        f"nextofkin ({ours.label()})": report.figures[0].result.cmc,
        "nextofkin baseline": base_report.figures[0].result.cmc,
    }
    if peer is not None:
        dets["face_recognition (peer)"] = peer["det"]
        cmcs["face_recognition (peer)"] = peer["cmc"]
    plot_det(dets, args.out / "accuracy-det.png", title="LFW 1:N (5,249 accounts): DET")
    plot_cmc(cmcs, args.out / "accuracy-cmc.png", title="LFW 1:N (5,249 accounts): CMC")
    if conditions:
        plot_det(
            {c: report.det[c] for c in ["clean", *conditions] if c in report.det},
            args.out / "accuracy-degraded-det.png",
            title=f"Post-mortem conditions ({report.figures[-1].probes} probes): DET",
        )
    (args.out / "accuracy.json").write_text(json.dumps(results, indent=1, default=str))

    # ---- print
    o = results["ours"]
    print(
        f"\nLFW pairs (10-fold): ours {100 * o['pairs']['mean']:.2f}% "
        f"(baseline {100 * o['pairs_baseline']['mean']:.2f}%, "
        f"{o['pairs']['failed_pairs']} pairs without a face)"
    )
    if peer is not None:
        p = peer["pairs"]
        print(
            f"                     peer {100 * p['mean']:.2f}% ({p['failed_pairs']} without a face)"
            f"; error ratio peer/ours {(1 - p['mean']) / max(1 - o['pairs']['mean'], 1e-9):.2f}"
        )
    clean = report.figures[0].result
    print("\nLFW 1:N clean, all probes:")
    print(f"{'':28s} {'rank-1':>8s} {'FNIR@0.1':>9s} {'@0.01':>7s} {'@0.003':>7s} {'@0.001':>7s}")
    rows = [("ours " + ours.label(), fig(clean)), ("ours baseline", o["protocol_baseline"])]
    if peer is not None:
        rows.append(("peer face_recognition", peer["protocol"]))
    for name, f in rows:
        print(
            f"{name:28s} {100 * f['rank1']:7.2f}% {100 * f['fnir@0.1']:8.2f}% "
            f"{100 * f['fnir@0.01']:6.2f}% {100 * f['fnir@0.003']:6.2f}% "
            f"{100 * f['fnir@0.001']:6.2f}%"
        )
    if peer is not None:
        pf = peer["protocol"]
        print(
            "ratio peer/ours: rank-1 misses "
            f"{(1 - pf['rank1']) / max(1 - clean.rank1, 1e-9):.2f}x, "
            f"FNIR@0.01 {pf['fnir@0.01'] / max(clean.fnir_at(0.01), 1e-9):.2f}x"
        )
    print("\nConditions:")
    for f in report.figures:
        r = f.result
        print(
            f"  {f.condition:14s} {f.probes:16s} rank-1 {100 * r.rank1:6.2f}%  FNIR@0.01 "
            f"{100 * r.fnir_at(0.01):6.2f}%  no face {f.no_face}"
        )
    cal = report.calibration
    if cal is not None:
        print(
            f"\nCalibration (set on {cal.calibrated_on}, checked on {cal.reported_on}): "
            f"match FPIR target {cal.target_match_fpir:g} measured {cal.measured_match_fpir}; "
            f"possible target {cal.target_possible_fpir:g} measured "
            f"{cal.measured_possible_fpir} (None: the check half holds no stranger)"
        )
    if report.fusion:
        fu = report.fusion
        print(
            f"Fusion of 3 photos: rank-1 {100 * fu.fused.rank1:.2f}% vs single "
            f"{100 * fu.single.rank1:.2f}%; "
            f"FNIR@0.01 {100 * fu.fused.fnir['0.01']:.2f}%"
            f" vs {100 * fu.single.fnir['0.01']:.2f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
