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
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nextofkin.diskspace import disk_full, is_disk_full
from nextofkin.errors import ImageError
from nextofkin.gallery.formats import AccountEntry, Export, read_export
from nextofkin.gallery.records import (
    Account,
    Face,
    Image,
    IngestError,
    Photo,
    PhotoStatus,
    Source,
)
from nextofkin.gallery.tags import parse_relatives
from nextofkin.processes import deathsig_safe, die_with_parent, exclusive_lock
from nextofkin.settings import VisionSettings
from nextofkin.vision.image_io import decode_image, read_bytes, sha256_of
from nextofkin.workspace import Workspace

if TYPE_CHECKING:
    from nextofkin.vision.pipeline import FacePipeline

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]


@dataclass(frozen=True)
class FaceData:
    """A face as a worker returns it (plain values, cheap to pickle)."""

    box: tuple[float, float, float, float]
    landmarks: list[list[float]]
    detection_score: float
    quality: float
    quality_parts: dict[str, float]
    rotation: int
    embedding: np.ndarray


@dataclass(frozen=True)
class ImageResult:
    """What a worker found in one file content."""

    sha256: str
    path: str
    size_bytes: int
    width: int = 0
    height: int = 0
    faces: list[FaceData] = field(default_factory=list)
    tried: list[str] = field(default_factory=list)
    error: str | None = None


@dataclass
class Failure:
    """One item that could not be ingested, and why."""

    item: str
    message: str


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


# --- worker side -------------------------------------------------------------------------------

_PIPELINE = None


def _init_worker(
    vision: VisionSettings, parent_pid: int | None = None, deathsig: bool = False
) -> None:
    """Load the models once per worker process, single-threaded (one process per core).

    The worker ends with its parent (``parent_pid``), so a killed ingest leaves no workers.
    """
    if parent_pid is not None:
        die_with_parent(parent_pid, deathsig=deathsig)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(vision.threads)
    global _PIPELINE
    from nextofkin.vision.models import default_registry
    from nextofkin.vision.pipeline import FacePipeline

    _PIPELINE = FacePipeline.from_settings(vision, default_registry())


def _named(path: str, message: str) -> str:
    """``message`` prefixed with the file's name unless it already starts with it."""
    return message if message.startswith(path) else f"{path}: {message}"


def process_image(sha: str, path: str, data: bytes, max_pixels: int) -> ImageResult:
    """Decode, detect, align, assess and embed every face of one file content.

    Never raises for a problem of this image: any decode, detect or embed failure (a hostile
    PNG chunk, a 1-pixel strip, a model error, memory) comes back as the result's ``error``,
    naming the file, so that one bad photo is that photo's failure and the run goes on.
    """
    pipeline = _PIPELINE
    if pipeline is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialised")
    try:
        return _process(pipeline, sha, path, data, max_pixels)
    except ImageError as exc:
        return ImageResult(sha, path, len(data), error=_named(path, str(exc)))
    except Exception as exc:
        # Anything else (NextOfKinError, MemoryError, a bug in a model binding) is still this
        # image's failure; its type is kept because the message alone may not say what failed.
        message = f"{type(exc).__name__}: {exc}"[:500]
        return ImageResult(sha, path, len(data), error=_named(path, message))


def _process(
    pipeline: FacePipeline, sha: str, path: str, data: bytes, max_pixels: int
) -> ImageResult:
    loaded = decode_image(data, max_pixels=max_pixels, name=path)
    found = pipeline.analyse(loaded.pixels)
    faces = [
        FaceData(
            box=(f.box.left, f.box.top, f.box.right, f.box.bottom),
            landmarks=np.round(f.landmarks, 2).tolist(),
            detection_score=f.detection_score,
            quality=f.quality.overall,
            quality_parts={
                "size": f.quality.size,
                "sharpness": f.quality.sharpness,
                "pose": f.quality.pose,
                "eye_distance_px": f.quality.eye_distance_px,
            },
            rotation=f.rotation,
            embedding=f.embedding,
        )
        for f in found.faces
    ]
    return ImageResult(sha, path, len(data), loaded.width, loaded.height, faces, found.tried)


# --- main side ---------------------------------------------------------------------------------


def _upsert_source(session: Session, name: str, root: Path, layout: str) -> Source:
    source = session.scalar(select(Source).where(Source.name == name))
    if source is None:
        source = Source(name=name, root=str(root), layout=layout)
        session.add(source)
        session.flush()
    else:
        source.root, source.layout = str(root), layout
    return source


