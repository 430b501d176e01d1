"""The 1:N protocol through the product itself: ingest the gallery, search every probe photo.

``bench_accuracy.py`` measures models and options in the evaluation engine. This benchmark checks
that the product reaches those figures end to end: the protocol's gallery is written as a folder
export, ingested with ``nextofkin ingest`` (detection, owner resolution, index, s-norm cohort,
leave-one-out calibration), and every probe photo goes through the product's search (rotation
search, probe face choice, flip vectors, normalised scores, calibrated decisions). No threshold
sees a probe: the decisions use the calibration ingest stores, measured on the gallery alone.

Each search is also ranked by raw cosine similarity (the same index hits), so the run shows what
score normalisation changes in the product.

Usage::

    python benchmarks/bench_product_1n.py [--lfw DIR] [--workers N] [--work DIR] [--sample N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LFW = REPO.parent / "shared" / "datasets" / "lfw"
TOP = 20

_STATE: dict[str, Any] = {}


def build_export(protocol: dict[str, Any], lfw: Path, root: Path) -> int:
    """The protocol's gallery in the folder layout (hard links where possible, else copies)."""
    if root.exists():
        shutil.rmtree(root)
    photos = 0
    for account in protocol["gallery"]:
        folder = root / account["account"]
        folder.mkdir(parents=True)
        for rel in account["photos"]:
            src = lfw / rel
            try:
                os.link(src, folder / src.name)
            except OSError:
                shutil.copyfile(src, folder / src.name)
            photos += 1
    return photos


def _init(home: str) -> None:
    from nextofkin.identify.service import IdentifyService
    from nextofkin.settings import Settings
    from nextofkin.workspace import Workspace

    workspace = Workspace.open(Settings.load(Path(home)))
    _STATE["ws"] = workspace
    _STATE["service"] = IdentifyService(workspace)


def _search(photo: str) -> dict[str, Any]:
    """One probe through the product: its candidates by score and by cosine similarity."""
    import numpy as np

    from nextofkin.errors import NoFaceFound
    from nextofkin.gallery.records import Account
    from nextofkin.identify.derived import cohort_store
    from nextofkin.identify.search import Searcher, account_scores, attribute_hits, fuse
    from nextofkin.identify.service import analyse_probes, probe_faces
    from nextofkin.settings import Settings

    service = _STATE["service"]
    ws = _STATE["ws"]
    settings: Settings = ws.settings
    started = time.perf_counter()
    with ws.session() as session:
        searcher = Searcher(session, service.index, cohorts=cohort_store(ws))
        analyses = analyse_probes(
            service.pipeline,
            [Path(photo)],
            max_pixels=settings.vision.max_pixels,
            max_bytes=settings.vision.max_bytes,
        )
        try:
            probes, faces = probe_faces(analyses)
        except NoFaceFound as exc:
            return {"photo": photo, "error": str(exc) or "no face found"}
        vector = fuse([f.embedding for f in faces], [f.quality.overall for f in faces])
        result = searcher.search_vector(vector, probes, TOP)
        seconds = time.perf_counter() - started
        sims, ids = service.index.search(vector[None, :].astype(np.float32), 200)
        cosine = account_scores(attribute_hits(session, ids, sims)[0], by="similarity")
        names = {c.account_id: c.account for c in result.candidates}
        ranked = sorted(cosine.items(), key=lambda kv: -kv[1])[:TOP]
        for account_id, _ in ranked:
            if account_id not in names:
                names[account_id] = session.get_one(Account, account_id).external_id
    return {
        "photo": photo,
        "seconds": seconds,
        "snorm": [(c.account, c.score, c.decision) for c in result.candidates],
        "cosine": [(names[a], s) for a, s in ranked],
        "score_kind": result.score_kind,
    }


