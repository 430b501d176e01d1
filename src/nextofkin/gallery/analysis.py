"""The per-image work of every ingest engine: decode, detect, align, assess, embed.

One function (:func:`process_image`) serves the one-machine process pool and the Ray actors of
the cluster ingest (``gallery/cluster``), so both engines store the same faces and vectors. Each
worker process loads its models once (:func:`init_worker`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from nextofkin.errors import ImageError
from nextofkin.i18n import set_language
from nextofkin.processes import die_with_parent
from nextofkin.settings import VisionSettings
from nextofkin.vision.image_io import decode_image
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.vision.registry import default_registry


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


# --- worker side -------------------------------------------------------------------------------

_PIPELINE: FacePipeline | None = None


def init_worker(
    vision: VisionSettings,
    parent_pid: int | None = None,
    deathsig: bool = False,
    language: str | None = None,
) -> None:
    """Load the models once per worker process, single-threaded (one process per core).

    The worker ends with its parent (``parent_pid``), so a killed ingest leaves no workers. It
    writes its per-photo errors in the ingest's ``language`` (a context variable does not cross
    into another process, so it is handed over here).
    """
    if language is not None:
        set_language(language)
    if parent_pid is not None:
        die_with_parent(parent_pid, deathsig=deathsig)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(vision.threads)
    global _PIPELINE
    _PIPELINE = FacePipeline.from_settings(vision, default_registry(vision))


def named(path: str, message: str) -> str:
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
        return ImageResult(sha, path, len(data), error=named(path, str(exc)))
    except Exception as exc:
        # Anything else (NextOfKinError, MemoryError, a bug in a model binding) is still this
        # image's failure; its type is kept because the message alone may not say what failed.
        message = f"{type(exc).__name__}: {exc}"[:500]
        return ImageResult(sha, path, len(data), error=named(path, message))


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
