"""Standing searches: cases opened before their person's accounts arrive, alerted when they do.

Two parts, each beside its peer in the same run:

1. **Alerts on LFW** (``lfw``). The 1:N protocol's gallery (``protocol-1n.json``: one-photo
   accounts) is streamed into a workspace in five batches. Batch 1 holds only accounts of people
   no probe is of; then one case is opened per enrolled identity (its first mated probe photo)
   and one per non-mated identity (its first photo), each searched with the product's search
   against batch 1. Batches 2-5 bring the enrolled people's accounts in a seeded random order.
   After each batch the derived data is refreshed as an ingest does (owner roles, index, s-norm
   cohort, calibration) and the standing searches run. Figures: the share of cases whose person
   arrived that were alerted, with the right account, in the rescan of the batch that brought
   them; false alerts (any other account) per 1,000 cases per batch, over every case and over
   the cases of people who never arrive. Peer: after each batch, a full search
   (``Searcher.search_vector`` over the whole index, as a person searching again would) of the
   cases whose person just arrived and of every never-arriving person's case: the right account
   shown at `possible` or better, and other accounts shown so. ``--mated`` and ``--nonmated``
   cases are drawn (seeded) from the protocol's identities.
   Faces come from the evaluation cache (``nextofkin.evaluation.cache``, the product's pipeline
   and flip-averaged vectors), so a rerun does not embed again; rows are written straight into
   the database (as ``tests/scale/synthetic.py`` does), each account's one face its owner face.
2. **Rescan time** (``timing``). A synthetic gallery (unit vectors clustered per account, as
   ``tests/scale``) with ``--cases`` open cases searched by the product, then ``--new-faces`` new
   faces; the standing rescan is timed against a full search of every open case (measured on
   ``--peer-sample`` of them and scaled).

Usage::

    python benchmarks/bench_standing.py [--lfw DIR] [--workers N] [--part lfw|timing|all]
        [--mated 400] [--nonmated 200] [--cases 1000] [--new-faces 10000] [--base-accounts 5000]
        [--peer-sample 200] [--work DIR] [--cache-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "datasets" / "lfw"
BATCHES = 5
log = logging.getLogger("bench_standing")


# --------------------------------------------------------------------------- workspace rows


def _workspace(home: Path) -> Any:
    from nextofkin.settings import Settings
    from nextofkin.users.service import add_user
    from nextofkin.workspace import Workspace

    os.environ.pop("NEXTOFKIN_DATABASE_URL", None)
    ws = Workspace.open(Settings.load(home))
    with ws.session() as session:
        add_user(session, None, "chief", "admin")
        add_user(session, "chief", "ana", "investigator")
    return ws


def write_accounts(ws: Any, source: str, accounts: list[tuple[str, np.ndarray]]) -> None:
    """Accounts with one owner face each (vector given), as an ingest leaves them."""
    from sqlalchemy import select

    from nextofkin.gallery.records import Source
    from nextofkin.vision.registry import default_registry

    spec = default_registry().embedder(ws.settings.vision.embedder).spec
    with ws.session() as session:
        src = session.scalars(select(Source).where(Source.name == source)).one_or_none()
        if src is None:
            src = Source(name=source, root=f"/bench/{source}", layout="manifest")
            session.add(src)
            session.flush()
        for start in range(0, len(accounts), 5000):
            _write_chunk(session, src.id, source, accounts[start : start + 5000], spec)


def _write_chunk(
    session: Any, source_id: int, source: str, part: list[tuple[str, np.ndarray]], spec: Any
) -> None:
    from sqlalchemy import insert, select

    from nextofkin.gallery.records import Account, Face, FaceRole, FaceRoleRecord, Image

    # One chunk of accounts in bulk: accounts, images, faces, then owner roles.
    names = [name for name, _ in part]
    session.execute(
        insert(Account),
        [{"source_id": source_id, "external_id": n, "roles_dirty": False} for n in names],
    )
    ids = dict(
        session.execute(
            select(Account.external_id, Account.id).where(
                Account.source_id == source_id, Account.external_id.in_(names)
            )
        ).all()
    )
    paths = [f"/bench/{source}/{n}.jpg" for n in names]
    session.execute(
        insert(Image),
        [
            {"sha256": f"{source}/{n}".ljust(64, "0")[:64], "path": p, "width": 100,
             "height": 100, "size_bytes": 1, "detector": "bench", "tried": []}
            for n, p in zip(names, paths, strict=True)
        ],
    )  # fmt: skip
    images = dict(session.execute(select(Image.path, Image.id).where(Image.path.in_(paths))).all())
    session.execute(
        insert(Face),
        [
            {"image_id": images[p], "ordinal": 0, "left": 10.0, "top": 10.0,
             "right": 90.0, "bottom": 90.0, "landmarks": [], "detection_score": 1.0,
             "quality": 0.9, "quality_parts": {}, "rotation": 0, "model": spec.name,
             "alignment": spec.alignment, "embedding": vec}
            for p, (_, vec) in zip(paths, part, strict=True)
        ],
    )  # fmt: skip
    faces = session.execute(
        select(Face.id, Image.path)
        .join(Image, Image.id == Face.image_id)
        .where(Image.path.in_(paths))
    ).all()
    session.execute(
        insert(FaceRoleRecord),
        [
            {"account_id": ids[path.rsplit("/", 1)[1][:-4]], "face_id": fid,
             "role": FaceRole.OWNER.value, "confidence": 1.0, "cluster": 0}
            for fid, path in faces
        ],
    )  # fmt: skip


def open_cases(
    ws: Any, cases: list[tuple[str, np.ndarray, Path]], top: int = 10
) -> dict[str, dict[str, Any]]:
    """Open each case with its photo and attach the product's search of its probe vector."""
    from nextofkin.cases.service import attach_search, open_case
    from nextofkin.gallery.maintenance import open_index
    from nextofkin.identify.derived import cohort_store
    from nextofkin.identify.search import ProbeFace, Searcher

    index = open_index(ws)
    first: dict[str, dict[str, Any]] = {}
    for number, vector, photo in cases:
        with ws.session() as session:
            open_case(session, ws, "ana", number, [photo])
            searcher = Searcher(session, index, cohorts=cohort_store(ws))
            probe = [ProbeFace(str(photo), [0, 0, 1, 1], 0, 1.0, 0.9, 1, [])]
            result = searcher.search_vector(vector.astype(np.float32), probe, top)
            attach_search(session, ws, "ana", number, result)
            first[number] = {
                "shown": [c.account for c in result.candidates if c.decision != "no match"]
            }
    return first


