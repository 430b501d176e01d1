"""`identify` latency on a gallery of the whole LFW 1:N protocol (5,249 accounts), warm.

Ingests the protocol's gallery photos (one-photo accounts) into a workspace once (kept in
--workspace for reruns), then times IdentifyService.identify on mated probes, and the peer's way
of searching: `face_recognition.face_distance` over every gallery encoding, from the same probe
face (so only the search differs).

    python benchmarks/bench_identify.py [--workspace DIR] [--probes 100]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "datasets" / "lfw"


def build_gallery(root: Path) -> None:
    protocol = json.loads((LFW / "protocol-1n.json").read_text())
    for entry in protocol["gallery"]:
        folder = root / entry["account"]
        folder.mkdir(parents=True, exist_ok=True)
        for photo in entry["photos"]:
            shutil.copyfile(LFW / photo, folder / Path(photo).name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=Path("/tmp/nok-bench-identify"))
    parser.add_argument("--probes", type=int, default=100)
    args = parser.parse_args()
    ws_dir = args.workspace
    if not (ws_dir / "nextofkin.db").exists():
        root = ws_dir.parent / (ws_dir.name + "-gallery")
        if not root.exists():
            build_gallery(root)
        env = {**os.environ, "NEXTOFKIN_HOME": str(ws_dir)}
        subprocess.run(
            [sys.executable, "-m", "nextofkin", "ingest", str(root)], env=env, check=True
        )
    from nextofkin.gallery.maintenance import open_index
    from nextofkin.identify.service import IdentifyService
    from nextofkin.settings import Settings
    from nextofkin.workspace import Workspace

    ws = Workspace.open(Settings.load(ws_dir))
    service = IdentifyService(ws)
    protocol = json.loads((LFW / "protocol-1n.json").read_text())
    probes = [
        LFW / p["photo"] if "photo" in p else LFW / p["photos"][0]
        for p in protocol["mated_probes"][: args.probes]
    ]
    service.identify([probes[0]])  # warm: models loaded, caches filled
    times = []
    for probe in probes:
        start = time.perf_counter()
        service.identify([probe], top=10)
        times.append(time.perf_counter() - start)
    # Search only: ours (FAISS) vs the peer's linear face_distance scan, same probe vector.
    from PIL import Image
    from sqlalchemy import select

    from nextofkin.gallery.records import Face

    index = open_index(ws)
    with ws.session() as session:
        gallery = np.stack(list(session.scalars(select(Face.embedding))))
    pixels = np.asarray(Image.open(probes[0]).convert("RGB"))
    vector = service.pipeline.analyse(pixels).faces[0].embedding
    import face_recognition

    # The peer end to end, as its users identify someone: load, HOG upsample 1, encode, scan.
    peer_e2e = []
    for probe in probes:
        start = time.perf_counter()
        image = face_recognition.load_image_file(str(probe))
        boxes = face_recognition.face_locations(image, number_of_times_to_upsample=1)
        for encoding in face_recognition.face_encodings(image, boxes[:1]):
            np.argsort(face_recognition.face_distance(gallery, encoding))[:10]
        peer_e2e.append(time.perf_counter() - start)
    peer_times, our_times = [], []
    for _ in range(50):
        start = time.perf_counter()
        face_recognition.face_distance(gallery, vector)
        peer_times.append(time.perf_counter() - start)
        start = time.perf_counter()
        index.search(vector[None, :], 200)
        our_times.append(time.perf_counter() - start)
    p50 = statistics.median(times) * 1000
    p95 = float(np.percentile(times, 95)) * 1000
    print(
        f"gallery: {len(index)} faces; identify end to end (detect + embed + search + evidence):"
        f" p50 {p50:.0f} ms, p95 {p95:.0f} ms over {len(times)} probes"
    )
    peer_p50 = statistics.median(peer_e2e) * 1000
    peer_p95 = float(np.percentile(peer_e2e, 95)) * 1000
    print(
        f"face_recognition end to end (load + HOG + encode + scan): p50 {peer_p50:.0f} ms, "
        f"p95 {peer_p95:.0f} ms (ratio p50 {peer_p50 / p50:.1f}x)"
    )
    print(
        f"search only: FAISS {statistics.median(our_times) * 1e3:.2f} ms vs face_distance scan "
        f"{statistics.median(peer_times) * 1e3:.2f} ms (ratio "
        f"{statistics.median(peer_times) / statistics.median(our_times):.1f}x)"
    )


if __name__ == "__main__":
    main()