def _platform_source(session: Session, platform: str) -> Source:
    """The source that holds a platform's accounts (named after the platform, e.g. ``vk``).

    An export source already named so is reused: its accounts and the platform's are then the
    same namespace, which is what a team naming a VK export "vk" meant.
    """
    source = session.scalar(select(Source).where(Source.name == platform))
    if source is None:
        source = Source(name=platform, root="", layout="platform")
        session.add(source)
        session.flush()
    return source


def _merge_platform_account(account: Account, entry: AccountEntry) -> None:
    """Add what one more export says about a platform account, keeping what others said.

    Tools see different parts of one profile (gallery-dl the posts, a Telegram export the phone
    number): a later export never blanks a field an earlier one filled.
    """
    account.platform = entry.platform
    account.name = entry.name or account.name
    account.url = entry.url or account.url
    account.city = entry.city or account.city
    account.profile_photo = entry.profile_photo or account.profile_photo
    account.contacts = {**(account.contacts or {}), **entry.contacts}
    account.friends = list(dict.fromkeys([*(account.friends or []), *entry.friends]))
    relatives = parse_relatives(
        [*(account.relatives or []), *(r.to_json() for r in entry.relatives)]
    )
    account.relatives = [r.to_json() for r in relatives]
    account.extra = {**(account.extra or {}), **entry.extra}


def register_export(session: Session, source: Source, export: Export) -> tuple[int, int]:
    """Create the accounts and pending photo postings that are new; returns (accounts, photos).

    Accounts with a platform go to that platform's source (one account per platform user id,
    whichever export reached it); their photos stay in ``source``, whose root they are under.
    """
    sources: dict[str | None, int] = {None: source.id}
    for name in sorted({a.platform for a in export.accounts if a.platform}):
        sources[name] = _platform_source(session, name).id
    accounts: dict[tuple[str | None, str], Account] = {}
    for platform, source_id in sources.items():
        for a in session.scalars(select(Account).where(Account.source_id == source_id)):
            accounts[(platform, a.external_id)] = a
    added_accounts = 0
    for entry in export.accounts:
        key = (entry.platform, entry.external_id)
        account = accounts.get(key)
        if account is None:
            account = Account(source_id=sources[entry.platform], external_id=entry.external_id)
            session.add(account)
            accounts[key] = account
            added_accounts += 1
        if entry.platform is not None:
            _merge_platform_account(account, entry)
            continue
        account.name, account.url, account.city = entry.name, entry.url, entry.city
        account.contacts, account.friends = dict(entry.contacts), list(entry.friends)
        account.extra, account.profile_photo = dict(entry.extra), entry.profile_photo
        account.relatives = [r.to_json() for r in entry.relatives]
    session.flush()
    # (account, path) is unique over all sources: a platform account's posting read again
    # through a second export of the same tool layout is the same posting.
    own = select(Account.id).where(Account.source_id.in_(list(sources.values())))
    existing: set[tuple[int, str]] = set(
        session.execute(
            select(Photo.account_id, Photo.rel_path).where(
                (Photo.source_id == source.id) | Photo.account_id.in_(own)
            )
        ).all()
    )
    added_photos = 0
    for photo in export.photos:
        account = accounts[(photo.platform, photo.account)]
        if (account.id, photo.rel_path) in existing:
            continue
        existing.add((account.id, photo.rel_path))
        session.add(
            Photo(
                source_id=source.id,
                account_id=account.id,
                rel_path=photo.rel_path,
                kind=photo.kind,
                caption=photo.caption,
                posted_at=photo.posted_at,
                tagged=[tag.to_json() for tag in photo.tagged],
                post_url=photo.post_url,
                status=PhotoStatus.PENDING,
            )
        )
        added_photos += 1
    known = set(session.scalars(select(IngestError.item).where(IngestError.source_id == source.id)))
    for problem in export.problems:
        if problem.item not in known:
            session.add(
                IngestError(source_id=source.id, item=problem.item, message=problem.message)
            )
            known.add(problem.item)
    return added_accounts, added_photos


