"""Ingest: a gallery export into records, faces and the vector index.

The run is idempotent and resumable. Accounts and photo postings are registered first (status
``pending``); each distinct file content is then processed once, in a pool of worker processes,
and its image, faces and postings are committed together. A run killed at any moment leaves only
whole photos behind; the next run picks up the pending ones. Owner resolution, the index and the
calibration are derived from the database afterwards, by the ingest's caller under the same lock
(``nextofkin.identify.derived``), so they are repaired by any later run.
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
from sqlalchemy.orm import Session
from typing_extensions import TypedDict, Unpack

from nextofkin.errors import ImageError
from nextofkin.gallery.analysis import FaceData, ImageResult, init_worker, named, process_image
from nextofkin.gallery.embedder import resolve_embedder, workspace_vision
from nextofkin.gallery.formats import Export
from nextofkin.gallery.importers.detect import read_export
from nextofkin.gallery.ingest_lock import ingest_lock_path
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
from nextofkin.i18n import current_language
from nextofkin.processes import deathsig_safe
from nextofkin.settings import VisionSettings
from nextofkin.vision.image_io import read_bytes, sha256_of
from nextofkin.vision.models import EmbedderSpec
from nextofkin.workspace import Workspace

# Re-exported: callers and tests import these from the ingest module.
__all__ = [
    "FaceData",
    "Failure",
    "ImageResult",
    "IngestReport",
    "gallery_counts",
    "ingest_export",
    "ingest_lock_path",
    "process_image",
    "register_export",
]

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
                initargs=(vision, os.getpid(), deathsig_safe(), current_language()),
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


@dataclass
class _Run:
    """One run's files in flight: read in this process, analysed by the pool, stored in
    ``session`` as each result arrives (committed every ``commit_every`` seconds)."""

    session: Session
    pool: _Pool | None
    report: IngestReport
    embedder: EmbedderSpec
    detector: str
    total: int
    progress: ProgressFn | None
    done: int = 0
    in_flight: dict[Future[ImageResult], _Job] = field(default_factory=dict)
    by_sha: dict[str, _Job] = field(default_factory=dict)

    def tick(self) -> None:
        """One pending item settled."""
        self.done += 1
        if self.progress:
            self.progress(self.done, self.total)

    def store(self, job: _Job, result: ImageResult) -> None:
        """A worker's result in the records (image, faces, postings) in the open transaction."""
        self.by_sha.pop(job.sha, None)
        self.report.faces_added += store_result(
            self.session,
            result,
            job.photo_ids,
            self.embedder.name,
            self.embedder.alignment,
            self.detector,
        )
        self.report.images_processed += 1
        self.tick()

    def drain(self, until: int) -> None:
        """Store finished results until at most ``until`` files are in flight."""
        pool = self.pool
        if pool is None:  # nothing pending: nothing in flight
            return
        while len(self.in_flight) > until:
            finished, _ = wait(list(self.in_flight), return_when=FIRST_COMPLETED)
            broken: list[_Job] = []
            for future in finished:
                job = self.in_flight.pop(future)
                result = pool.result(future, job)
                if result is None:
                    broken.append(job)
                else:
                    self.store(job, result)
            if broken:
                # Every image in flight failed with the pool: retry each alone to find the
                # one that kills workers (see _Pool).
                broken.extend(self.in_flight.values())
                self.in_flight.clear()
                pool.restart()
                for job in broken:
                    self.store(job, pool.alone(job))

    def take(self, item: Pending, data: bytes | str, limit: int) -> None:
        """One pending path read: failed, linked to known content, or sent to a worker."""
        if isinstance(data, str):
            self.session.execute(
                update(Photo)
                .where(Photo.id.in_(item.photo_ids))
                .values(status=PhotoStatus.FAILED, error=data)
            )
            self.tick()
            return
        sha = sha256_of(data)
        # Postings that share one path share one read; all but the first are duplicates.
        self.report.duplicates_linked += len(item.photo_ids) - 1
        existing = self.session.scalar(select(Image.id).where(Image.sha256 == sha))
        if existing is not None or sha in self.by_sha:
            if existing is not None:
                link(self.session, item.photo_ids, existing)
            else:
                self.by_sha[sha].photo_ids.extend(item.photo_ids)
            self.report.duplicates_linked += 1
            self.tick()
            return
        assert self.pool is not None
        job = _Job(sha, str(item.path), data, list(item.photo_ids))
        self.in_flight[self.pool.submit(job)] = job
        self.by_sha[sha] = job
        self.drain(limit - 1)

    def run(self, pending: list[Pending], max_bytes: int, limit: int, commit_every: float) -> None:
        """Every pending item, committed every ``commit_every`` seconds and at the end; on any
        error the uncommitted part is rolled back (the next run redoes it)."""
        last_commit = time.monotonic()
        try:
            for item, data in _read_all(pending, max_bytes):
                self.take(item, data, limit)
                if time.monotonic() - last_commit > commit_every:
                    self.session.commit()
                    last_commit = time.monotonic()
            self.drain(0)
            self.session.commit()
        except BaseException:
            self.session.rollback()
            raise
        finally:
            self.session.close()
            if self.pool is not None:
                self.pool.close()


def _register(workspace: Workspace, report: IngestReport, root: Path, export: Export) -> int:
    """The export's source, accounts and postings registered; returns the source's id."""
    with workspace.session() as session:
        source = upsert_source(session, report.source, root, export.layout)
        report.accounts_added, report.photos_added = register_export(session, source, export)
        return source.id


class IngestOptions(TypedDict, total=False):
    """How to run an ingest, each optional; one record for :func:`ingest_export` and
    ``nextofkin.identify.derived.ingest``, which passes it through unchanged."""

    source_name: str | None  # default: the export folder's name
    workers: int | None  # default: the workspace's ``workers`` setting
    progress: ProgressFn | None
    commit_every: float  # seconds between commits (default 2.0)
    layout: str  # default "auto"


def ingest_export(
    workspace: Workspace, root: Path, **options: Unpack[IngestOptions]
) -> IngestReport:
    """Ingest the export at ``root`` into the records (see the module docstring).

    ``layout`` is one of :data:`nextofkin.gallery.importers.detect.FORMATS` (``auto``: detected).
    The caller holds the workspace's ingest lock (:func:`nextofkin.gallery.ingest_lock.ingest_lock`)
    and derives the index and calibration after: ``nextofkin.identify.derived.ingest`` does both.
    """
    started = time.monotonic()
    root = root.expanduser().resolve()
    progress = options.get("progress")
    # Read first: a root in no known layout is refused before any model is loaded.
    export = read_export(root, options.get("layout", "auto"))
    # Resolved before anything is embedded: new faces must be vectors of the workspace's model.
    embedder = resolve_embedder(workspace)
    vision = workspace_vision(workspace, embedder)
    report = IngestReport(source=options.get("source_name") or root.name, layout=export.layout)
    source_id = _register(workspace, report, root, export)
    with workspace.session() as session:
        pending = pending_by_path(session, session.get_one(Source, source_id), root)
    workers = max(1, options.get("workers") or workspace.settings.workers)
    if progress:
        progress(0, len(pending))
    pool = _Pool(min(workers, len(pending)), vision, vision.max_pixels) if pending else None
    run = _Run(
        workspace.sessions(), pool, report, embedder.spec, vision.detector, len(pending), progress
    )
    run.run(pending, vision.max_bytes, 4 * workers, options.get("commit_every", 2.0))
    report.failures = failures_of(workspace, source_id)
    report.seconds = round(time.monotonic() - started, 2)
    return report
