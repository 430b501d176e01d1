"""`kin` latency on a gallery padded to 50,000 faces, warm, beside a brute-force peer.

Starts from a workspace where a sample gallery was ingested (``nextofkin sample-gallery`` then
``nextofkin ingest``), copies it, and pads the copy with synthetic accounts whose photos, faces and
roles look like real ones to the database and the index (face vectors are mixtures of real ones
plus noise, so they fall in the impostor range rather than far from every real face). Then it
times KinService.kin on the real accounts, warm, and the same service with the index replaced by
a brute-force NumPy scan over every vector (what a script built on face_recognition's
face_distance does), and prints the ratio.

    python benchmarks/bench_kin.py --workspace /tmp/kin_eval/ws [--faces 50000] [--queries 60]
"""

from __future__ import annotations

import argparse
import hashlib
import random
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np


class BruteForceIndex:
    """The peer: every query compared with every vector in memory (no index structure)."""

    def __init__(self, ids: np.ndarray, vectors: np.ndarray, description: Any) -> None:
        self._ids = ids
        self._vectors = vectors
        self.description = description

    def search(self, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        sims = np.atleast_2d(vectors) @ self._vectors.T
        top = np.argsort(-sims, axis=1)[:, :k]
        return np.take_along_axis(sims, top, axis=1), self._ids[top]

    def __len__(self) -> int:
        return len(self._ids)


def pad(ws: Any, target_faces: int, seed: int = 0) -> int:
    """Add synthetic accounts until the workspace holds ``target_faces`` faces."""
    from sqlalchemy import func, insert, select

    from nextofkin.gallery.maintenance import open_index
    from nextofkin.gallery.records import Account, Face, FaceRoleRecord, Image, Photo, Source

    rng = np.random.default_rng(seed)
    pyrng = random.Random(seed)
    with ws.session() as session:
        have = session.scalar(select(func.count(Face.id))) or 0
        if have >= target_faces:
            return int(have)
        real = np.stack(list(session.scalars(select(Face.embedding).limit(2000))))
        model, alignment = session.execute(select(Face.model, Face.alignment).limit(1)).one()
        source = Source(name="bench-padding", root="/nonexistent", layout="manifest")
        session.add(source)
        session.flush()
        next_face = (session.scalar(select(func.max(Face.id))) or 0) + 1
        next_image = (session.scalar(select(func.max(Image.id))) or 0) + 1
        next_account = (session.scalar(select(func.max(Account.id))) or 0) + 1
        surnames = ["Ivanov", "Shevchenko", "Kovalenko", "Bondarenko", "Petrova", "Melnyk"]
        accounts, images, photos, faces, roles = [], [], [], [], []
        added_faces = 0
        account_ids: list[int] = []
        while have + added_faces < target_faces:
            acc = next_account
            next_account += 1
            account_ids.append(acc)
            accounts.append({
                "id": acc, "source_id": source.id, "external_id": f"pad{acc}",
                "name": f"Pad {pyrng.choice(surnames)}", "city": "Kyiv", "contacts": {},
                "friends": [], "extra": {}, "roles_dirty": False,
            })  # fmt: skip
            owner = real[rng.integers(len(real))]
            for n in range(8):
                image = next_image
                next_image += 1
                images.append({
                    "id": image, "sha256": hashlib.sha256(f"pad{image}".encode()).hexdigest(),
                    "path": f"/nonexistent/{image}.jpg", "width": 900, "height": 700,
                    "size_bytes": 100_000, "detector": "hog", "tried": [],
                })  # fmt: skip
                photos.append({
                    "source_id": source.id, "account_id": acc, "rel_path": f"pad/{acc}/{n}.jpg",
                    "kind": "post", "caption": pyrng.choice(["", "Літо!", "with friends"]),
                    "posted_at": f"20{pyrng.randint(12, 24)}-06-01T12:00:00", "tagged": [],
                    "status": "done", "image_id": image,
                })  # fmt: skip
                for ordinal in range(pyrng.choice([1, 2, 2, 3])):
                    base = owner if ordinal == 0 else real[rng.integers(len(real))]
                    mix = (
                        base + 0.35 * real[rng.integers(len(real))] + 0.1 * rng.standard_normal(128)
                    )
                    vector = (mix / np.linalg.norm(mix)).astype(np.float32)
                    faces.append({
                        "id": next_face, "image_id": image, "ordinal": ordinal, "left": 100.0,
                        "top": 100.0, "right": 200.0, "bottom": 200.0, "landmarks": [],
                        "detection_score": 0.9, "quality": 0.8, "quality_parts": {},
                        "rotation": 0, "model": model, "alignment": alignment,
                        "embedding": vector,
                    })  # fmt: skip
                    roles.append({
                        "account_id": acc, "face_id": next_face,
                        "role": "owner" if ordinal == 0 else "companion", "confidence": 0.9,
                        "cluster": ordinal,
                    })  # fmt: skip
                    next_face += 1
                    added_faces += 1
        for row in accounts:  # noisy friend lists, as exported
            row["friends"] = [f"pad{pyrng.choice(account_ids)}" for _ in range(8)]
        for table, rows in (
            (Account, accounts), (Image, images), (Photo, photos), (Face, faces),
            (FaceRoleRecord, roles),
        ):  # fmt: skip
            for start in range(0, len(rows), 5000):
                session.execute(insert(table), rows[start : start + 5000])
    index = open_index(ws)
    ids = np.array([f["id"] for f in faces], dtype=np.int64)
    index.add(ids, np.stack([f["embedding"] for f in faces]))
    index.save()
    return int(have + added_faces)


def timed(service: Any, accounts: list[str], source: str) -> list[float]:
    out = []
    for account in accounts:
        start = time.perf_counter()
        service.kin(account, source=source, top=10)
        out.append((time.perf_counter() - start) * 1000)
    return out


def summary(ms: list[float]) -> str:
    ms = sorted(ms)
    return (
        f"mean {statistics.fmean(ms):.0f} ms, p50 {ms[len(ms) // 2]:.0f} ms, "
        f"p95 {ms[int(len(ms) * 0.95)]:.0f} ms, max {ms[-1]:.0f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/kin_eval/ws"))
    parser.add_argument("--padded", type=Path, default=None, help="where the padded copy lives")
    parser.add_argument("--faces", type=int, default=50_000)
    parser.add_argument("--queries", type=int, default=60)
    args = parser.parse_args()
    from sqlalchemy import select

    from nextofkin.gallery.records import Account, Face, Source
    from nextofkin.kin.engine import KinService
    from nextofkin.settings import Settings
    from nextofkin.workspace import Workspace

    padded = args.padded or args.workspace.with_name(args.workspace.name + f"-pad{args.faces}")
    if not padded.exists():
        shutil.copytree(args.workspace, padded)
    ws = Workspace.open(Settings.load(padded))
    total = pad(ws, args.faces)
    with ws.session() as session:
        source = session.scalars(select(Source.name).where(Source.name != "bench-padding")).first()
        real_accounts = list(
            session.scalars(
                select(Account.external_id)
                .join(Source, Source.id == Account.source_id)
                .where(Source.name == source)
                .order_by(Account.id)
            )
        )
        ids_vectors = session.execute(select(Face.id, Face.embedding)).all()
    rng = random.Random(1)
    queries = rng.sample(real_accounts, min(args.queries, len(real_accounts)))
    print(f"gallery: {total:,} faces ({len(real_accounts)} real accounts of source {source!r})")

    started = time.perf_counter()
    service = KinService(ws)
    service.kin(queries[0], source=source)  # warm: index loaded, gallery-wide lookups built
    print(
        f"warm-up (open index, build link lookups, load companion faces, first query): "
        f"{time.perf_counter() - started:.2f} s"
    )
    ours = timed(service, queries, source)
    print(f"nextofkin kin (FAISS index):     {summary(ours)}")
    # What the warm-up paid before the family circle was computed per query: the graph of the
    # whole gallery, every companion face resolved (kept as the engine's test reference).
    started = time.perf_counter()
    with ws.session() as session:
        graph = service.together(session)
    print(
        f"gallery-wide family-circle graph (the warm-up's extra cost before, reference): "
        f"{time.perf_counter() - started:.2f} s, {len(graph):,} accounts linked"
    )

    ids = np.array([r[0] for r in ids_vectors], dtype=np.int64)
    vectors = np.stack([r[1] for r in ids_vectors]).astype(np.float32)
    peer = KinService(ws, index=BruteForceIndex(ids, vectors, service.index.description))
    peer.kin(queries[0], source=source)
    theirs = timed(peer, queries, source)
    print(f"peer (brute-force NumPy scan):   {summary(theirs)}")
    ratio = statistics.fmean(theirs) / statistics.fmean(ours)
    print(f"ratio peer/ours (mean): {ratio:.2f}x; goal: under 1000 ms per query, warm")


if __name__ == "__main__":
    main()
