"""S-norm statistics of new faces: computed whole by the driver, or finished from the actors' lists.

A cluster ingest into a gallery with a cohort moves the product with the cohort into the actors
(``gallery/cluster/neighbours.py``): each keeps a face's ``keep`` nearest cohort similarities,
and the driver's derive step only leaves the face's account out and takes the top ``k``. This
times, on random unit vectors (the cost does not depend on the values), per face and in the
same run: the driver doing the whole statistic (``Cohort.stats``, what it does without lists),
the actor's share (``ShardCohort.nearest``), and the driver finishing from the lists (the same
masking and ``top_stats`` as ``refresh_cohort``), with the ratio of the two driver costs and
what they come to at 100M and 1B new faces on one driver core.

Usage::

    python benchmarks/bench_cohort_neighbours.py [--cohort 20000] [--faces 8192] [--repeats 3]

The machine is shared with other work: absolute times are pessimistic; the ratio comes from one
run.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np

from nextofkin.gallery.cluster.neighbours import ShardCohort
from nextofkin.identify.normalise import Cohort, top_stats


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cohort", type=int, default=20_000)
    parser.add_argument("--faces", type=int, default=8192, help="new faces per timed batch")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    rng = np.random.default_rng(0)
    accounts = max(args.cohort // 3, 1)  # three cohort faces per account, as in a real gallery
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
    shard = ShardCohort.of("bench", cohort.cohort_vectors, cohort.cohort_accounts, cohort.k)
    faces = _unit(rng.standard_normal((args.faces, 128)))
    owners = rng.integers(0, accounts, args.faces)
    ids = np.arange(args.faces, dtype=np.int64) + 10 * args.cohort
    positions, similarities = shard.nearest(faces)

    def finish() -> object:
        sims = similarities.copy()
        sims[cohort.cohort_accounts[positions] == owners[:, None]] = -np.inf
        sims[cohort.cohort_faces[positions] == ids[:, None]] = -np.inf
        return top_stats(sims, cohort.k)

    whole = _median_seconds(lambda: cohort.stats(faces, owners, ids), args.repeats) / args.faces
    actor = _median_seconds(lambda: shard.nearest(faces), args.repeats) / args.faces
    driver = _median_seconds(finish, args.repeats) / args.faces
    print(f"cohort {args.cohort:,} faces, k {cohort.k}, keep {shard.keep}; {args.faces:,} new "
          f"faces per batch, medians of {args.repeats}; shared machine")  # fmt: skip
    print(f"driver, whole statistic (no lists):   {whole * 1e3:8.4f} ms/face")
    print(f"actor, nearest cohort similarities:  {actor * 1e3:8.4f} ms/face")
    print(f"driver, finished from the lists:      {driver * 1e3:8.4f} ms/face")
    print(f"driver cost with lists / without: {driver / whole:.3f} (x{whole / driver:.1f} less)")
    print(f"list stored per face: {shard.keep * 8} bytes (int32 position + float32 similarity)")
    for n in (100e6, 1e9):
        print(f"{n:,.0f} new faces on one driver core: {whole * n / 3600:7.1f} h whole, "
              f"{driver * n / 3600:6.1f} h from lists")  # fmt: skip


if __name__ == "__main__":
    main()
