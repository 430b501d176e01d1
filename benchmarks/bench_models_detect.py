"""BlazeFace (back camera, converted from TF.js) against dlib's HOG: recall and CPU cost, same run.

Issue 17 #4. On a fixed sample of LFW images (the first photo of every ``--step``-th person), each
detector runs as the pipeline runs it (HOG upsampled once, as for any photo under 800 px;
BlazeFace alone and with its tiles, ``upsample=1``) on the clean photo and on each degradation of
``evaluation/degrade.py``. A face counts as found when a box contains the face's centre (LFW's
framing, moved by the same geometry as the photo) and is at least a third of its expected width.
Nothing is tuned here: BlazeFace keeps its threshold of 0.5 and its NMS IoU of 0.3.

Head turn: the sample is binned by how far the nose base sits from the eyes' midpoint, in eye
distances, with dlib's five points placed on the box of dlib's CNN detector (MMOD, which finds
turned heads HOG misses). About 0.25 is a quarter turn of the head; this is a proxy from 2-d
points, not a measured angle.

CPU time is process time per image (the machine is shared: wall time is not meaningful here).

Usage::

    python benchmarks/bench_models_detect.py [--lfw DIR] [--step 10] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "datasets" / "lfw"
CONDITIONS = [
    "clean",
    "small",
    "defocus",
    "motion",
    "lowlight",
    "jpeg",
    "occlusion",
    "tilt30",
    "rot90",
]
FACE_CENTRE = (0.485, 0.535)  # LFW framing: face box x 0.27-0.70, y 0.32-0.75 (degrade.py)
FACE_WIDTH = 0.43


def _expected(
    cond: str, shape: tuple[int, ...], orig: tuple[int, int]
) -> tuple[float, float, float]:
    """(x, y, face width) of the face in the degraded image."""
    w = shape[1]
    oh, ow = orig
    cx, cy = FACE_CENTRE[0] * ow, FACE_CENTRE[1] * oh
    if cond == "rot90":  # counter-clockwise quarter turn: (x, y) -> (y, W - x)
        return cy, ow - cx, FACE_WIDTH * ow
    if cond == "tilt30":
        a = np.deg2rad(30.0)
        dx, dy = cx - ow / 2, cy - oh / 2
        return (
            ow / 2 + np.cos(a) * dx + np.sin(a) * dy,
            oh / 2 - np.sin(a) * dx + np.cos(a) * dy,
            FACE_WIDTH * ow,
        )
    k = w / ow  # "small" rescales the whole photo
    return cx * k, cy * k, FACE_WIDTH * ow * k


def _found(dets: list[Any], x: float, y: float, width: float) -> bool:
    return any(
        d.box.left <= x <= d.box.right
        and d.box.top <= y <= d.box.bottom
        and d.box.width >= width / 3
        for d in dets
    )


def _turn(img: np.ndarray, mmod: Any, marks: Any) -> float | None:
    dets = mmod.detect(img, 0)  # LFW faces (~100 px) need no upsampling
    if not dets:
        return None
    w = img.shape[1]
    best = min(dets, key=lambda d: abs((d.box.left + d.box.right) / 2 - w / 2))
    p = marks.locate(img, best.box)
    eyes = ((p[0] + p[1]) / 2, (p[2] + p[3]) / 2)
    mid = (eyes[0] + eyes[1]) / 2
    dist = float(np.hypot(*(eyes[0] - eyes[1])))
    return float(abs(p[4][0] - mid[0]) / max(dist, 1e-6))


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--step", type=int, default=10)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args()
    sys.path.insert(0, str(REPO / "src"))
    from PIL import Image

    from nextofkin.evaluation.degrade import condition
    from nextofkin.vision.dlib_models import DlibFivePoint, HogDetector
    from nextofkin.vision.dlib_onnx.runtime import OnnxMmodDetector
    from nextofkin.vision.onnx_runtime import OnnxRuntime
    from nextofkin.vision.tfjs_onnx.blazeface import BlazeFaceDetector

    people = sorted(p for p in (args.lfw / "images").iterdir() if p.is_dir())[:: args.step]
    paths = [sorted(p.iterdir())[0] for p in people]
    detectors = {
        "hog (upsample 1)": (HogDetector(), 1),
        "blazeface-back": (BlazeFaceDetector(OnnxRuntime("cpu")), 0),
        "blazeface-back + tiles": (BlazeFaceDetector(OnnxRuntime("cpu")), 1),
    }
    mmod, marks = OnnxMmodDetector(device="cpu"), DlibFivePoint()
    hits = {d: dict.fromkeys(CONDITIONS, 0) for d in detectors}
    cpu = dict.fromkeys(detectors, 0.0)
    turns: list[float | None] = []
    turned_hits: dict[str, list[bool]] = {d: [] for d in detectors}
    for path in paths:
        img = np.asarray(Image.open(path).convert("RGB"))
        turns.append(_turn(img, mmod, marks))
        for cond in CONDITIONS:
            view = img if cond == "clean" else condition(cond).apply(img, seed=0, key=path.name)
            x, y, width = _expected(cond, view.shape, img.shape[:2])
            for name, (det, up) in detectors.items():
                t = time.process_time()
                dets = det.detect(view, up)
                if cond == "clean":
                    cpu[name] += time.process_time() - t
                    turned_hits[name].append(_found(dets, x, y, width))
                hits[name][cond] += _found(dets, x, y, width)
    n = len(paths)
    bins = [(0.0, 0.1), (0.1, 0.2), (0.2, 0.3), (0.3, 9.0)]
    report: dict[str, Any] = {"images": n, "recall": {}, "cpu_ms": {}, "turn_bins": {}}
    print(f"{n} LFW images (every {args.step}th person); recall by condition:")
    print(f"{'detector':24s} " + " ".join(f"{c:>9s}" for c in CONDITIONS) + "   CPU ms/img (clean)")
    for name in detectors:
        report["recall"][name] = {c: hits[name][c] / n for c in CONDITIONS}
        report["cpu_ms"][name] = 1000 * cpu[name] / n
        print(
            f"{name:24s} "
            + " ".join(f"{100 * hits[name][c] / n:8.1f}%" for c in CONDITIONS)
            + f"   {report['cpu_ms'][name]:.1f}"
        )
    hog = report["cpu_ms"]["hog (upsample 1)"]
    for name in detectors:
        print(f"  CPU ratio hog / {name}: {hog / report['cpu_ms'][name]:.2f}x")
    print(
        "clean recall by head turn "
        "(nose offset from the eyes' midpoint, eye distances; MMOD + dlib-5):"
    )
    for lo, hi in bins:
        idx = [i for i, t in enumerate(turns) if t is not None and lo <= t < hi]
        row = {
            name: (sum(turned_hits[name][i] for i in idx) / len(idx) if idx else None)
            for name in detectors
        }
        report["turn_bins"][f"{lo}-{hi}"] = {"images": len(idx), **row}
        print(
            f"  {lo:.1f}-{hi:.1f}: {len(idx):4d} images  "
            + "  ".join(f"{k} {100 * v:.1f}%" for k, v in row.items() if v is not None)
        )
    print(f"  no MMOD face (turn unknown): {sum(t is None for t in turns)}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
