"""Cost of score normalisation (s-norm): face statistics at ingest, probe statistics per search.

There is no peer to compare with (``face_recognition`` has no score normalisation); this prints
what the cohort adds to an ingest, to a search and to a full redraw at a given gallery size, on
random unit vectors (the cost does not depend on the values).

Usage::

    python benchmarks/bench_cohort.py [--cohort 20000] [--faces 8192] [--gallery 1000000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from nextofkin.identify.normalise import Cohort


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=int, default=20_000)
    parser.add_argument("--faces", type=int, default=8192, help="faces per timed batch")
    parser.add_argument("--gallery", type=int, default=1_000_000, help="size to extrapolate to")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    accounts = max(args.cohort // 3, 1)
    cohort = Cohort(
        cohort_id="bench",
        k=100,
        size_setting=args.cohort,
        drawn_at=args.cohort,
        cohort_faces=np.arange(args.cohort, dtype=np.int64),
        cohort_accounts=np.arange(args.cohort, dtype=np.int64) % accounts,
        cohort_vectors=_unit(rng.standard_normal((args.cohort, 128))),
        face_ids=np.zeros(0, np.int64),
        face_stats=np.zeros((0, 2), np.float32),
    )
    faces = _unit(rng.standard_normal((args.faces, 128)))
    owners = rng.integers(0, accounts, args.faces)
    ids = np.arange(args.faces, dtype=np.int64) + 10 * args.cohort
    batch: list[float] = []
    for _ in range(args.repeats):
        started = time.perf_counter()
        cohort.stats(faces, owners, ids)
        batch.append(time.perf_counter() - started)
    per_face = statistics.median(batch) / args.faces
    probe = _unit(rng.standard_normal((1, 128)))
    searches: list[float] = []
    for _ in range(50):
        started = time.perf_counter()
        cohort.stats(probe)
        searches.append(time.perf_counter() - started)
    print(f"cohort {args.cohort:,} faces, top-100 statistics")
    print(f"  per new face (ingest):   {per_face * 1000:.3f} ms (median of {args.repeats} batches)")
    print(f"  per search (probe side): {statistics.median(searches) * 1000:.2f} ms")
    print(f"  redraw at {args.gallery:,} faces: {per_face * args.gallery / 60:.1f} min")


if __name__ == "__main__":
    main()
