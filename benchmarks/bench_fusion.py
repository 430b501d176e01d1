"""dlib, MobileFaceNet and their fusion on LFW pairs, clean and degraded, beside the peer.

Issue 17 #3: fusion learned honestly. Every image of the pair lists goes through the product's
own steps: HOG with one upsampling (the face nearest the centre), dlib's five points, then
``dlib-resnet-onnx-flip`` (the default) and ``faceplugin-mfn`` (its plain and mirrored chip; the
flip-averaged vector is their unit mean, as ``faceplugin-mfn-flip`` computes it).

Chosen on LFW's development pairs (``pairsDevTrain.txt``, View 1) and nothing else:

- each model's score spread σ (standard deviation of its cosines over the development pairs);
- the fusion weight ``w`` on dlib's z-scored cosine (0.00-1.00 by 0.05; the best development
  accuracy, ties going to the weight nearest 0.5), hence ``a = w/σ_dlib`` and
  ``b = (1 - w)/σ_mfn`` (printed; ``vision/mobilefacenet.py`` holds them);
- the operating points (cosine accepting 1% and 0.1% of the development impostor pairs).

Reported once on ``pairs.txt``: ten folds, each fold's threshold chosen on the other nine. The
degraded figures degrade the second image of every pair of the folds ``--degraded-folds`` with
:mod:`nextofkin.evaluation.degrade` (seed 7), thresholds chosen on the other degraded folds. A pair
where no face was found counts as wrong. The peer, ``face_recognition`` as installed (distance
<= 0.6 and its own best threshold, ten folds), runs on the clean pairs in the same run.
``--template`` instead learns where dlib's five points sit in MobileFaceNet's ArcFace frame, on the
development pairs (the constant ``DLIB5_IN_ARCFACE112``).

Vectors are cached under ``--cache`` by image and condition, so a rerun only computes what changed.
The machine is shared: no timings here (``bench_ingest.py``, ``bench_models.py``).

Usage::

    python benchmarks/bench_fusion.py [--conditions defocus,motion,...] [--degraded-folds 3]
        [--peer] [--workers 2] [--json out.json]
    python benchmarks/bench_fusion.py --template
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "datasets" / "lfw"
sys.path.insert(0, str(REPO / "src"))
# The ArcFace 112x112 template (InsightFace's five points: eye centres, nose tip, mouth corners).
ARCFACE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)
_W: dict[str, Any] = {}


def _init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from nextofkin.settings import VisionSettings
    from nextofkin.vision.dlib_models import DlibFivePoint, HogDetector
    from nextofkin.vision.registry import default_registry

    registry = default_registry(VisionSettings(device="cpu"))
    _W["det"], _W["lm"] = HogDetector(), DlibFivePoint()
    _W["dlib"] = registry.embedder("dlib-resnet-onnx-flip")
    _W["mfn"] = registry.embedder("faceplugin-mfn")


def _face(img: np.ndarray) -> Any:
    dets = _W["det"].detect(img, 1)
    if not dets:
        return None
    cx, cy = img.shape[1] / 2, img.shape[0] / 2
    return min(
        dets,
        key=lambda d: (
            (d.box.left + d.box.right - 2 * cx) ** 2 + (d.box.top + d.box.bottom - 2 * cy) ** 2
        ),
    ).box


def _load(job: tuple[str, str]) -> np.ndarray:
    from PIL import Image

    from nextofkin.evaluation.degrade import condition

    path, cond = job
    img = np.asarray(Image.open(path).convert("RGB"))
    if cond != "clean":
        img = condition(cond).apply(img, seed=7, key=path)
    return np.ascontiguousarray(img)


def _vectors(job: tuple[str, str]) -> tuple[tuple[str, str], Any]:
    """(dlib flip vector, MFN plain, MFN mirrored) of one image's centre face, or None."""
    if not _W:
        _init()
    img = _load(job)
    box = _face(img)
    if box is None:
        return job, None
    pts = _W["lm"].locate(img, box)
    d = _W["dlib"].embed([_W["dlib"].align(img, pts)])[0]
    chip = _W["mfn"].align(img, pts)
    m = _W["mfn"].embed([chip, np.ascontiguousarray(chip[:, ::-1])])
    return job, (d, m[0], m[1])


def _template_point(path: str) -> Any:
    """dlib's five points mapped into the ArcFace frame by the warp InsightFace's template gets
    from dlib's 68 points (eye centres, nose tip, mouth corners)."""
    import dlib
    import face_recognition_models

    from nextofkin.vision.mobilefacenet import similarity_transform

    if "sp68" not in _W:
        _W["sp68"] = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    img = _load((path, "clean"))
    box = _face(img)
    if box is None:
        return None
    rect = dlib.rectangle(int(box.left), int(box.top), int(box.right), int(box.bottom))
    p = np.array([[q.x, q.y] for q in _W["sp68"](img, rect).parts()], dtype=np.float64)
    five = np.array([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])
    m = similarity_transform(five, ARCFACE_112)
    pts = np.asarray(_W["lm"].locate(img, box), dtype=np.float64)
    return np.c_[pts, np.ones(len(pts))] @ m.T