def _figures(searches: list[Any]) -> dict[str, Any]:
    from nextofkin.evaluation.metrics import open_set

    result = open_set(searches)
    return {
        "rank1": result.rank1,
        "rank10": result.cmc[9],
        "fnir": {str(op.target_fpir): op.fnir for op in result.operating_points},
        "no_face": result.mated_failures + result.nonmated_failures,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--work", type=Path, default=Path("/tmp/nextofkin-bench-1n"))
    parser.add_argument("--sample", type=int, default=0, help="probes per kind (0: all)")
    parser.add_argument("--reuse", action="store_true", help="keep an already ingested workspace")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()

    from nextofkin.evaluation.metrics import Candidate, Search

    protocol = json.loads((args.lfw / "protocol-1n.json").read_text(encoding="utf-8"))
    home = args.work / "ws"
    env = {**os.environ, "NEXTOFKIN_HOME": str(home), "NEXTOFKIN_USER": "bench"}
    ingest_seconds = None
    if not (args.reuse and home.exists()):
        if home.exists():
            shutil.rmtree(home)
        photos = build_export(protocol, args.lfw, args.work / "gallery")
        print(f"gallery: {len(protocol['gallery']):,} accounts, {photos:,} photos", flush=True)
        started = time.perf_counter()
        command = [sys.executable, "-m", "nextofkin", "ingest", str(args.work / "gallery")]
        out = subprocess.run(
            [*command, "--json", "-j", str(args.workers)],
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        ingest_seconds = time.perf_counter() - started
        report = json.loads(out.stdout)
        print(f"ingest: {ingest_seconds:.0f} s, {report.get('faces_added')} faces", flush=True)

    mated = [(p["photo"], p["account"]) for p in protocol["mated_probes"]]
    nonmated = [(p, None) for p in protocol["nonmated_probes"]]
    if args.sample:
        rng = random.Random(0)
        mated = rng.sample(mated, min(args.sample, len(mated)))
        nonmated = rng.sample(nonmated, min(args.sample, len(nonmated)))
    probes = mated + nonmated
    paths = [str(args.lfw / photo) for photo, _ in probes]
    started = time.perf_counter()
    results: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.workers, initializer=_init, initargs=(str(home),)) as pool:
        for i, found in enumerate(pool.map(_search, paths, chunksize=8), start=1):
            results.append(found)
            if i % 500 == 0:
                print(f"  searched {i:,}/{len(paths):,}", flush=True)
    search_seconds = time.perf_counter() - started

    by_kind: dict[str, list[Search]] = {"snorm": [], "cosine": []}
    decisions = {"mated_match": 0, "mated_possible": 0, "nonmated_match": 0, "nonmated_possible": 0}
    for (photo, mate), found in zip(probes, results, strict=True):
        for kind in by_kind:
            cands = [Candidate(c[0], float(c[1])) for c in found.get(kind, [])]
            by_kind[kind].append(Search(photo, mate, cands, found.get("error")))
        top = found.get("snorm") or []
        if not top:
            continue
        account, _, decision = top[0]
        prefix = "mated" if mate is not None else "nonmated"
        if mate is not None and account != mate:
            continue
        if decision == "match":
            decisions[f"{prefix}_match"] += 1
        if decision in ("match", "possible"):
            decisions[f"{prefix}_possible"] += 1
    n_mated, n_nonmated = len(mated), len(nonmated)
    latencies = [r["seconds"] for r in results if "seconds" in r]
    figures = {
        "probes": {"mated": n_mated, "nonmated": n_nonmated},
        "ingest_seconds": ingest_seconds,
        "search_seconds": search_seconds,
        "search_p50_ms": 1000 * statistics.median(latencies) if latencies else None,
        "score_kind": next((r["score_kind"] for r in results if "score_kind" in r), None),
        "product_scores": _figures(by_kind["snorm"]),
        "cosine_scores": _figures(by_kind["cosine"]),
        "decisions": {
            "mated_top_is_mate_and_match": decisions["mated_match"] / n_mated,
            "mated_top_is_mate_and_possible_or_match": decisions["mated_possible"] / n_mated,
            "nonmated_top_decided_match": decisions["nonmated_match"] / n_nonmated,
            "nonmated_top_decided_possible_or_match": decisions["nonmated_possible"] / n_nonmated,
        },
    }
    calibration = subprocess.run(
        [sys.executable, "-m", "nextofkin", "status", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if calibration.returncode == 0:
        figures["status"] = json.loads(calibration.stdout)
    print(json.dumps(figures, indent=2))
    if args.out:
        args.out.write_text(json.dumps(figures, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
