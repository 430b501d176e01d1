"""Faces of protocol images, computed once in a process pool and cached on disk.

Embedding is the expensive step (a quarter of a second per LFW image with dlib-bin on one core),
and a protocol has about 10,000 images, so every face found is kept in a SQLite file keyed by the
image path, how it was analysed (gallery photo or probe), the degradation applied and a
fingerprint of the models and settings. Reruns, and ``--degrade`` variants that leave the gallery
alone, only compute what changed. Only the parent process writes the cache; workers return their
results, so a killed run keeps everything committed so far.

Each face keeps its embedding and the embedding of its mirrored chip (for flip test-time
augmentation), its box, landmarks, quality parts and the rotation it was found at.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from nextofkin.errors import ImageError, NoFaceFound
from nextofkin.evaluation.degrade import condition
from nextofkin.settings import VisionSettings
from nextofkin.vision.flip import plain_embedder_name
from nextofkin.vision.image_io import load_image
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.vision.registry import default_registry

log = logging.getLogger(__name__)

F32 = npt.NDArray[np.float32]
GALLERY = "gallery"
PROBE = "probe"


@dataclass(frozen=True)
class CachedFace:
    """One face of an analysed image, as the evaluation needs it."""

    box: list[float]
    landmarks: list[list[float]]
    detection_score: float
    quality: float
    size: float
    sharpness: float
    pose: float
    eye_distance_px: float
    rotation: int
    embedding: F32
    flipped: F32

    @property
    def area(self) -> float:
        """Box area in pixels."""
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


@dataclass(frozen=True)
class ImageFaces:
    """Everything one image gave: its size, its faces, or the error that stopped it."""

    width: int
    height: int
    faces: list[CachedFace]
    error: str | None = None
    tried: int = 0  # detector passes made (cost of the rotation search)


@dataclass(frozen=True)
class Job:
    """One image to analyse: ``mode`` is ``gallery`` (upright) or ``probe`` (rotation search)."""

    path: Path
    mode: str
    degrade: str = "clean"
    seed: int = 0


def fingerprint(settings: VisionSettings, model: str, mode: str = PROBE) -> str:
    """What the cached faces depend on besides the image: models and detection settings.

    ``model`` is the embedder's spec name and alignment, not its registry name: two runtimes of
    one network (``dlib-resnet`` and ``dlib-resnet-onnx``) make the same vectors and share a cache.
    """
    keys = {
        "model": model,
        "detector": settings.detector,
        "landmarks": settings.landmarks,
        "upsample_below": settings.upsample_below,
        "min_face_px": settings.min_face_px,
        "turns": list(settings.probe_quarter_turns),
        "tilts": list(settings.probe_tilts),
        "upright": settings.upright_confidence,
    }
    if mode == PROBE and settings.probe_fallback_detector:
        # Probes only (ingest never uses it), and only when set, so caches made before the
        # option existed stay valid.
        keys["fallback"] = settings.probe_fallback_detector
    return hashlib.sha256(json.dumps(keys, sort_keys=True).encode()).hexdigest()[:16]


def cache_key(job: Job, print_: str) -> str:
    """The cache key of one job under one models-and-settings fingerprint."""
    return f"{print_}|{job.mode}|{job.degrade}|{job.seed}|{job.path.resolve()}"


class FaceCache:
    """A SQLite file of analysed images (one writer: the process that owns this object)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(str(path), timeout=60)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS images (key TEXT PRIMARY KEY, meta TEXT NOT NULL, "
            "vectors BLOB NOT NULL)"
        )
        self._db.commit()

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def get_many(self, keys: Sequence[str]) -> dict[str, ImageFaces]:
        """The cached results among ``keys``."""
        out: dict[str, ImageFaces] = {}
        for start in range(0, len(keys), 500):
            part = list(keys[start : start + 500])
            marks = ",".join("?" * len(part))
            rows = self._db.execute(
                f"SELECT key, meta, vectors FROM images WHERE key IN ({marks})",  # noqa: S608
                part,
            )
            for key, meta, blob in rows:
                out[key] = _decode(meta, blob)
        return out

    def put_many(self, items: Sequence[tuple[str, ImageFaces]]) -> None:
        """Store results (replacing older ones under the same keys) and commit."""
        rows = [(key, *_encode(faces)) for key, faces in items]
        self._db.executemany("INSERT OR REPLACE INTO images VALUES (?, ?, ?)", rows)
        self._db.commit()


def _encode(faces: ImageFaces) -> tuple[str, bytes]:
    meta: dict[str, Any] = {
        "width": faces.width,
        "height": faces.height,
        "error": faces.error,
        "tried": faces.tried,
        "faces": [],
    }
    vectors: list[np.ndarray] = []
    for face in faces.faces:
        record = asdict(face)
        record.pop("embedding")
        record.pop("flipped")
        meta["faces"].append(record)
        vectors += [face.embedding, face.flipped]
    dim = int(faces.faces[0].embedding.shape[0]) if faces.faces else 0
    meta["dim"] = dim
    blob = np.stack(vectors).astype(np.float32).tobytes() if vectors else b""
    return json.dumps(meta), blob


