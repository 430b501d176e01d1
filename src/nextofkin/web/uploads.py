"""Uploaded post-mortem photos: size, count and type checked before any service sees them.

Files are streamed to a private temporary directory inside the workspace, at most
``max_upload_bytes`` each, and must start like one of the accepted image types (the name and the
declared content type are not trusted). The case service then copies them under chain of custody
and decodes them with its own limits; the temporary files are removed afterwards.

Each server process has a folder of its own under ``tmp/uploads`` holding a locked ``.lock``
file; at start-up the folders whose lock nobody holds (their server was killed) are removed.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from starlette.datastructures import UploadFile

from nextofkin.i18n import _, format_number, ngettext
from nextofkin.web.config import IMAGE_MAGIC, WebConfig
from nextofkin.web.problems import UploadRejected, UploadTooLarge

log = logging.getLogger(__name__)

CHUNK = 1 << 20
FRESH = 10.0  # seconds
LEGACY_AGE = 3600.0  # seconds; tmp/upload-* folders of servers from before per-process folders


@dataclass
class ScratchFolder:
    """This process's folder for uploads in flight; held by a lock on ``.lock`` while open."""

    path: Path
    _lock: IO[str]

    @classmethod
    def open(cls, home: Path) -> ScratchFolder:
        """Remove folders of dead servers under ``home/tmp/uploads``, then make this one's."""
        root = home / "tmp" / "uploads"
        root.mkdir(parents=True, exist_ok=True, mode=0o700)
        removed = clean_stale(home)
        if removed:
            log.info("removed %d upload folders left by stopped servers", removed)
        path = Path(tempfile.mkdtemp(prefix=f"proc-{os.getpid()}-", dir=root))
        lock = (path / ".lock").open("w", encoding="ascii")
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return cls(path, lock)

    def close(self) -> None:
        """Remove the folder (a clean stop)."""
        shutil.rmtree(self.path, ignore_errors=True)
        self._lock.close()


def clean_stale(home: Path) -> int:
    """Remove upload folders whose server is gone (nobody holds their lock); how many."""
    removed = 0
    root = home / "tmp" / "uploads"
    for folder in root.glob("proc-*") if root.is_dir() else []:
        if time.time() - folder.stat().st_mtime < FRESH:
            continue  # perhaps a server starting this instant, before it locked its folder
        try:
            with (folder / ".lock").open("a", encoding="ascii") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            continue  # a live server's folder
        except OSError:
            pass  # no lock file: never fully made, so nobody uses it
        shutil.rmtree(folder, ignore_errors=True)
        removed += 1
    legacy = home / "tmp"
    for folder in legacy.glob("upload-*") if legacy.is_dir() else []:
        if time.time() - folder.stat().st_mtime > LEGACY_AGE:
            shutil.rmtree(folder, ignore_errors=True)
            removed += 1
    return removed


def sniff(head: bytes) -> str | None:
    """The image type the first bytes of a file announce, or None."""
    for kind, magics in IMAGE_MAGIC.items():
        for magic in magics:
            if head.startswith(magic):
                if kind == "webp" and head[8:12] != b"WEBP":
                    continue
                return kind
    return None


def safe_name(name: str | None, index: int) -> str:
    """A harmless file name keeping what a person would recognise of the original."""
    base = Path((name or "").replace("\\", "/")).name
    base = re.sub(r"[^\w.\- ]+", "_", base).strip(" .")[:120]
    return base or f"photo-{index}"


@contextmanager
def saved_uploads(
    files: Sequence[UploadFile], config: WebConfig, scratch: Path
) -> Iterator[list[Path]]:
    """The uploads written to a temporary directory under ``scratch``, removed on exit.

    Raises :class:`UploadRejected` (415) for no file, too many files or a type that is not an
    accepted image, and :class:`UploadTooLarge` (413) for a file over the size limit.
    """
    files = [f for f in files if f.filename or f.size]
    if not files:
        raise UploadRejected(_("no photo was uploaded"))
    if len(files) > config.max_upload_files:
        raise UploadRejected(
            ngettext(
                "at most %(num)d photo per upload",
                "at most %(num)d photos per upload",
                config.max_upload_files,
            )
        )
    scratch.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(prefix="upload-", dir=scratch))
    try:
        paths: list[Path] = []
        used: set[str] = set()
        for i, upload in enumerate(files, start=1):
            name = safe_name(upload.filename, i)
            while name in used:
                name = f"{i}-{name}"
            used.add(name)
            target = directory / name
            _write_checked(upload, target, config)
            paths.append(target)
        yield paths
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def _write_checked(upload: UploadFile, target: Path, config: WebConfig) -> None:
    upload.file.seek(0)
    head = upload.file.read(16)
    kind = sniff(head)
    if kind is None or kind not in config.image_types:
        accepted = ", ".join(config.image_types)
        raise UploadRejected(
            _(
                "%(file)s is not an accepted image (accepted: %(accepted)s)",
                file=upload.filename or _("upload"),
                accepted=accepted,
            )
        )
    written = len(head)
    with target.open("wb") as out:
        out.write(head)
        while chunk := upload.file.read(CHUNK):
            written += len(chunk)
            if written > config.max_upload_bytes:
                raise UploadTooLarge(
                    _(
                        "%(file)s is over %(size)s bytes",
                        file=upload.filename or _("upload"),
                        size=format_number(config.max_upload_bytes),
                    )
                )
            out.write(chunk)