def _pairs(lfw: Path, name: str) -> list[Any]:
    from nextofkin.evaluation.protocols import read_pairs

    return read_pairs(lfw / name, lfw / "images")


def _cached(cache: Path, jobs: list[tuple[str, str]], pool: ProcessPoolExecutor) -> dict[Any, Any]:
    file = cache / "fusion-vectors.npz"
    have: dict[Any, Any] = {}
    if file.is_file():
        have = dict(np.load(file, allow_pickle=True)["items"].item())
    todo = [j for j in jobs if j not in have]
    cache.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(todo), 512):
        have.update(pool.map(_vectors, todo[start : start + 512], chunksize=8))
        np.savez(file, items=np.array(have, dtype=object))
        print(f"    vectors: {min(start + 512, len(todo))}/{len(todo)}", flush=True)
    return have


def _scores(pairs: list[Any], vec: dict[Any, Any], cond: str) -> dict[str, np.ndarray]:
    """Cosines per model for each pair (NaN where a face is missing)."""
    out: dict[str, list[float]] = {"dlib": [], "mfn": [], "mfn-flip": []}
    for p in pairs:
        a, b = vec.get((str(p.left), "clean")), vec.get((str(p.right), cond))
        if a is None or b is None:
            for v in out.values():
                v.append(np.nan)
            continue
        fa, fb = _unit(a[1] + a[2]), _unit(b[1] + b[2])
        out["dlib"].append(float(a[0] @ b[0]))
        out["mfn"].append(float(a[1] @ b[1]))
        out["mfn-flip"].append(float(fa @ fb))
    return {k: np.array(v) for k, v in out.items()}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v)


def _accuracy_at_best(scores: np.ndarray, same: np.ndarray) -> float:
    from nextofkin.evaluation.metrics import best_threshold

    ok = ~np.isnan(scores)
    t = best_threshold(scores[ok], same[ok])
    return float(np.where(ok, (scores >= t) == same, False).mean())


def _fused(s: dict[str, np.ndarray], a: float, b: float) -> np.ndarray:
    return (a * s["dlib"] + b * s["mfn-flip"]) / (a + b)


def _operating_points(scores: np.ndarray, same: np.ndarray) -> tuple[float, float]:
    """Cosines accepting 1% and 0.1% of the impostor pairs."""
    impostors = np.sort(scores[(~same) & ~np.isnan(scores)])
    return (
        float(np.quantile(impostors, 0.99)),
        float(np.quantile(impostors, 0.999)),
    )


def _choose(dev: dict[str, np.ndarray], dev_y: np.ndarray) -> dict[str, Any]:
    """σ, w, a, b and the operating points, from the development pairs only."""
    ok = ~np.isnan(dev["dlib"])
    sd, sm = float(np.std(dev["dlib"][ok])), float(np.std(dev["mfn-flip"][ok]))
    weights = np.round(np.arange(0.0, 1.0001, 0.05), 2)
    accs = {
        float(w): _accuracy_at_best(_fused(dev, w / sd, (1 - w) / sm if w < 1 else 0.0), dev_y)
        for w in weights
        if w > 0
    }
    best = max(accs.values())
    w = min((k for k, v in accs.items() if v == best), key=lambda k: abs(k - 0.5))
    a, b = w / sd, (1 - w) / sm
    a, b = a / (a + b), b / (a + b)
    return {
        "sigma_dlib": sd,
        "sigma_mfn_flip": sm,
        "w_dlib": w,
        "dev_accuracy_by_w": accs,
        "a": a,
        "b": b,
        "points_mfn": _operating_points(dev["mfn"], dev_y),
        "points_mfn_flip": _operating_points(dev["mfn-flip"], dev_y),
        "points_fused": _operating_points(_fused(dev, a, b), dev_y),
    }


