"""Moving a workspace's faces to another embedder: re-embed, then switch in one transaction.

Vectors of two models never share an index (gallery/embedder.py), so changing the embedder
means computing every face's vector again. Detection is not redone: each face is cut again from
its stored photo with its stored five landmarks (original photo coordinates; every embedder's
``align`` is a similarity fit, so a tilted face is straightened from the original photo) and
embedded by the new model in worker processes that load it once.

**Resumable, nothing lost.** A new vector is a new ``Face`` row with the new model's name beside
the old one (the unique key is ``(image_id, ordinal, model)``), committed a batch of images at
a time. A run killed at any moment keeps its committed batches; the next run embeds only the
faces that still lack a vector of the new model, and the unique key refuses a duplicate.

**The switch** (:func:`switch_faces`) runs only when every face has its new vector: in one
transaction, face roles (and, through ``carry``, what the layers above keep of face ids) move
to the new rows and the old rows are deleted. The caller rebuilds the index from the new
vectors in the same transaction (``nextofkin.identify.derived.move_embedder``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any, cast

import numpy as np
from sqlalchemy import CursorResult, delete, exists, func, insert, select
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from nextofkin.errors import ImageError
from nextofkin.gallery.records import Face, FaceRoleRecord, Image, Photo, Source
from nextofkin.i18n import _, current_language, set_language
from nextofkin.processes import deathsig_safe, die_with_parent
from nextofkin.settings import VisionSettings
from nextofkin.vision.image_io import decode_image, read_bytes, sha256_of
from nextofkin.vision.models import Embedder, EmbedderSpec
from nextofkin.vision.registry import default_registry

log = logging.getLogger(__name__)

ProgressFn = Callable[[int, int], None]
# Carries the face ids the layers above keep (stored searches, alerts) to the new faces, inside
# the switch's transaction; returns how many references it changed, by what they are.
CarryFn = Callable[[Session, dict[int, int]], dict[str, int]]


@dataclass(frozen=True)
class ReembedJob:
    """One image's faces to embed again: where its content may be read, and their landmarks."""

    image_id: int
    sha256: str
    paths: tuple[str, ...]
    ordinals: tuple[int, ...]
    landmarks: tuple[list[list[float]], ...]


@dataclass(frozen=True)
class ReembedResult:
    """A worker's answer for one image: a vector per ordinal, or why there is none."""

    image_id: int
    path: str
    vectors: np.ndarray | None = None
    error: str | None = None


@dataclass(frozen=True)
class Problem:
    """One image whose faces could not be embedded again, and why (the run goes on)."""

    item: str
    message: str


@dataclass
class ReembedProgress:
    """What the re-embedding part of a move did."""

    faces: int = 0
    had_vector: int = 0
    embedded: int = 0
    missing: int = 0
    problems: list[Problem] = field(default_factory=list)


# --- worker side -------------------------------------------------------------------------------

_EMBEDDER: Embedder | None = None


def init_worker(
    vision: VisionSettings,
    name: str,
    parent_pid: int | None = None,
    deathsig: bool = False,
    language: str | None = None,
) -> None:
    """Load embedder ``name`` once per worker, single-threaded (as ingest's workers do)."""
    if language is not None:
        set_language(language)
    if parent_pid is not None:
        die_with_parent(parent_pid, deathsig=deathsig)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(vision.threads)
    global _EMBEDDER
    _EMBEDDER = default_registry(vision).embedder(name)


def _read_content(job: ReembedJob, max_bytes: int) -> tuple[str, bytes]:
    """The first of the image's paths that still holds its content (same SHA-256)."""
    why = _("no stored path")
    for path in job.paths:
        try:
            data = read_bytes(Path(path), max_bytes)
        except ImageError as exc:
            why = str(exc)
            continue
        if sha256_of(data) == job.sha256:
            return path, data
        why = _("%(path)s: the file changed since it was ingested", path=path)
    raise ImageError(why)


