"""Looks for what a purge must have removed in every file of a workspace (imported as
``purge_scan``): the purged faces' vectors as raw float32 bytes, and the purged photos' SHA-256
(hex or raw) and contents. Used by the purge tests and the stateful trust test."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np

# A 32-byte window of a random float32 vector does not occur by chance: enough to catch a
# partial copy (a page boundary in the middle of a vector, say).
WINDOW = 32


def _needles(
    vectors: Iterable[np.ndarray], hashes: Iterable[str], contents: Iterable[bytes]
) -> list[tuple[str, bytes]]:
    needles: list[tuple[str, bytes]] = []
    for n, vector in enumerate(vectors):
        raw = np.asarray(vector, dtype="<f4").tobytes()
        needles.append((f"vector {n}", raw))
        needles += [(f"vector {n} start", raw[:WINDOW]), (f"vector {n} end", raw[-WINDOW:])]
    for digest in hashes:
        needles += [(f"sha256 {digest[:12]}", digest.lower().encode("ascii"))]
        needles += [(f"sha256 {digest[:12]} upper", digest.upper().encode("ascii"))]
        needles += [(f"sha256 {digest[:12]} raw", bytes.fromhex(digest))]
    for n, content in enumerate(contents):
        middle = len(content) // 2
        needles.append((f"photo {n}", content[middle : middle + 256] or content))
    return needles


def _files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file() and not p.is_symlink())


def _traces(
    home: Path, vectors: Iterable[np.ndarray], hashes: Iterable[str], contents: Iterable[bytes]
) -> list[tuple[Path, list[str]]]:
    needles = _needles(vectors, hashes, contents)
    out = []
    for path in _files(home):
        data = path.read_bytes()
        hits = [name for name, needle in needles if needle in data]
        if hits:
            out.append((path, hits))
    return out


def find_purged_traces(
    workspace_home: Path,
    vectors: Iterable[np.ndarray],
    hashes: Iterable[str],
    contents: Iterable[bytes] = (),
) -> list[Path]:
    """Every file under ``workspace_home`` holding any of ``vectors`` (float32 bytes, whole or
    a window at either end), ``hashes`` (SHA-256 hex, either case, or raw) or ``contents``."""
    return [path for path, _ in _traces(workspace_home, vectors, hashes, contents)]


def describe_traces(
    workspace_home: Path,
    vectors: Iterable[np.ndarray],
    hashes: Iterable[str],
    contents: Iterable[bytes] = (),
) -> list[str]:
    """``"<file>: <what>"`` for every file holding a trace (for assertion messages)."""
    return [
        f"{path.relative_to(workspace_home)}: {', '.join(hits[:4])}"
        for path, hits in _traces(workspace_home, vectors, hashes, contents)
    ]