def _decode(meta_text: str, blob: bytes) -> ImageFaces:
    meta = json.loads(meta_text)
    dim = int(meta["dim"])
    vectors = np.frombuffer(blob, dtype=np.float32).reshape(-1, dim) if dim else None
    faces = []
    for i, record in enumerate(meta["faces"]):
        assert vectors is not None
        faces.append(
            CachedFace(**record, embedding=vectors[2 * i].copy(), flipped=vectors[2 * i + 1].copy())
        )
    return ImageFaces(meta["width"], meta["height"], faces, meta["error"], int(meta["tried"]))


# --------------------------------------------------------------------------- worker side


@dataclass(frozen=True)
class _Worker:
    """What a pool process loads once (:func:`_init_worker`) and each of its jobs uses."""

    settings: VisionSettings
    pipeline: FacePipeline


# This process's worker, when it is one: a pool initialiser can only hand its work on this way.
_WORKER: list[_Worker] = []


def _init_worker(settings_json: str) -> None:
    # One inference thread per process: the pool provides the parallelism.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    settings = VisionSettings.model_validate_json(settings_json)
    # Faces keep plain and mirrored vectors; the flip option combines them later.
    settings = settings.model_copy(update={"embedder": plain_embedder_name(settings.embedder)})
    _WORKER[:] = [
        _Worker(settings, FacePipeline.from_settings(settings, default_registry(settings)))
    ]


def analyse_job(job: Job) -> ImageFaces:
    """Analyse one image in this process (the pool's worker function)."""
    settings, pipeline = _WORKER[0].settings, _WORKER[0].pipeline
    try:
        image = load_image(job.path, max_pixels=settings.max_pixels, max_bytes=settings.max_bytes)
    except ImageError as exc:
        return ImageFaces(0, 0, [], error=f"{type(exc).__name__}: {exc}")
    pixels = image.pixels
    if job.degrade != "clean":
        pixels = condition(job.degrade).apply(pixels, seed=job.seed, key=_stable_key(job.path))
    height, width = pixels.shape[:2]
    try:
        if job.mode == PROBE:
            found = pipeline.analyse_probe(pixels, keep_chips=True)
        else:
            found = pipeline.analyse(pixels, keep_chips=True)
    except NoFaceFound as exc:
        return ImageFaces(width, height, [], error="no face found", tried=len(exc.tried))
    chips = [np.ascontiguousarray(f.chip[:, ::-1]) for f in found.faces if f.chip is not None]
    flipped = pipeline.embedder.embed(chips) if chips else np.zeros((0, 0), np.float32)
    faces = []
    for face, flip in zip(found.faces, flipped, strict=True):
        faces.append(
            CachedFace(
                box=face.box.as_list(),
                landmarks=[[round(float(x), 2), round(float(y), 2)] for x, y in face.landmarks],
                detection_score=round(float(face.detection_score), 4),
                quality=face.quality.overall,
                size=face.quality.size,
                sharpness=face.quality.sharpness,
                pose=face.quality.pose,
                eye_distance_px=face.quality.eye_distance_px,
                rotation=int(face.rotation),
                embedding=np.asarray(face.embedding, dtype=np.float32),
                flipped=np.asarray(flip, dtype=np.float32),
            )
        )
    if not faces:
        return ImageFaces(width, height, [], error="no face found", tried=len(found.tried))
    return ImageFaces(width, height, faces, tried=len(found.tried))


def _stable_key(path: Path) -> str:
    # Seeds must not depend on where the data set is mounted: use the last two path parts
    # (person folder and file name for LFW).
    return "/".join(path.parts[-2:])


def run_jobs(
    jobs: Sequence[Job],
    cache: FaceCache,
    settings: VisionSettings,
    model: str,
    *,
    workers: int,
    progress: Callable[[int, int], None] | None = None,
    batch: int = 64,
) -> dict[Job, ImageFaces]:
    """Results for every job: from the cache where present, computed (and cached) otherwise.

    ``progress(done, total)`` is called as computed results arrive. Results are committed to the
    cache every ``batch`` images, so an interrupted run loses at most one batch.
    """
    prints = {mode: fingerprint(settings, model, mode) for mode in {job.mode for job in jobs}}
    keys = {job: cache_key(job, prints[job.mode]) for job in jobs}
    cached = cache.get_many(list(keys.values()))
    results = {job: cached[key] for job, key in keys.items() if key in cached}
    todo = [job for job in jobs if job not in results]
    log.info("%d of %d images cached; computing %d", len(results), len(jobs), len(todo))
    if not todo:
        return results
    pending: list[tuple[str, ImageFaces]] = []
    for done, (job, faces) in enumerate(_map(todo, settings, workers), start=1):
        results[job] = faces
        pending.append((keys[job], faces))
        if len(pending) >= batch:
            cache.put_many(pending)
            pending = []
        if progress is not None:
            progress(done, len(todo))
    if pending:
        cache.put_many(pending)
    return results


def _map(
    jobs: Sequence[Job], settings: VisionSettings, workers: int
) -> Iterator[tuple[Job, ImageFaces]]:
    settings_json = settings.model_dump_json()
    if workers <= 1:
        _init_worker(settings_json)
        for job in jobs:
            yield job, analyse_job(job)
        return
    with ProcessPoolExecutor(
        max_workers=workers, initializer=_init_worker, initargs=(settings_json,)
    ) as pool:
        # Small chunks keep the progress bar moving and the cache commits frequent.
        yield from zip(jobs, pool.map(analyse_job, jobs, chunksize=4), strict=True)