def embed_image(job: ReembedJob, max_bytes: int, max_pixels: int) -> ReembedResult:
    """Every face of one image cut again at its stored landmarks and embedded.

    Never raises for a problem of this image: it comes back as the result's ``error``.
    """
    embedder = _EMBEDDER
    if embedder is None:  # pragma: no cover - the initializer always runs first
        raise RuntimeError("worker not initialised")
    path = job.paths[0] if job.paths else str(job.image_id)
    try:
        path, data = _read_content(job, max_bytes)
        pixels = decode_image(data, max_pixels=max_pixels, name=path).pixels
        chips = []
        for points in job.landmarks:
            if len(points) != 5:
                raise ImageError(_("%(path)s: a face has no stored landmarks", path=path))
            chips.append(embedder.align(pixels, np.asarray(points, dtype=np.float32)))
        vectors = np.asarray(embedder.embed(chips), dtype=np.float32)
        return ReembedResult(job.image_id, path, vectors=vectors)
    except ImageError as exc:
        return ReembedResult(job.image_id, path, error=str(exc))
    except Exception as exc:
        # A model's failure on this image is still this image's problem (type kept: the
        # message alone may not say what failed).
        return ReembedResult(job.image_id, path, error=f"{path}: {type(exc).__name__}: {exc}")


# --- main side ---------------------------------------------------------------------------------


class _Workers:
    """A spawned process pool (or, for one worker, this process) running :func:`embed_image`."""

    def __init__(self, workers: int, vision: VisionSettings, name: str) -> None:
        self.workers, self.vision, self.name = workers, vision, name
        self.pool: ProcessPoolExecutor | None = None
        self._start()

    def _start(self) -> None:
        if self.workers > 1:
            self.pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=get_context("spawn"),
                initializer=init_worker,
                initargs=(self.vision, self.name, os.getpid(), deathsig_safe(), current_language()),
            )
        else:
            init_worker(self.vision, self.name)

    def run(self, jobs: Sequence[ReembedJob]) -> list[ReembedResult]:
        """Results in the order of ``jobs``. A worker killed mid-image (a crash in a model
        binding, the OOM killer) breaks the pool and every image in flight with it: the pool is
        restarted and those images are retried one at a time, so that only the image that
        kills a worker alone fails (as ingest does), and a rerun does not fail its neighbours
        again."""
        limits = (self.vision.max_bytes, self.vision.max_pixels)
        if self.pool is None:
            return [embed_image(job, *limits) for job in jobs]
        try:
            futures = [self.pool.submit(embed_image, job, *limits) for job in jobs]
        except BrokenProcessPool:  # a worker died while idle, since the last batch
            self._restart()
            assert self.pool is not None
            futures = [self.pool.submit(embed_image, job, *limits) for job in jobs]
        results: list[ReembedResult | None] = [self._result(f) for f in futures]
        if all(r is not None for r in results):
            return [r for r in results if r is not None]
        self._restart()
        return [
            r if r is not None else self._alone(job) for job, r in zip(jobs, results, strict=True)
        ]

    def _result(self, future: Future[ReembedResult]) -> ReembedResult | None:
        try:
            return future.result()
        except BrokenProcessPool:
            return None

    def _alone(self, job: ReembedJob) -> ReembedResult:
        assert self.pool is not None
        limits = (self.vision.max_bytes, self.vision.max_pixels)
        result = self._result(self.pool.submit(embed_image, job, *limits))
        if result is not None:
            return result
        self._restart()
        message = _("the worker process died while embedding this image")
        return ReembedResult(job.image_id, job.paths[0] if job.paths else "", error=message)

    def _restart(self) -> None:
        self.close()
        self._start()

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown(cancel_futures=True)
            self.pool = None


def _lacking(target: str) -> ColumnElement[bool]:
    """Faces of another model with no vector of ``target`` yet (same image and ordinal)."""
    new = aliased(Face)
    return ~exists().where(
        new.image_id == Face.image_id, new.ordinal == Face.ordinal, new.model == target
    )


