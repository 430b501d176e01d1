"""Ingest: a gallery export into records, faces and the vector index.

The run is idempotent and resumable. Accounts and photo postings are registered first (status
``pending``); each distinct file content is then processed once, in a pool of worker processes,
and its image, faces and postings are committed together. A run killed at any moment leaves only
whole photos behind; the next run picks up the pending ones. Owner resolution, the index and the
calibration are derived from the database at the end, so they are repaired by any later run.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

from sqlalchemy import select, update

from nextofkin.diskspace import disk_full, is_disk_full
from nextofkin.errors import ImageError
from nextofkin.gallery.analysis import FaceData, ImageResult, init_worker, named, process_image
from nextofkin.gallery.formats import read_export
from nextofkin.gallery.records import Image, Photo, PhotoStatus, Source
from nextofkin.gallery.registration import (
    Failure,
    Pending,
    failures_of,
    gallery_counts,
    link,
    pending_by_path,
    register_export,
    store_result,
    upsert_source,
)
from nextofkin.processes import deathsig_safe, exclusive_lock
from nextofkin.settings import VisionSettings
from nextofkin.vision.image_io import read_bytes, sha256_of
from nextofkin.workspace import Workspace

# Re-exported: callers and tests import these from the ingest module.
__all__ = [
    "FaceData",
    "Failure",
    "ImageResult",
    "IngestReport",
    "gallery_counts",
    "ingest",
    "process_image",
    "register_export",
]
_upsert_source = upsert_source

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


@dataclass
class IngestReport:
    """What one ingest run did."""

    source: str
    layout: str
    accounts_added: int = 0
    photos_added: int = 0
    images_processed: int = 0
    duplicates_linked: int = 0
    faces_added: int = 0
    failures: list[Failure] = field(default_factory=list)
    accounts_resolved: int = 0
    index_total: int = 0
    seconds: float = 0.0


# --- main side ---------------------------------------------------------------------------------


class _Executor:
    """A process pool, or in-process execution for one worker (simpler to debug and test)."""

    def __init__(self, workers: int, vision: VisionSettings) -> None:
        self.pool: ProcessPoolExecutor | None = None
        if workers > 1:
            self.pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=get_context("spawn"),
                initializer=init_worker,
                initargs=(vision, os.getpid(), deathsig_safe()),
            )
        else:
            init_worker(vision)

    def submit(self, sha: str, path: str, data: bytes, max_pixels: int) -> Future[ImageResult]:
        if self.pool is not None:
            return self.pool.submit(process_image, sha, path, data, max_pixels)
        future: Future[ImageResult] = Future()
        future.set_result(process_image(sha, path, data, max_pixels))
        return future

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)


@dataclass
class _Job:
    """One new file content sent to a worker, kept until its result is stored."""

    sha: str
    path: str
    data: bytes
    photo_ids: list[int]


class _Pool:
    """The ingest's workers, replaced when one dies, so that a crash costs one image.

    A worker killed mid-image (a segfault in a model binding, the kernel's OOM killer) breaks
    the whole process pool and fails every image in flight. The pool is then rebuilt and those
    images are retried one at a time: the one that breaks the pool alone is the culprit and is
    failed with that reason; the others are ingested.
    """

    def __init__(self, workers: int, vision: VisionSettings, max_pixels: int) -> None:
        self.workers, self.vision, self.max_pixels = workers, vision, max_pixels
        self.executor = _Executor(workers, vision)

    def submit(self, job: _Job) -> Future[ImageResult]:
        return self.executor.submit(job.sha, job.path, job.data, self.max_pixels)

    def result(self, future: Future[ImageResult], job: _Job) -> ImageResult | None:
        """The job's result, or None when the pool broke (the caller retries it alone)."""
        try:
            return future.result()
        except BrokenProcessPool:
            return None
        except Exception as exc:  # e.g. a result that cannot be pickled: still this image's
            message = f"worker failed ({type(exc).__name__}: {exc})"[:500]
            return ImageResult(job.sha, job.path, len(job.data), error=named(job.path, message))

    def restart(self) -> None:
        self.executor.close()
        self.executor = _Executor(self.workers, self.vision)

    def alone(self, job: _Job) -> ImageResult:
        """Run ``job`` with nothing else in flight; a pool that breaks now broke on it."""
        result = self.result(self.submit(job), job)
        if result is not None:
            return result
        log.warning("a worker died while analysing %s; the image is marked failed", job.path)
        self.restart()
        message = "the worker process died while analysing this image (crash or out of memory)"
        return ImageResult(job.sha, job.path, len(job.data), error=named(job.path, message))

    def close(self) -> None:
        self.executor.close()


def _read_all(items: list[Pending], max_bytes: int) -> Iterator[tuple[Pending, bytes | str]]:
    for item in items:
        try:
            yield item, read_bytes(item.path, max_bytes)
        except ImageError as exc:
            yield item, str(exc)


def ingest_lock_path(workspace: Workspace) -> Path:
    """The lock file every ingest of the workspace holds while it runs."""
    return workspace.home / "locks" / "ingest.lock"


def ingest(
    workspace: Workspace,
    root: Path,
    *,
    source_name: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    commit_every: float = 2.0,
    layout: str = "auto",
) -> IngestReport:
    """Ingest the export at ``root`` into ``workspace`` (see the module docstring).

    ``layout`` is one of :data:`nextofkin.gallery.importers.detect.FORMATS` (``auto``: detected).

    One ingest runs at a time per workspace: another one raises :class:`Busy` at once (the lock
    is the kernel's, so a killed ingest never leaves it stale). A full disk raises
    :class:`DiskFull`; what was committed stays, and the next run resumes.
    """
    # Workspace-wide, not per source: two ingests of different sources would also race on
    # shared image contents (unique SHA-256) and on rewriting the one index.
    with exclusive_lock(ingest_lock_path(workspace), "an ingest"):
        try:
            return _ingest(workspace, root, source_name, workers, progress, commit_every, layout)
        except Exception as exc:
            if is_disk_full(exc):
                raise disk_full(workspace.home, "ingesting") from exc
            raise


def _ingest(
    workspace: Workspace,
    root: Path,
    source_name: str | None,
    workers: int | None,
    progress: ProgressFn | None,
    commit_every: float,
    layout: str = "auto",
) -> IngestReport:
    from nextofkin.gallery.embedder import resolve_embedder, workspace_vision
    from nextofkin.gallery.maintenance import refresh_derived

    started = time.monotonic()
    settings = workspace.settings
    root = root.expanduser().resolve()
    # Read first: a root in no known layout is refused before any model is loaded.
    export = read_export(root, layout)
    # Resolved before anything is embedded: new faces must be vectors of the workspace's model.
    embedder = resolve_embedder(workspace)
    vision = workspace_vision(workspace, embedder)
    name = source_name or root.name
    report = IngestReport(source=name, layout=export.layout)
    embedder_spec = embedder.spec
    with workspace.session() as session:
        source = upsert_source(session, name, root, export.layout)
        report.accounts_added, report.photos_added = register_export(session, source, export)
        source_id = source.id
    with workspace.session() as session:
        source = session.get_one(Source, source_id)
        pending = pending_by_path(session, source, root)
    total = len(pending)
    done = 0
    if progress:
        progress(0, total)
    workers = max(1, workers or settings.workers)
    pool = _Pool(min(workers, max(1, total)), vision, vision.max_pixels) if pending else None
    in_flight: dict[Future[ImageResult], _Job] = {}
    by_sha: dict[str, _Job] = {}
    session = workspace.sessions()
    last_commit = time.monotonic()

    def store(job: _Job, result: ImageResult) -> None:
        nonlocal done
        by_sha.pop(job.sha, None)
        report.faces_added += store_result(
            session,
            result,
            job.photo_ids,
            embedder_spec.name,
            embedder_spec.alignment,
            vision.detector,
        )
        report.images_processed += 1
        done += 1
        if progress:
            progress(done, total)

    def drain(until: int) -> None:
        if pool is None:  # nothing pending: nothing in flight
            return
        while len(in_flight) > until:
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            broken: list[_Job] = []
            for future in finished:
                job = in_flight.pop(future)
                result = pool.result(future, job)
                if result is None:
                    broken.append(job)
                else:
                    store(job, result)
            if broken:
                # Every image in flight failed with the pool: retry each alone to find the
                # one that kills workers (see _Pool).
                broken.extend(in_flight.values())
                in_flight.clear()
                pool.restart()
                for job in broken:
                    store(job, pool.alone(job))

    try:
        reader = _read_all(pending, vision.max_bytes)
        limit = 4 * workers
        for item, data in reader:
            if isinstance(data, str):
                session.execute(
                    update(Photo)
                    .where(Photo.id.in_(item.photo_ids))
                    .values(status=PhotoStatus.FAILED, error=data)
                )
                done += 1
                if progress:
                    progress(done, total)
                continue
            sha = sha256_of(data)
            # Postings that share one path share one read; all but the first are duplicates.
            report.duplicates_linked += len(item.photo_ids) - 1
            existing = session.scalar(select(Image.id).where(Image.sha256 == sha))
            if existing is not None:
                link(session, item.photo_ids, existing)
                report.duplicates_linked += 1
                done += 1
                if progress:
                    progress(done, total)
                continue
            if sha in by_sha:
                by_sha[sha].photo_ids.extend(item.photo_ids)
                report.duplicates_linked += 1
                done += 1
                if progress:
                    progress(done, total)
                continue
            assert pool is not None
            job = _Job(sha, str(item.path), data, list(item.photo_ids))
            in_flight[pool.submit(job)] = job
            by_sha[sha] = job
            drain(limit - 1)
            if time.monotonic() - last_commit > commit_every:
                session.commit()
                last_commit = time.monotonic()
        drain(0)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        if pool is not None:
            pool.close()

    report.failures = failures_of(workspace, source_id)
    derived = refresh_derived(workspace)
    report.accounts_resolved = derived.accounts_resolved
    report.index_total = derived.index_total
    report.seconds = round(time.monotonic() - started, 2)
    return report
