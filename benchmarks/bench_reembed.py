"""Moving a workspace to another embedder (`nextofkin reindex --embedder`) beside ingesting again.

A workspace of N LFW photos is ingested with ``--from`` (default ``dlib-resnet-onnx``), then
moved to ``--to`` (default ``dlib-resnet-onnx-flip``): re-embedding from the stored photos and
landmarks, the switch, the index and the derived data. The peer, run in the same process right
after, is what a team would do without the move: a fresh ingest of the same export with ``--to``
(detection again, then the same derived data). Both use the same worker count. Printed: seconds
per face of each and the ratio (wall and CPU of this process and its children).

    python benchmarks/bench_reembed.py [--photos 200] [--workers 2] [--to human-faceres]
"""

from __future__ import annotations

import argparse
import resource
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LFW = ROOT.parent / "shared" / "datasets" / "lfw" / "images"


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _timed(work: Callable[[], object]) -> tuple[float, float]:
    wall, cpu = time.monotonic(), _cpu()
    work()
    return time.monotonic() - wall, _cpu() - cpu


def _export(root: Path, photos: int) -> Path:
    """The first ``photos`` LFW photos of people with two or more, by name (reproducible)."""
    taken = 0
    for person in sorted(LFW.iterdir()):
        files = sorted(person.glob("*.jpg"))
        if len(files) < 2:
            continue
        (root / person.name).mkdir(parents=True)
        for path in files[: min(len(files), photos - taken)]:
            shutil.copyfile(path, root / person.name / path.name)
            taken += 1
        if taken >= photos:
            break
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=200)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--from", dest="source", default="dlib-resnet-onnx")
    parser.add_argument("--to", dest="target", default="dlib-resnet-onnx-flip")
    args = parser.parse_args()
    from nextofkin.gallery.reembed import ReembedOptions
    from nextofkin.identify.derived import ingest, move_embedder
    from nextofkin.settings import Settings
    from nextofkin.workspace import Workspace

    with tempfile.TemporaryDirectory() as tmp:
        export = _export(Path(tmp) / "export", args.photos)
        settings = Settings.load(Path(tmp) / "moved")
        settings.vision.embedder = args.source
        ws = Workspace.open(settings)
        faces = ingest(ws, export, workers=args.workers).faces_added
        ws.close()
        ws = Workspace.open(Settings.load(Path(tmp) / "moved"))
        options = ReembedOptions(workers=args.workers)
        moved = {}
        move_wall, move_cpu = _timed(
            lambda: moved.setdefault("r", move_embedder(ws, args.target, options))
        )
        ws.close()
        report = moved["r"]
        if not report.switched:
            sys.exit(f"the move did not switch: {report}")
        fresh_settings = Settings.load(Path(tmp) / "fresh")
        fresh_settings.vision.embedder = args.target
        fresh = Workspace.open(fresh_settings)
        peer_wall, peer_cpu = _timed(lambda: ingest(fresh, export, workers=args.workers))
        fresh.close()
    print(f"{args.photos} photos, {faces} faces, {args.source} -> {args.target}, "
          f"{args.workers} workers")  # fmt: skip
    print(f"move:     wall {move_wall:.2f} s ({1000 * move_wall / faces:.1f} ms/face), "
          f"CPU {move_cpu:.2f} s")  # fmt: skip
    print(f"re-ingest (peer): wall {peer_wall:.2f} s ({1000 * peer_wall / faces:.1f} ms/face), "
          f"CPU {peer_cpu:.2f} s")  # fmt: skip
    print(f"ratio peer/move: wall {peer_wall / move_wall:.2f}x, CPU {peer_cpu / move_cpu:.2f}x")


if __name__ == "__main__":
    main()
