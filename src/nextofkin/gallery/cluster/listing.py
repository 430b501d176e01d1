"""The export listed once, in the driver: pending postings read, hashed and deduplicated.

Only paths, hashes and posting ids travel to the cluster, never image bytes: every node reads
the export from a shared path. Content already in the records is linked here at once, and
postings of one content share one job, as in the one-machine ingest.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from nextofkin.errors import ImageError
from nextofkin.gallery.cluster.shards import ShardJob
from nextofkin.gallery.records import Image, Photo, PhotoStatus
from nextofkin.gallery.registration import Pending, link
from nextofkin.vision.image_io import read_bytes, sha256_of


@dataclass
class Listing:
    """The export's pending work: new contents to analyse, and what was settled at once."""

    jobs: list[ShardJob] = field(default_factory=list)
    linked: int = 0  # postings of content already stored, or of a content listed once already
    unreadable: int = 0


def list_pending(
    session: Session,
    pending: list[Pending],
    max_bytes: int,
    tick: Callable[[], None] | None = None,
) -> Listing:
    """Hash every pending file once; link known contents; one job per new content."""
    out = Listing()
    by_sha: dict[str, tuple[str, list[int]]] = {}
    for item in pending:
        try:
            data = read_bytes(item.path, max_bytes)
        except ImageError as exc:
            session.execute(
                update(Photo)
                .where(Photo.id.in_(item.photo_ids))
                .values(status=PhotoStatus.FAILED, error=str(exc))
            )
            out.unreadable += 1
            if tick:
                tick()
            continue
        sha = sha256_of(data)
        del data
        out.linked += len(item.photo_ids) - 1
        existing = session.scalar(select(Image.id).where(Image.sha256 == sha))
        if existing is not None:
            link(session, item.photo_ids, existing)
            out.linked += 1
            if tick:
                tick()
        elif sha in by_sha:
            by_sha[sha][1].extend(item.photo_ids)
            out.linked += 1
            if tick:
                tick()
        else:
            by_sha[sha] = (str(item.path), list(item.photo_ids))
    out.jobs = [ShardJob(sha, path, tuple(ids)) for sha, (path, ids) in by_sha.items()]
    return out


def into_shards(jobs: list[ShardJob], size: int) -> list[list[ShardJob]]:
    """Consecutive groups of at most ``size`` jobs (the order of the export)."""
    return [jobs[i : i + size] for i in range(0, len(jobs), max(1, size))]
