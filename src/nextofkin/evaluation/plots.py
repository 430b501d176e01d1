"""DET and CMC curves as PNG files (matplotlib's Agg backend: no display needed).

Each function takes one or more named series so that a figure can compare configurations, the
peer, or degradation conditions on the same axes.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from nextofkin.evaluation.metrics import DetCurve

log = logging.getLogger(__name__)


def _pyplot() -> Any:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_det(
    curves: Mapping[str, DetCurve],
    path: Path,
    *,
    title: str = "Open-set identification: DET",
    marks: Sequence[float] = (0.1, 0.01, 0.003, 0.001),
) -> Path:
    """FNIR against FPIR (both logarithmic) for each named curve, written to ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    lowest = 1.0
    for name, det in curves.items():
        pts = [(fp, fn) for fp, fn in zip(det.fpir, det.fnir, strict=True) if fp > 0 and fn > 0]
        if not pts:
            continue
        xs, ys = zip(*pts, strict=True)
        lowest = min(lowest, *ys)
        ax.plot(xs, ys, label=name, linewidth=1.4)
    for mark in marks:
        ax.axvline(mark, color="grey", linewidth=0.6, linestyle=":")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(1e-4, 1.0)
    # Zoom to where the curves are, but never below 1e-3 (too few searches to resolve it).
    ax.set_ylim(max(1e-3, lowest / 2), 1.0)
    ax.set_xlabel("FPIR (non-mated searches whose top candidate passes)")
    ax.set_ylabel("FNIR (mated searches not found at rank 1)")
    ax.set_title(title)
    ax.grid(True, which="both", linewidth=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    log.info("wrote %s", path)
    return path


def plot_cmc(
    curves: Mapping[str, Sequence[float]],
    path: Path,
    *,
    title: str = "Closed-set ranks of mated searches: CMC",
) -> Path:
    """Rank-k identification rate against k for each named curve, written to ``path``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6.4, 4.8), dpi=110)
    for name, cmc in curves.items():
        ranks = list(range(1, len(cmc) + 1))
        ax.plot(ranks, [100.0 * v for v in cmc], marker=".", label=name, linewidth=1.4)
    ax.set_xlabel("rank")
    ax.set_ylabel("identification rate (%)")
    ax.set_xticks([1, 5, 10, 15, 20])
    ax.set_title(title)
    ax.grid(True, linewidth=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    log.info("wrote %s", path)
    return path