def _store_result(
    session: Session,
    result: ImageResult,
    photo_ids: list[int],
    model: str,
    alignment: str,
    detector: str,
) -> int:
    """Commit-ready: the image, its faces, and its postings marked done (or failed)."""
    if result.error is not None:
        session.execute(
            update(Photo)
            .where(Photo.id.in_(photo_ids))
            .values(status=PhotoStatus.FAILED, error=result.error)
        )
        return 0
    image = session.scalar(select(Image).where(Image.sha256 == result.sha256))
    added = 0
    if image is None:
        image = Image(
            sha256=result.sha256,
            path=result.path,
            width=result.width,
            height=result.height,
            size_bytes=result.size_bytes,
            detector=detector,
            tried=result.tried,
        )
        for ordinal, face in enumerate(result.faces):
            image.faces.append(
                Face(
                    ordinal=ordinal,
                    left=face.box[0],
                    top=face.box[1],
                    right=face.box[2],
                    bottom=face.box[3],
                    landmarks=face.landmarks,
                    detection_score=face.detection_score,
                    quality=face.quality,
                    quality_parts=face.quality_parts,
                    rotation=face.rotation,
                    model=model,
                    alignment=alignment,
                    embedding=face.embedding,
                )
            )
            added += 1
        session.add(image)
        session.flush()
    _link(session, photo_ids, image.id)
    return added


def _link(session: Session, photo_ids: list[int], image_id: int) -> None:
    session.execute(
        update(Photo)
        .where(Photo.id.in_(photo_ids))
        .values(status=PhotoStatus.DONE, image_id=image_id, error=None)
    )
    account_ids = select(Photo.account_id).where(Photo.id.in_(photo_ids))
    session.execute(update(Account).where(Account.id.in_(account_ids)).values(roles_dirty=True))


@dataclass
class _Pending:
    path: Path
    rel_path: str
    photo_ids: list[int]


def _pending_by_path(session: Session, source: Source, root: Path) -> list[_Pending]:
    rows = session.execute(
        select(Photo.id, Photo.rel_path)
        .where(Photo.source_id == source.id, Photo.status == PhotoStatus.PENDING)
        .order_by(Photo.id)
    ).all()
    grouped: dict[str, list[int]] = defaultdict(list)
    for photo_id, rel in rows:
        grouped[rel].append(photo_id)
    return [_Pending(root / rel, rel, ids) for rel, ids in grouped.items()]


class _Executor:
    """A process pool, or in-process execution for one worker (simpler to debug and test)."""

    def __init__(self, workers: int, vision: VisionSettings) -> None:
        self.pool: ProcessPoolExecutor | None = None
        if workers > 1:
            self.pool = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=get_context("spawn"),
                initializer=_init_worker,
                initargs=(vision, os.getpid(), deathsig_safe()),
            )
        else:
            _init_worker(vision)

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
            return ImageResult(job.sha, job.path, len(job.data), error=_named(job.path, message))

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
        return ImageResult(job.sha, job.path, len(job.data), error=_named(job.path, message))

    def close(self) -> None:
        self.executor.close()


def _read_all(items: list[_Pending], max_bytes: int) -> Iterator[tuple[_Pending, bytes | str]]:
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
        source = _upsert_source(session, name, root, export.layout)
        report.accounts_added, report.photos_added = register_export(session, source, export)
        source_id = source.id
    with workspace.session() as session:
        source = session.get_one(Source, source_id)
        pending = _pending_by_path(session, source, root)
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
        report.faces_added += _store_result(
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
                _link(session, item.photo_ids, existing)
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

    with workspace.session() as session:
        failed = session.execute(
            select(Photo.rel_path, Photo.error).where(
                Photo.source_id == source_id, Photo.status == PhotoStatus.FAILED
            )
        ).all()
        problems = session.execute(
            select(IngestError.item, IngestError.message).where(IngestError.source_id == source_id)
        ).all()
    report.failures = [Failure(item, message) for item, message in problems] + [
        Failure(rel, error or "failed") for rel, error in failed
    ]
    derived = refresh_derived(workspace)
    report.accounts_resolved = derived.accounts_resolved
    report.index_total = derived.index_total
    report.seconds = round(time.monotonic() - started, 2)
    return report


def gallery_counts(session: Session) -> dict[str, int]:
    """How many sources, accounts, photos (by status), images and faces the workspace holds."""
    counts = {
        "sources": session.scalar(select(func.count(Source.id))) or 0,
        "accounts": session.scalar(select(func.count(Account.id))) or 0,
        "images": session.scalar(select(func.count(Image.id))) or 0,
        "faces": session.scalar(select(func.count(Face.id))) or 0,
    }
    for status in PhotoStatus:
        counts[f"photos_{status.value}"] = (
            session.scalar(select(func.count(Photo.id)).where(Photo.status == status)) or 0
        )
    return counts
