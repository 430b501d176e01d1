"""A full disk is one clear error, and never leaves a half-written file behind."""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from nextofkin.errors import DiskFull
from nextofkin.i18n import _

_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
# What SQLite (and so SQLAlchemy's wrapper) says when it cannot grow the database file, and what
# C++ libraries (FAISS) put in their RuntimeError's text when a write fails with ENOSPC.
_FULL_TEXTS = ("database or disk is full", "no space left on device", "disk quota exceeded")


def is_disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an error it wraps) says the disk or quota is full."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.errno in _FULL_ERRNOS:
            return True
        text = str(current).lower()
        if any(words in text for words in _FULL_TEXTS):
            return True
        wrapped = getattr(current, "orig", None)  # SQLAlchemy's DBAPIError
        current = wrapped if isinstance(wrapped, BaseException) else current.__cause__
    return False


def disk_full(where: Path, doing: str) -> DiskFull:
    """The error for a full disk while ``doing`` something in ``where``."""
    return DiskFull(
        _(
            "the disk holding %(where)s is full while %(doing)s; nothing "
            "half-written was kept: free some space and try again",
            where=where,
            doing=doing,
        )
    )


def write_atomically(target: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write ``data`` to ``target`` via a fsynced temp file and a rename, or not at all.

    On any failure the temp file is removed; a full disk raises :class:`DiskFull`.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    try:
        with tmp.open("wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        tmp.replace(target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError) and is_disk_full(exc):
            raise disk_full(target.parent, _("writing %(name)s", name=target.name)) from exc
        raise
    if mode is not None:
        target.chmod(mode)


def fsync_file(path: Path) -> None:
    """Flush ``path``'s content to the disk (before a rename makes it the real one)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush the directory ``path``: a rename in it is durable only once its entry is on disk."""
    with contextlib.suppress(OSError):  # some filesystems refuse fsync on directories
        fsync_file(path)
