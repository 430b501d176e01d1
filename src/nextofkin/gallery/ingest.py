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
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from nextofkin.errors import ImageError, NextOfKinError
from nextofkin.gallery.formats import Export, read_export
from nextofkin.gallery.records import (
    Account,
    Face,
    Image,
    IngestError,
    Photo,
    PhotoStatus,
    Source,
)
from nextofkin.settings import VisionSettings
from nextofkin.vision.image_io import decode_image, read_bytes, sha256_of
from nextofkin.workspace import Workspace

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


def _init_worker(vision: VisionSettings) -> None:
    """Load the models once per worker process, single-threaded (one process per core)."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(vision.threads)
    global _PIPELINE
    from nextofkin.vision.models import default_registry
    from nextofkin.vision.pipeline import FacePipeline

    _PIPELINE = FacePipeline.from_settings(vision, default_registry())


def process_image(sha: str, path: str, data: bytes, max_pixels: int) -> ImageResult:
    """Decode, detect, align, assess and embed every face of one file content."""
    pipeline = _PIPELINE
    if pipeline is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialised")
    try:
        loaded = decode_image(data, max_pixels=max_pixels, name=path)
        found = pipeline.analyse(loaded.pixels)
    except ImageError as exc:
        return ImageResult(sha, path, len(data), error=str(exc))
    except NextOfKinError as exc:
        return ImageResult(sha, path, len(data), error=f"{type(exc).__name__}: {exc}")
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


def register_export(session: Session, source: Source, export: Export) -> tuple[int, int]:
    """Create the accounts and pending photo postings that are new; returns (accounts, photos)."""
    accounts = {
        a.external_id: a
        for a in session.scalars(select(Account).where(Account.source_id == source.id))
    }
    added_accounts = 0
    for entry in export.accounts:
        account = accounts.get(entry.external_id)
        if account is None:
            account = Account(source_id=source.id, external_id=entry.external_id)
            session.add(account)
            accounts[entry.external_id] = account
            added_accounts += 1
        account.name, account.url, account.city = entry.name, entry.url, entry.city
        account.contacts, account.friends = dict(entry.contacts), list(entry.friends)
        account.extra, account.profile_photo = dict(entry.extra), entry.profile_photo
    session.flush()
    existing: set[tuple[int, str]] = set(
        session.execute(
            select(Photo.account_id, Photo.rel_path).where(Photo.source_id == source.id)
        ).all()
    )
    added_photos = 0
    for photo in export.photos:
        account = accounts[photo.account]
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
                tagged=list(photo.tagged),
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
                initargs=(vision,),
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


def _read_all(items: list[_Pending], max_bytes: int) -> Iterator[tuple[_Pending, bytes | str]]:
    for item in items:
        try:
            yield item, read_bytes(item.path, max_bytes)
        except ImageError as exc:
            yield item, str(exc)


def ingest(
    workspace: Workspace,
    root: Path,
    *,
    source_name: str | None = None,
    workers: int | None = None,
    progress: ProgressFn | None = None,
    commit_every: float = 2.0,
) -> IngestReport:
    """Ingest the export at ``root`` into ``workspace`` (see the module docstring)."""
    from nextofkin.gallery.embedder import resolve_embedder, workspace_vision
    from nextofkin.gallery.maintenance import refresh_derived

    started = time.monotonic()
    settings = workspace.settings
    # Resolved before anything is embedded: new faces must be vectors of the workspace's model.
    embedder = resolve_embedder(workspace)
    vision = workspace_vision(workspace, embedder)
    root = root.expanduser().resolve()
    export = read_export(root)
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
    executor = _Executor(min(workers, max(1, total)), vision) if pending else None
    in_flight: dict[Future[ImageResult], list[int]] = {}
    by_sha: dict[str, Future[ImageResult]] = {}
    waiting: dict[Future[ImageResult], list[int]] = defaultdict(list)
    session = workspace.sessions()
    last_commit = time.monotonic()

    def finish(future: Future[ImageResult]) -> None:
        nonlocal done
        result = future.result()
        ids = in_flight.pop(future) + waiting.pop(future, [])
        by_sha.pop(result.sha256, None)
        report.faces_added += _store_result(
            session, result, ids, embedder_spec.name, embedder_spec.alignment, vision.detector
        )
        report.images_processed += 1
        done += 1
        if progress:
            progress(done, total)

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
                waiting[by_sha[sha]].extend(item.photo_ids)
                report.duplicates_linked += 1
                done += 1
                if progress:
                    progress(done, total)
                continue
            assert executor is not None
            future = executor.submit(sha, str(item.path), data, vision.max_pixels)
            in_flight[future] = list(item.photo_ids)
            by_sha[sha] = future
            while len(in_flight) >= limit:
                finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
                for fut in finished:
                    finish(fut)
            if time.monotonic() - last_commit > commit_every:
                session.commit()
                last_commit = time.monotonic()
        while in_flight:
            finished, _ = wait(list(in_flight), return_when=FIRST_COMPLETED)
            for fut in finished:
                finish(fut)
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
        if executor is not None:
            executor.close()

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
