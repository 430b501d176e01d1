"""Ingest throughput: nextofkin vs the face_recognition library, same images, same run.

The peer is used as its users use it: `load_image_file`, `face_locations` (HOG, upsample 1),
`face_encodings`, in a pool of worker processes. Ours is `nextofkin ingest` into a fresh workspace
(database, owner resolution, index and calibration included). Both use the same dlib models.

    python benchmarks/bench_ingest.py [--images 2000] [--workers 2] [--embedder NAME ...]
        [--peer-python /work/peer-venv/bin/python] [--rounds 2]

``--peer-python`` runs the peer with another interpreter: the fair peer is ``face_recognition`` on
dlib built from source with OpenBLAS (``pip install --no-binary dlib dlib face_recognition`` in a
venv outside the repository, docs/BENCHMARKS.md), not the ``dlib-bin`` wheel this venv holds.
With ``--rounds`` the peer and each of our embedders alternate, and medians are printed.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lfw" / "images"


def _peer_one(path: str) -> int:
    import face_recognition

    image = face_recognition.load_image_file(path)
    boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1)
    return len(face_recognition.face_encodings(image, boxes))


def peer(paths: list[Path], workers: int) -> tuple[float, int]:
    start = time.perf_counter()
    with ProcessPoolExecutor(workers) as pool:
        faces = sum(pool.map(_peer_one, [str(p) for p in paths], chunksize=8))
    return time.perf_counter() - start, faces


def ours(paths: list[Path], workers: int, embedder: str | None) -> tuple[float, int]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    root = tmp / "gallery"
    for p in paths:  # folder layout: one account per LFW identity
        target = root / p.parent.name
        target.mkdir(parents=True, exist_ok=True)
        os.symlink(p, target / p.name)
    env = {**os.environ, "NEXTOFKIN_HOME": str(tmp / "ws")}
    if embedder:
        env["NEXTOFKIN_VISION__EMBEDDER"] = embedder
    # Symlinks leave ROOT; copy instead so the path check passes as for a real export.
    for link in root.rglob("*.jpg"):
        real = link.resolve()
        link.unlink()
        shutil.copyfile(real, link)
    start = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-m", "nextofkin", "ingest", str(root), "-j", str(workers), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    elapsed = time.perf_counter() - start
    report = json.loads(out.stdout)
    shutil.rmtree(tmp, ignore_errors=True)
    return elapsed, int(report["faces_added"])


def peer_elsewhere(python: str, images: int, workers: int) -> tuple[float, int]:
    """The peer run by ``python`` (this file's ``--peer-only``), timed inside that process."""
    out = subprocess.run(
        [python, __file__, "--peer-only", "--images", str(images), "--workers", str(workers)],
        capture_output=True,
        text=True,
        check=True,
    )
    got = json.loads(out.stdout)
    return float(got["seconds"]), int(got["faces"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--images", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument(
        "--embedder",
        action="append",
        default=None,
        help="embedder(s) for our runs, repeatable (default: the configured default)",
    )
    parser.add_argument("--peer-python", help="interpreter whose face_recognition is the peer")
    parser.add_argument("--peer-only", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args()
    paths = sorted(LFW.glob("*/*.jpg"))[: args.images]
    n = len(paths)
    if args.peer_only:
        t, f = peer(paths, args.workers)
        print(json.dumps({"seconds": t, "faces": f}))
        return
    print(f"images: {n}, workers: {args.workers}, peer: {args.peer_python or sys.executable}")
    rates: dict[str, list[float]] = {}
    for round_no in range(1, args.rounds + 1):
        if args.peer_python:
            t_peer, f_peer = peer_elsewhere(args.peer_python, n, args.workers)
        else:
            t_peer, f_peer = peer(paths, args.workers)
        rates.setdefault("peer", []).append(n / t_peer)
        print(
            f"[{round_no}] face_recognition: {t_peer:7.1f} s  {n / t_peer:6.1f} images/s  "
            f"{f_peer / t_peer:6.1f} faces/s  ({f_peer} faces)"
        )
        for embedder in args.embedder or [None]:
            t_ours, f_ours = ours(paths, args.workers, embedder)
            rates.setdefault(embedder or "default", []).append(n / t_ours)
            print(
                f"[{round_no}] nextofkin ({embedder or 'default embedder'}): {t_ours:7.1f} s  "
                f"{n / t_ours:6.1f} images/s  {f_ours / t_ours:6.1f} faces/s  ({f_ours} faces)  "
                f"ratio ours / peer (images/s): {t_peer / t_ours:.2f}x"
            )
    peer_median = statistics.median(rates["peer"])
    for name, values in rates.items():
        median = statistics.median(values)
        print(
            f"median {name}: {median:.1f} images/s"
            + ("" if name == "peer" else f"  ratio to the peer {median / peer_median:.2f}x")
        )


if __name__ == "__main__":
    main()