def full_searches(
    ws: Any, cases: dict[str, np.ndarray], top: int = 10
) -> tuple[dict[str, list[str]], float]:
    """The peer: every case searched again over the whole index; accounts shown per case."""
    from nextofkin.gallery.maintenance import open_index
    from nextofkin.identify.derived import cohort_store
    from nextofkin.identify.search import Searcher

    started = time.monotonic()
    index = open_index(ws)
    shown: dict[str, list[str]] = {}
    with ws.session() as session:
        searcher = Searcher(session, index, cohorts=cohort_store(ws))
        for number, vector in cases.items():
            result = searcher.search_vector(vector.astype(np.float32), [], top)
            shown[number] = [c.account for c in result.candidates if c.decision != "no match"]
    return shown, time.monotonic() - started


# --------------------------------------------------------------------------- part 1: LFW


def lfw_faces(args: argparse.Namespace) -> tuple[dict[str, np.ndarray], list[Any], Any]:
    """Gallery account vectors and probe inputs from the evaluation cache (computed if absent)."""
    from nextofkin.evaluation.cache import GALLERY, PROBE, FaceCache, Job, run_jobs
    from nextofkin.evaluation.engine import EngineOptions, face_vector, owner_faces, probe_vector
    from nextofkin.evaluation.protocols import read_protocol
    from nextofkin.evaluation.runner import model_label
    from nextofkin.settings import Settings

    vision = Settings.load().vision
    flip = vision.embedder.endswith("-flip")
    protocol = read_protocol(args.lfw / "protocol-1n.json")
    probes: dict[str, Any] = {}
    for probe in protocol.probes:  # the first photo of each identity is its case
        probes.setdefault(probe.identity, probe)
    jobs = [Job(p, GALLERY) for acc in protocol.gallery for p in acc.photos]
    jobs += [Job(p.photo, PROBE) for p in probes.values()]
    cache = FaceCache(args.cache_dir / "faces.sqlite")
    t0 = time.monotonic()
    faces = run_jobs(jobs, cache, vision, model_label(vision), workers=args.workers)
    log.info("faces of %d images ready in %.0f s", len(jobs), time.monotonic() - t0)
    gallery: dict[str, np.ndarray] = {}
    for acc in protocol.gallery:
        owned = owner_faces([faces[Job(p, GALLERY)] for p in acc.photos])
        if owned:
            gallery[acc.account] = face_vector(owned[0], flip)
    options = EngineOptions(flip=flip)
    rng = random.Random(args.seed)
    mated = sorted(i for i, p in probes.items() if p.mate is not None)
    nonmated = sorted(i for i, p in probes.items() if p.mate is None)
    chosen = rng.sample(mated, min(args.mated, len(mated)))
    chosen += rng.sample(nonmated, min(args.nonmated, len(nonmated)))
    cases = []
    for identity in sorted(chosen):
        probe = probes[identity]
        vector = probe_vector([faces[Job(probe.photo, PROBE)]], options)
        if vector is not None:
            cases.append((identity, probe, vector))
    return gallery, cases, protocol


