"""Cluster ingest (Ray) against the one-machine ingest: images/s, overhead, memory, sizing.

Builds one LFW gallery and ingests it, in the same run, with the one-machine engine (1 and 2
worker processes) and with the Ray engine on a local cluster (``scripts/ray-cluster.sh``: a head
and one worker node, one CPU each) with 1 and 2 analysis actors. Each run is the CLI in a fresh
workspace, timed from start to exit (models loaded, records written, index and calibration
derived). While the Ray runs go, the resident memory of every analysis actor is sampled.
Two gallery sizes are run, so that the seconds per extra image (start-up costs cancelled)
give the steady-state rates. Prints images/s, the cluster path's overhead at equal cores, the
scaling from 1 to 2 actors, the actors' first and peak RSS at both sizes, and the hours and
machines for 100M and 1B photos.

Usage::

    python benchmarks/bench_cluster_ingest.py [--owners 20] [--distractors 60] [--repeats 1]

(the smaller gallery has half the owners and distractors)

The machine is shared with other work: absolute figures are pessimistic, ratios come from one
run. GPU figures are estimates (no GPU here).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from lfw_gallery import build  # noqa: E402

LFW = REPO.parent / "shared" / "datasets" / "lfw"
# Assumed, not measured (no GPU here): a batched ResNet embedder and a GPU detector, per GPU.
GPU_PHOTOS_PER_S = 1000.0
CORES_PER_MACHINE = 32


@dataclass
class Run:
    """One timed ingest."""

    label: str
    cores: int
    seconds: list[float] = field(default_factory=list)
    images: int = 0
    rss_first_mb: list[float] = field(default_factory=list)
    rss_peak_mb: list[float] = field(default_factory=list)

    @property
    def rate(self) -> float:
        """Images per second (median run)."""
        return self.images / statistics.median(self.seconds)


def _actor_rss() -> dict[int, float]:
    """RSS (MB) of every live analysis actor process (Ray names them after the map stage)."""
    out: dict[int, float] = {}
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmd = (proc / "cmdline").read_bytes()
            if b"MapWorker" not in cmd and b"ShardAnalyser" not in cmd:
                continue
            for line in (proc / "status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    out[int(proc.name)] = int(line.split()[1]) / 1024
        except OSError:
            continue
    return out


def _ingest(root: Path, args: list[str], env: dict[str, str], run: Run, sample: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-cluster-") as tmp:
        command = [sys.executable, "-m", "nextofkin", "-w", tmp, "ingest", str(root), "--json"]
        seen: dict[int, list[float]] = {}
        stop = threading.Event()

        def poll() -> None:
            while not stop.is_set():
                for pid, mb in _actor_rss().items():
                    seen.setdefault(pid, []).append(mb)
                time.sleep(0.5)

        sampler = threading.Thread(target=poll, daemon=True)
        if sample:
            sampler.start()
        started = time.monotonic()
        done = subprocess.run([*command, *args], capture_output=True, text=True, env=env)
        elapsed = time.monotonic() - started
        stop.set()
        if done.returncode != 0:
            raise SystemExit(f"{run.label} failed:\n{done.stderr[-3000:]}")
        report = json.loads(done.stdout)
        run.images = int(report["images_processed"])
        run.seconds.append(elapsed)
        if seen:
            run.rss_first_mb.append(max(s[0] for s in seen.values()))
            run.rss_peak_mb.append(max(max(s) for s in seen.values()))


def _sizing(core_s_per_photo: float) -> list[str]:
    lines = []
    for photos in (100e6, 1e9):
        core_hours = photos * core_s_per_photo / 3600
        for machines in (10, 100):
            hours = core_hours / (machines * CORES_PER_MACHINE)
            lines.append(
                f"  {photos / 1e6:>6.0f}M photos, CPU: {core_hours:>12,.0f} core-hours = "
                f"{hours:>8,.1f} h on {machines} x {CORES_PER_MACHINE}-core machines"
            )
        gpu_hours = photos / GPU_PHOTOS_PER_S / 3600
        lines.append(
            f"  {photos / 1e6:>6.0f}M photos, GPU (estimate, {GPU_PHOTOS_PER_S:.0f} photos/s/GPU "
            f"assumed): {gpu_hours:,.0f} GPU-hours = {gpu_hours / 16:,.1f} h on 16 GPUs"
        )
    return lines


def _measure(root: Path, address: str, ray_env: dict[str, str], repeats: int) -> list[Run]:
    runs = [Run("one machine, 1 process", 1), Run("one machine, 2 processes", 2),
            Run("ray, 1 actor", 1), Run("ray, 2 actors", 2)]  # fmt: skip
    ray_args = ["--engine", "ray", "--address", address]
    for _ in range(repeats):
        _ingest(root, ["-j", "1"], dict(os.environ), runs[0], False)
        _ingest(root, ["-j", "2"], dict(os.environ), runs[1], False)
        _ingest(root, [*ray_args, "-j", "1"], ray_env, runs[2], True)
        _ingest(root, [*ray_args, "-j", "2"], ray_env, runs[3], True)
    return runs


def _print(runs: list[Run]) -> None:
    print(f"-- {runs[0].images} images")
    for run in runs:
        rss = ""
        if run.rss_peak_mb:
            rss = (f"; actor RSS first {max(run.rss_first_mb):.0f} MB, "
                   f"peak {max(run.rss_peak_mb):.0f} MB")  # fmt: skip
        print(f"{run.label:26s} {statistics.median(run.seconds):7.1f} s  "
              f"{run.rate:6.2f} images/s{rss}")  # fmt: skip
    for cores, local, ray in ((1, runs[0], runs[2]), (2, runs[1], runs[3])):
        print(f"cluster overhead at {cores} core(s): {local.rate / ray.rate - 1:+.1%}")
    print(f"ray scaling 1 -> 2 actors: x{runs[3].rate / runs[2].rate:.2f} (linear: x2.00); "
          f"one machine 1 -> 2: x{runs[1].rate / runs[0].rate:.2f}")  # fmt: skip


def _marginal(small: list[Run], large: list[Run]) -> list[float]:
    """Seconds per extra image between the two sizes: the start-up costs cancel out."""
    out = []
    for a, b in zip(small, large, strict=True):
        extra = b.images - a.images
        out.append((statistics.median(b.seconds) - statistics.median(a.seconds)) / extra)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--owners", type=int, default=20)
    parser.add_argument("--distractors", type=int, default=60)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--shard-images", type=int, default=8)
    args = parser.parse_args()

    address = subprocess.run(["bash", str(REPO / "scripts" / "ray-cluster.sh"), "start", "1"],
                             check=True, capture_output=True, text=True).stdout.strip()  # fmt: skip
    ray_dir = Path(os.environ.get("NEXTOFKIN_RAY_DIR", f"/tmp/nok-ray-{os.getuid()}"))
    ray_env = {
        **os.environ,
        "NEXTOFKIN_CLUSTER__SHARD_IMAGES": str(args.shard_images),
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(ray_dir / "auth_token"),
    }
    with tempfile.TemporaryDirectory(prefix="bench-gallery-") as tmp:
        # Two sizes of the same kind of gallery: the difference in time per extra image is the
        # steady-state cost, without model loading, Ray's start-up and the derived data.
        half = build(LFW, Path(tmp) / "half", owners=args.owners // 2,
                     distractors=args.distractors // 2)  # fmt: skip
        full = build(LFW, Path(tmp) / "full", owners=args.owners, distractors=args.distractors)
        small = _measure(half.root, address, ray_env, args.repeats)
        large = _measure(full.root, address, ray_env, args.repeats)
    print(f"LFW galleries, {args.repeats} run(s) each, same run; shared 2-core machine")
    _print(small)
    _print(large)
    per = _marginal(small, large)
    if min(per) <= 0:
        # The machine's noise exceeded the difference between the sizes: no steady state.
        print("-- steady state: not measurable in this run (a larger gallery ran faster)")
        core_s = 2 / large[3].rate
    else:
        print("-- steady state (seconds per extra image between the two sizes)")
        for run, seconds in zip(large, per, strict=True):
            print(f"{run.label:26s} {seconds:7.3f} s/image  {1 / seconds:6.2f} images/s")
        print(f"steady-state cluster overhead: {per[2] / per[0] - 1:+.1%} at 1 core, "
              f"{per[3] / per[1] - 1:+.1%} at 2 cores; ray scaling 1 -> 2 actors "
              f"x{per[2] / per[3]:.2f}")  # fmt: skip
        core_s = 2 * per[3]
    print(f"cost per photo on the cluster path: {core_s:.3f} core-seconds (2 actors)")
    print("\n".join(_sizing(core_s)))


if __name__ == "__main__":
    main()