def count_faces(session: Session, target: str) -> tuple[int, int]:
    """(faces of the workspace, faces still lacking a ``target`` vector), by image and ordinal."""
    pairs = select(Face.image_id, Face.ordinal).distinct().subquery()
    total = session.scalar(select(func.count()).select_from(pairs)) or 0
    lacking = (
        select(Face.image_id, Face.ordinal)
        .where(Face.model != target, _lacking(target))
        .distinct()
        .subquery()
    )
    return int(total), int(session.scalar(select(func.count()).select_from(lacking)) or 0)


def _paths(session: Session, images: list[Image]) -> dict[int, tuple[str, ...]]:
    """Each image's stored path, then the paths of its other postings (a moved first copy)."""
    found: dict[int, list[str]] = {image.id: [image.path] for image in images}
    postings = session.execute(
        select(Photo.image_id, Source.root, Photo.rel_path)
        .join(Source, Source.id == Photo.source_id)
        .where(Photo.image_id.in_(list(found)), Source.root != "")
    ).all()
    for image_id, root, rel in postings:
        path = str(Path(root) / rel)
        if image_id is not None and path not in found[image_id]:
            found[image_id].append(path)
    return {image_id: tuple(paths) for image_id, paths in found.items()}


def next_jobs(session: Session, target: str, after: int, limit: int) -> list[ReembedJob]:
    """Up to ``limit`` images above id ``after`` with faces lacking a ``target`` vector."""
    image_ids = list(
        session.scalars(
            select(Face.image_id)
            .where(Face.model != target, Face.image_id > after, _lacking(target))
            .group_by(Face.image_id)
            .order_by(Face.image_id)
            .limit(limit)
        )
    )
    if not image_ids:
        return []
    faces: dict[int, dict[int, list[list[float]]]] = {i: {} for i in image_ids}
    for image_id, ordinal, landmarks in session.execute(
        select(Face.image_id, Face.ordinal, Face.landmarks)
        .where(Face.image_id.in_(image_ids), Face.model != target, _lacking(target))
        .order_by(Face.image_id, Face.ordinal, Face.id)
    ):
        faces[image_id].setdefault(ordinal, landmarks)  # one job per face, whatever its models
    images = list(session.scalars(select(Image).where(Image.id.in_(image_ids))))
    paths = _paths(session, images)
    return [
        ReembedJob(
            image.id,
            image.sha256,
            paths[image.id],
            tuple(faces[image.id]),
            tuple(faces[image.id].values()),
        )
        for image in sorted(images, key=lambda i: i.id)
    ]


def store_vectors(
    session: Session, job: ReembedJob, vectors: np.ndarray, spec: EmbedderSpec
) -> int:
    """New ``Face`` rows of ``spec``'s model for ``job``'s faces (copies of the old rows'
    box, landmarks and quality: the same face, measured once); returns how many."""
    old_rows = session.scalars(
        select(Face)
        .where(
            Face.image_id == job.image_id, Face.ordinal.in_(job.ordinals), Face.model != spec.name
        )
        .order_by(Face.id)
    )
    by_ordinal: dict[int, Face] = {}
    for row in old_rows:
        by_ordinal.setdefault(row.ordinal, row)
    for ordinal, vector in zip(job.ordinals, vectors, strict=True):
        old = by_ordinal[ordinal]
        session.add(
            Face(
                image_id=old.image_id,
                ordinal=ordinal,
                left=old.left,
                top=old.top,
                right=old.right,
                bottom=old.bottom,
                landmarks=old.landmarks,
                detection_score=old.detection_score,
                quality=old.quality,
                quality_parts=dict(old.quality_parts),
                rotation=old.rotation,
                model=spec.name,
                alignment=spec.alignment,
                embedding=np.asarray(vector, dtype=np.float32),
            )
        )
    return len(job.ordinals)


@dataclass(frozen=True)
class ReembedOptions:
    """How to run the re-embedding: worker processes, images per committed batch."""

    workers: int = 1
    batch: int = 32
    progress: ProgressFn | None = None