def _batches(gallery: dict[str, np.ndarray], mates: set[str], seed: int) -> list[list[str]]:
    """Batch 1: a fifth of the gallery, none of it a case's person; then four equal batches."""
    rng = random.Random(seed)
    others = sorted(a for a in gallery if a not in mates)
    rng.shuffle(others)
    first_size = len(gallery) // BATCHES
    first, rest = others[:first_size], others[first_size:] + sorted(mates & set(gallery))
    rng.shuffle(rest)
    size = -(-len(rest) // (BATCHES - 1))
    return [first] + [rest[i : i + size] for i in range(0, len(rest), size)]


def run_lfw(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Part 1 (see the module docstring)."""
    from nextofkin.cases.standing import rescan
    from nextofkin.identify.derived import refresh_derived

    gallery, cases, protocol = lfw_faces(args)
    mates = {p.mate for _, p, _ in cases if p.mate is not None}
    batches = _batches(gallery, mates, args.seed)
    ws = _workspace(work / "lfw-ws")
    write_accounts(ws, "lfw", [(a, gallery[a]) for a in batches[0]])
    refresh_derived(ws)
    number = {identity: f"L-{i:05d}" for i, (identity, _, _) in enumerate(cases)}
    mate_of = {number[i]: p.mate for i, p, _ in cases}
    first = open_cases(ws, [(number[i], v, p.photo) for i, p, v in cases])
    vectors = {number[i]: v for i, _, v in cases}
    arrived_in = {a: b for b, batch in enumerate(batches) for a in batch}
    rows = []
    for b, batch in enumerate(batches[1:], start=2):
        t0 = time.monotonic()
        write_accounts(ws, "lfw", [(a, gallery[a]) for a in batch])
        refresh_derived(ws)
        refresh_s = time.monotonic() - t0
        report = rescan(ws, None, system=True)
        alerted = defaultdict(set)
        for alert in report.alerts:
            alerted[alert.case_number].add(alert.account_ref.split("/", 1)[1])
        arriving = [n for n, m in mate_of.items() if m is not None and arrived_in[m] == b - 1]
        # The peer searches the cases whose person just arrived and every case of a person who
        # never arrives (a full search per case is the cost the rescan avoids).
        asked = {n: vectors[n] for n in arriving + [n for n, m in mate_of.items() if m is None]}
        peer, peer_s = full_searches(ws, asked)
        rows.append(
            {
                "batch": b,
                "accounts_added": len(batch),
                "cases": report.cases,
                "arriving": len(arriving),
                "alerted_right": sum(mate_of[n] in alerted[n] for n in arriving),
                "peer_shown_right": sum(mate_of[n] in peer[n] for n in arriving),
                "false_alerts": sum(len(s - {mate_of[n]}) for n, s in alerted.items()),
                "false_alerts_nonmated": sum(
                    len(s) for n, s in alerted.items() if mate_of[n] is None
                ),
                "peer_false_shown_nonmated": sum(len(peer[n]) for n in peer if mate_of[n] is None),
                "peer_cases": len(asked),
                "rescan_s": round(report.seconds, 2),
                "peer_full_search_s": round(peer_s, 2),
                "refresh_s": round(refresh_s, 1),
            }
        )
        log.info("batch %d: %s", b, rows[-1])
    summary = _lfw_summary(rows, cases, first, mate_of, protocol)
    summary["gallery_accounts"] += len(batches[0])
    return summary


def _lfw_summary(
    rows: list[dict[str, Any]],
    cases: list[Any],
    first: dict[str, dict[str, Any]],
    mate_of: dict[str, str | None],
    protocol: Any,
) -> dict[str, Any]:
    arriving = sum(r["arriving"] for r in rows)
    alerted = sum(r["alerted_right"] for r in rows)
    peer = sum(r["peer_shown_right"] for r in rows)
    n_cases = len(cases)
    n_nonmated = sum(m is None for m in mate_of.values())
    false_total = sum(r["false_alerts"] for r in rows)
    return {
        "protocol": protocol.name,
        "gallery_accounts": sum(r["accounts_added"] for r in rows),
        "cases": n_cases,
        "mated_cases": sum(m is not None for m in mate_of.values()),
        "first_search_false_shown": sum(
            len(set(f["shown"]) - {mate_of[n]}) for n, f in first.items()
        ),
        "batches": rows,
        "alerted_in_arriving_batch": alerted,
        "arriving": arriving,
        "alert_rate": round(alerted / max(arriving, 1), 4),
        "peer_rate": round(peer / max(arriving, 1), 4),
        "alerted_vs_peer": round(alerted / max(peer, 1), 4),
        "false_alerts_per_1000_cases_per_batch": round(
            1000 * false_total / max(n_cases * len(rows), 1), 2
        ),
        "nonmated_cases": n_nonmated,
        "false_alerts_per_1000_nonmated_cases_per_batch": round(
            1000 * sum(r["false_alerts_nonmated"] for r in rows) / max(n_nonmated * len(rows), 1),
            2,
        ),
        "peer_false_shown_per_1000_nonmated_cases_per_batch": round(
            1000
            * sum(r["peer_false_shown_nonmated"] for r in rows)
            / max(n_nonmated * len(rows), 1),
            2,
        ),
        "median_rescan_s": statistics.median(r["rescan_s"] for r in rows),
        "median_peer_full_search_s": statistics.median(r["peer_full_search_s"] for r in rows),
    }


# --------------------------------------------------------------------------- part 2: timing


def _clustered(rng: np.random.Generator, accounts: int, dim: int) -> np.ndarray:
    centres = rng.standard_normal((accounts, dim))
    faces = centres + rng.standard_normal((accounts, dim)) * (0.9 / np.sqrt(dim))
    out: np.ndarray = (faces / np.linalg.norm(faces, axis=1, keepdims=True)).astype(np.float32)
    return out


def run_timing(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Part 2 (see the module docstring)."""
    from PIL import Image

    from nextofkin.cases.standing import rescan
    from nextofkin.identify.derived import refresh_derived

    rng = np.random.default_rng(args.seed)
    ws = _workspace(work / "timing-ws")
    dim = 128
    base = _clustered(rng, args.base_accounts, dim)
    write_accounts(ws, "base", [(f"b{i:07d}", v) for i, v in enumerate(base)])
    t0 = time.monotonic()
    refresh_derived(ws)
    log.info("base gallery of %d faces refreshed in %.0f s", len(base), time.monotonic() - t0)
    photos = work / "timing-photos"
    photos.mkdir(parents=True, exist_ok=True)
    cases = []
    for i in range(args.cases):
        path = photos / f"{i}.jpg"
        pixels = rng.integers(0, 255, (48, 48, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(path, quality=90)
        cases.append((f"T-{i:05d}", _clustered(rng, 1, dim)[0], path))
    t0 = time.monotonic()
    open_cases(ws, cases, top=1)  # the opening search is not what is timed
    log.info("%d cases opened and searched in %.0f s", len(cases), time.monotonic() - t0)
    new = _clustered(rng, args.new_faces, dim)
    write_accounts(ws, "new", [(f"n{i:07d}", v) for i, v in enumerate(new)])
    t0 = time.monotonic()
    refresh_derived(ws)
    refresh_s = time.monotonic() - t0
    report = rescan(ws, None, system=True)
    # The peer (a full search of every open case) on a sample, scaled to all cases.
    sample = cases[: args.peer_sample]
    _, sample_s = full_searches(ws, {n: v for n, v, _ in sample})
    peer_s = sample_s * len(cases) / max(len(sample), 1)
    return {
        "peer_sample": len(sample),
        "gallery_faces_before": len(base),
        "new_faces": report.faces_compared,
        "open_cases": report.cases,
        "comparisons": report.comparisons,
        "rescan_s": round(report.seconds, 2),
        "peer_full_search_s": round(peer_s, 2),
        "peer_over_rescan": round(peer_s / max(report.seconds, 1e-9), 2),
        "refresh_derived_s": round(refresh_s, 1),
        "alerts": len(report.alerts),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--part", choices=["lfw", "timing", "all"], default="all")
    parser.add_argument("--cases", type=int, default=1000)
    parser.add_argument("--new-faces", type=int, default=10_000)
    parser.add_argument("--base-accounts", type=int, default=5_000)
    parser.add_argument("--mated", type=int, default=400, help="LFW cases whose person arrives")
    parser.add_argument("--nonmated", type=int, default=200, help="LFW cases of nobody in it")
    parser.add_argument("--peer-sample", type=int, default=200, help="timing: peer cases")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--faces-only", action="store_true", help="only fill the face cache")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    from nextofkin.settings import Settings

    if args.cache_dir is None:
        args.cache_dir = Settings.load().home / "cache"
    args.cache_dir.mkdir(parents=True, exist_ok=True)
    if args.faces_only:
        lfw_faces(args)
        return 0
    work = args.work or Path(tempfile.mkdtemp(prefix="bench-standing-"))
    out: dict[str, Any] = {"cpu_count": os.cpu_count()}
    if args.part in ("lfw", "all"):
        out["lfw"] = run_lfw(args, work)
    if args.part in ("timing", "all"):
        out["timing"] = run_timing(args, work)
    json.dump(out, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