def _report(
    name: str, test: list[Any], vec: dict[Any, Any], cond: str, a: float, b: float
) -> dict[str, Any]:
    from nextofkin.evaluation.metrics import kfold_accuracy

    y = np.array([p.same for p in test])
    folds = np.array([p.fold for p in test])
    s = _scores(test, vec, cond)
    s["fused"] = _fused(s, a, b)
    row: dict[str, Any] = {"pairs": len(test), "no_face": int(np.isnan(s["dlib"]).sum())}
    for model in ("dlib", "mfn-flip", "fused"):
        acc = kfold_accuracy(s[model], y, folds)
        row[model] = {"accuracy": acc.mean, "std": acc.std}
    print(
        f"  {name:10s} pairs {len(test):5d}  no face {row['no_face']:4d}  "
        + "  ".join(f"{m} {100 * row[m]['accuracy']:.2f}%" for m in ("dlib", "mfn-flip", "fused"))
        + f"  (fused - dlib {100 * (row['fused']['accuracy'] - row['dlib']['accuracy']):+.2f})",
        flush=True,
    )
    return row


def _peer(test: list[Any], workers: int) -> dict[str, Any]:
    from nextofkin.evaluation.metrics import kfold_accuracy

    paths = sorted({str(q) for p in test for q in (p.left, p.right)})
    with ProcessPoolExecutor(workers) as pool:
        enc = dict(zip(paths, pool.map(_peer_encoding, paths, chunksize=16), strict=True))
    y = np.array([p.same for p in test])
    folds = np.array([p.fold for p in test])
    dist = np.array(
        [
            9.0
            if enc[str(p.left)] is None or enc[str(p.right)] is None
            else float(np.linalg.norm(enc[str(p.left)] - enc[str(p.right)]))
            for p in test
        ]
    )
    fixed = float(((dist <= 0.6) == y).mean())
    tuned = kfold_accuracy(-dist, y, folds)
    print(f"  peer face_recognition: {100 * fixed:.2f}% at 0.6, {100 * tuned.mean:.2f}% ten-fold")
    return {"at_0.6": fixed, "ten_fold": tuned.mean, "std": tuned.std}


def _peer_encoding(path: str) -> Any:
    import face_recognition

    img = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(img, 1)
    if not boxes:
        return None
    h, w = img.shape[:2]
    box = min(boxes, key=lambda b: (b[1] + b[3] - w) ** 2 + (b[0] + b[2] - h) ** 2)
    return face_recognition.face_encodings(img, [box])[0]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--conditions", default="defocus,motion,lowlight,jpeg,occlusion,greyblue,small")
    ap.add_argument("--degraded-folds", type=int, default=3)
    ap.add_argument("--peer", action="store_true", help="run face_recognition on the clean pairs")
    ap.add_argument("--template", action="store_true", help="learn DLIB5_IN_ARCFACE112 on dev")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "nextofkin" / "bench-fusion"
    )
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    dev = _pairs(args.lfw, "pairsDevTrain.txt")
    dev_paths = sorted({str(q) for p in dev for q in (p.left, p.right)})
    if args.template:
        with ProcessPoolExecutor(args.workers, initializer=_init) as pool:
            pts = [r for r in pool.map(_template_point, dev_paths, chunksize=16) if r is not None]
        mean = np.mean(pts, axis=0)
        print(f"{len(pts)} development faces; DLIB5_IN_ARCFACE112 =\n{np.round(mean, 2).tolist()}")
        return 0
    test = _pairs(args.lfw, "pairs.txt")
    degraded = [p for p in test if p.fold < args.degraded_folds]
    conditions = [c for c in args.conditions.split(",") if c]
    jobs = sorted(
        {(p, "clean") for p in dev_paths}
        | {(str(q), "clean") for p in test for q in (p.left, p.right)}
        | {(str(p.right), c) for p in degraded for c in conditions}
    )
    with ProcessPoolExecutor(args.workers, initializer=_init) as pool:
        vec = _cached(args.cache, jobs, pool)
    dev_y = np.array([p.same for p in dev])
    chosen = _choose(_scores(dev, vec, "clean"), dev_y)
    a, b = chosen["a"], chosen["b"]
    print(
        f"development pairs: sigma dlib {chosen['sigma_dlib']:.4f}, mfn-flip "
        f"{chosen['sigma_mfn_flip']:.4f}; w_dlib {chosen['w_dlib']:.2f} -> a {a:.4f}, b {b:.4f}"
    )
    for key in ("points_mfn", "points_mfn_flip", "points_fused"):
        print(f"  {key}: FAR 1% at {chosen[key][0]:.4f}, 0.1% at {chosen[key][1]:.4f}")
    report: dict[str, Any] = {"chosen": chosen, "pairs.txt": {}}
    print("pairs.txt, ten folds:")
    report["pairs.txt"]["clean"] = _report("clean", test, vec, "clean", a, b)
    print(f"pairs.txt folds 1-{args.degraded_folds}, second image degraded:")
    report["degraded"] = {"clean": _report("clean", degraded, vec, "clean", a, b)}
    for c in conditions:
        report["degraded"][c] = _report(c, degraded, vec, c, a, b)
    if args.peer:
        report["peer"] = _peer(test, args.workers)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
