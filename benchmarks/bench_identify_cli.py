"""One `nextofkin identify` from the command line, start to answer, on a demo workspace.

What a person waits for when they type the command: interpreter start, imports, workspace open,
models loaded, the probe's faces found (rotation search included), the search, the case and
audit writes, the printout. The workspace is copied to a temporary directory first (each run adds
a search to a case), and one unmeasured run warms the page cache and the model cache.

The peer is `face_recognition`'s own command line, `face_recognition KNOWN UNKNOWN`, run on the
same probe photo with KNOWN a folder of the gallery's photos. It has no index: it encodes every
known photo on every run, so its time grows with KNOWN (``--peer-known``, default 40 photos) and
the ratio is the ratio at that size, not at the gallery's.

    python benchmarks/bench_identify_cli.py [--workspace DIR] [--photo FILE] [--runs 5]

The default workspace is the one `bash scripts/demo.sh` leaves in ./workspace (its probe photo
in demo-probe/, its investigator `ana`).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


@dataclass(frozen=True)
class Timing:
    """Wall and CPU (user + system) times of the measured runs, and the last one's first line.

    On a shared machine the wall time measures the neighbours as much as the command; the CPU
    time the command itself used moves far less with them.
    """

    seconds: list[float]
    cpu: list[float]
    said: str

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def cpu_median(self) -> float:
        return statistics.median(self.cpu)

    def line(self) -> str:
        walls = ", ".join(f"{s:.2f}" for s in self.seconds)
        return f"wall median {self.median:.2f} s ({walls}), CPU median {self.cpu_median:.2f} s"


def _children_cpu() -> float:
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    return used.ru_utime + used.ru_stime


def _timed(cmd: list[str], env: dict[str, str], runs: int, about: str = "") -> Timing:
    subprocess.run(cmd, env=env, check=True, capture_output=True)  # warm-up, not counted
    seconds, cpu, out = [], [], ""
    for _ in range(runs):
        started, cpu_before = time.perf_counter(), _children_cpu()
        done = subprocess.run(cmd, env=env, check=True, capture_output=True, text=True)
        seconds.append(time.perf_counter() - started)
        cpu.append(_children_cpu() - cpu_before)
        out = done.stdout
    # What it said about the photo (``about``), else its first line.
    lines = [ln.strip() for ln in out.splitlines() if ln.strip()]
    said = next((ln for ln in lines if about and about in ln), lines[0] if lines else "")
    return Timing(seconds, cpu, said)


def _known_photos(workspace: Path, count: int, into: Path) -> int:
    """Links to the first ``count`` gallery photos (one per account first) in ``into``."""
    gallery = workspace / "demo-gallery" / "photos"
    accounts = sorted(p for p in gallery.iterdir() if p.is_dir())
    firsts = [min(p for p in acc.iterdir() if p.is_file()) for acc in accounts]
    chosen = firsts[:count]
    into.mkdir(parents=True)
    for i, photo in enumerate(chosen):
        (into / f"{i:05d}-{photo.parent.name}{photo.suffix}").symlink_to(photo)
    return len(chosen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--workspace", type=Path, default=ROOT / "workspace")
    parser.add_argument("--photo", type=Path, default=None)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--user", default="ana")
    parser.add_argument("--peer-known", type=int, default=40)
    args = parser.parse_args()
    photo = args.photo or min((args.workspace / "demo-probe").iterdir())
    print(f"load average before: {os.getloadavg()[0]:.2f} (2 shared cores)")
    with tempfile.TemporaryDirectory(prefix="bench-identify-cli-") as tmp:
        ws = Path(tmp) / "ws"
        shutil.copytree(args.workspace, ws, symlinks=True)
        env = {**os.environ, "NEXTOFKIN_HOME": str(ws), "NEXTOFKIN_USER": args.user}
        cmd = [str(BIN / "nextofkin"), "identify", str(photo), "--case", "BENCH-CLI", "--top", "10"]
        ours = _timed(cmd, env, args.runs)
        print(f"nextofkin identify, {args.runs} runs: {ours.line()}; said {ours.said!r}")
        peer_bin = BIN / "face_recognition"
        if not peer_bin.exists():
            print("face_recognition's command line is not installed: no peer figure")
            return 0
        known = Path(tmp) / "known"
        n_known = _known_photos(args.workspace, args.peer_known, known)
        unknown = Path(tmp) / "unknown"
        unknown.mkdir()
        (unknown / photo.name).symlink_to(photo.resolve())
        peer_cmd = [str(peer_bin), str(known), str(unknown)]
        peer = _timed(peer_cmd, dict(os.environ), args.runs, about=photo.name)
        print(f"face_recognition KNOWN({n_known}) UNKNOWN: {peer.line()}; said {peer.said!r}")
        ratio, cpu_ratio = peer.median / ours.median, peer.cpu_median / ours.cpu_median
        print(f"ratio peer/ours: wall {ratio:.2f}x, CPU {cpu_ratio:.2f}x (the peer with {n_known}")
        print("known photos; ours searches the whole gallery); goal: ours under 2 s wall")
    print(f"load average after: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
