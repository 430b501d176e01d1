"""Small interfaces for face models, and the explicit registry that names them.

A detector returns typed detections; a landmark model returns 5 points; an embedder turns aligned
chips into L2-normalised float32 vectors and says which alignment it expects. Implementations are
looked up by name: an unknown name is an error, never a guess.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import _
from nextofkin.vision.onnx_runtime import OnnxRuntime
from nextofkin.vision.types import Box, Detection, Points, RGBImage, Vector


@dataclass(frozen=True)
class EmbedderSpec:
    """What an embedder's vectors are: every stored vector carries this label.

    ``same_person_similarity`` is the model's published verification operating point, used only
    where no gallery calibration exists yet (e.g. clustering one account's own faces);
    ``strict_similarity`` is its stricter published point, the ``match`` fallback of a gallery
    too small to calibrate.
    """

    name: str
    dim: int
    alignment: str
    same_person_similarity: float
    strict_similarity: float


class Detector(Protocol):
    """Finds every face in an image."""

    name: str

    def detect(self, image: RGBImage, upsample: int = 0) -> list[Detection]:
        """All faces in ``image``; ``upsample`` doubles the image that many times first."""
        ...


class LandmarkModel(Protocol):
    """Places five landmarks on a detected face."""

    name: str

    def locate(self, image: RGBImage, box: Box) -> Points:
        """Five (x, y) points, float32 of shape (5, 2), in ``image`` coordinates."""
        ...


class Embedder(Protocol):
    """Turns aligned face chips into L2-normalised float32 vectors."""

    spec: EmbedderSpec

    def align(self, image: RGBImage, landmarks: Points) -> RGBImage:
        """The aligned chip this embedder expects, cut from ``image``."""
        ...

    def embed(self, chips: Sequence[RGBImage]) -> np.ndarray:
        """Vectors of shape (len(chips), spec.dim), float32, each of unit length."""
        ...


@runtime_checkable
class PacksChips(Protocol):
    """An embedder whose chip packs several models' chips (fusion): face quality is measured on
    the region it names, not on the whole pack."""

    def quality_region(self, chip: RGBImage) -> RGBImage:
        """The part of ``chip`` that face quality is measured on."""
        ...


def quality_chip(embedder: Embedder, chip: RGBImage) -> RGBImage:
    """The chip face quality is measured on: ``chip`` itself, or its quality region."""
    return embedder.quality_region(chip) if isinstance(embedder, PacksChips) else chip


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length (zero rows stay zero), as float32."""
    arr = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(arr, axis=-1, keepdims=True)
    scaled: np.ndarray = (arr / np.maximum(norms, 1e-12)).astype(np.float32)
    return scaled


def unit(vector: Vector) -> Vector:
    """One vector scaled to unit length."""
    row: Vector = l2_normalise(vector[None, :])[0]
    return row


class ModelRegistry:
    """Named factories for detectors, landmark models and embedders.

    ``runtime`` says where the ONNX models it builds run (device, threads).
    """

    def __init__(self, runtime: OnnxRuntime | None = None) -> None:
        self.runtime = runtime or OnnxRuntime()
        self._detectors: dict[str, Callable[[], Detector]] = {}
        self._landmarks: dict[str, Callable[[], LandmarkModel]] = {}
        self._embedders: dict[str, Callable[[], Embedder]] = {}

    def add_detector(self, name: str, factory: Callable[[], Detector]) -> None:
        """Register a detector factory under ``name``."""
        self._detectors[name] = factory

    def add_landmarks(self, name: str, factory: Callable[[], LandmarkModel]) -> None:
        """Register a landmark-model factory under ``name``."""
        self._landmarks[name] = factory

    def add_embedder(self, name: str, factory: Callable[[], Embedder]) -> None:
        """Register an embedder factory under ``name``."""
        self._embedders[name] = factory

    @staticmethod
    def _pick(kind: str, table: dict[str, Callable[[], object]], name: str) -> object:
        try:
            factory = table[name]
        except KeyError:
            known = ", ".join(sorted(table)) or "none"
            raise ModelError(
                _(
                    "unknown %(kind)s %(name)r; registered: %(known)s",
                    kind=kind,
                    name=name,
                    known=known,
                )
            ) from None
        return factory()

    def detector(self, name: str) -> Detector:
        """A new detector instance by name."""
        return self._pick("detector", self._detectors, name)  # type: ignore[arg-type,return-value]

    def landmarks(self, name: str) -> LandmarkModel:
        """A new landmark model instance by name."""
        return self._pick("landmark model", self._landmarks, name)  # type: ignore[arg-type,return-value]

    def embedder(self, name: str) -> Embedder:
        """A new embedder instance by name."""
        return self._pick("embedder", self._embedders, name)  # type: ignore[arg-type,return-value]

    def names(self) -> dict[str, list[str]]:
        """Registered names by kind."""
        return {
            "detectors": sorted(self._detectors),
            "landmarks": sorted(self._landmarks),
            "embedders": sorted(self._embedders),
        }
