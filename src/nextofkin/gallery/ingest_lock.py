"""The one-ingest-per-workspace lock, with a full disk turned into one clear error.

Every engine (the one-machine pool, the Ray cluster) and whoever derives the index and
calibration after it run inside :func:`ingest_lock`, so the two never interleave with another
ingest. The lock is workspace-wide, not per source: two ingests of different sources would also
race on shared image contents (unique SHA-256) and on rewriting the one index.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nextofkin.diskspace import disk_full, is_disk_full
from nextofkin.i18n import N_, gettext
from nextofkin.processes import exclusive_lock
from nextofkin.workspace import Workspace


def ingest_lock_path(workspace: Workspace) -> Path:
    """The lock file every ingest of the workspace holds while it runs."""
    return workspace.home / "locks" / "ingest.lock"


@contextmanager
def ingest_lock(workspace: Workspace, doing: str = N_("ingesting")) -> Iterator[None]:
    """Hold the workspace's ingest lock for the block; a full disk inside raises DiskFull.

    Another holder makes this raise :class:`Busy` at once (the lock is the kernel's, so a killed
    ingest never leaves it stale). What was committed before a full disk stays; the next run
    resumes.
    """
    with exclusive_lock(ingest_lock_path(workspace), gettext("an ingest")):
        try:
            yield
        except Exception as exc:
            if is_disk_full(exc):
                raise disk_full(workspace.home, gettext(doing)) from exc
            raise