def reembed_faces(
    sessions: Callable[[], Session],
    vision: VisionSettings,
    name: str,
    spec: EmbedderSpec,
    options: ReembedOptions,
) -> ReembedProgress:
    """Give every face a vector of embedder ``name`` (spec ``spec``), a batch at a time.

    Each batch of images is committed before the next starts and before ``progress`` is told;
    problems of single images are collected, never raised.
    """
    report = ReembedProgress()
    with sessions() as session:
        report.faces, lacking = count_faces(session, spec.name)
    report.had_vector = report.faces - lacking
    done = report.had_vector
    if options.progress:
        options.progress(done, report.faces)
    if not lacking:
        return report
    workers = _Workers(max(1, min(options.workers, lacking)), vision, name)
    try:
        for jobs, results in _batches(sessions, workers, spec.name, options.batch):
            with sessions() as session, session.begin():
                for job, result in zip(jobs, results, strict=True):
                    if result.vectors is None:
                        message = result.error or _("no vector")
                        report.problems.append(Problem(result.path, message))
                        continue
                    report.embedded += store_vectors(session, job, result.vectors, spec)
            done += sum(len(job.ordinals) for job in jobs)
            if options.progress:
                options.progress(done, report.faces)
    finally:
        workers.close()
    with sessions() as session:
        report.missing = count_faces(session, spec.name)[1]
    return report


def _batches(
    sessions: Callable[[], Session], workers: _Workers, target: str, size: int
) -> Iterator[tuple[list[ReembedJob], list[ReembedResult]]]:
    """Batches of jobs (by ascending image id, so a failed image is not retried in this run)
    with their workers' results."""
    after = 0
    while True:
        with sessions() as session:
            jobs = next_jobs(session, target, after, max(1, size))
        if not jobs:
            return
        after = jobs[-1].image_id
        yield jobs, workers.run(jobs)


@dataclass(frozen=True)
class SwitchCounts:
    """What the switch moved and removed."""

    roles: int
    references: dict[str, int]
    removed: int


def _other_models(session: Session, target: str) -> list[str]:
    return sorted(session.scalars(select(Face.model).where(Face.model != target).distinct()))


def _carry_roles(session: Session, model: str, target: str) -> int:
    """Roles of ``model``'s faces copied to their ``target`` faces, in one statement (one model
    at a time: within it each old face has one new face, so no copy collides with another)."""
    old, new, have = aliased(Face), aliased(Face), aliased(FaceRoleRecord)
    role = FaceRoleRecord
    chosen = (
        select(role.account_id, new.id, role.role, role.confidence, role.cluster)
        .join(old, old.id == role.face_id)
        .join(new, (new.image_id == old.image_id) & (new.ordinal == old.ordinal))
        .where(
            old.model == model,
            new.model == target,
            ~exists().where(have.account_id == role.account_id, have.face_id == new.id),
        )
    )
    columns = ["account_id", "face_id", "role", "confidence", "cluster"]
    result = session.execute(insert(FaceRoleRecord).from_select(columns, chosen))
    return int(cast("CursorResult[Any]", result).rowcount or 0)


def switch_faces(session: Session, target: str, carry: CarryFn | None = None) -> SwitchCounts:
    """In the caller's transaction: carry face roles (and ``carry``'s references) from every
    face of another model to its ``target`` face, then delete the other models' faces.

    The caller has checked that no face lacks its ``target`` vector (``count_faces``).
    """
    new = aliased(Face)
    mapping: dict[int, int] = {
        int(old_id): int(new_id)
        for old_id, new_id in session.execute(
            select(Face.id, new.id)
            .join(new, (new.image_id == Face.image_id) & (new.ordinal == Face.ordinal))
            .where(Face.model != target, new.model == target)
        )
    }
    roles = sum(_carry_roles(session, model, target) for model in _other_models(session, target))
    references = carry(session, mapping) if carry is not None and mapping else {}
    other_faces = select(Face.id).where(Face.model != target)
    session.execute(delete(FaceRoleRecord).where(FaceRoleRecord.face_id.in_(other_faces)))
    removed = session.scalar(select(func.count(Face.id)).where(Face.model != target)) or 0
    session.execute(delete(Face).where(Face.model != target))
    session.flush()
    return SwitchCounts(roles, references, int(removed or 0))
