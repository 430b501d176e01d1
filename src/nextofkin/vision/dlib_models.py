"""dlib's face models with the public-domain weights that ``face_recognition_models`` ships.

Nothing is downloaded: the weights live inside that package. Each model loads lazily on first use,
once, behind a lock, so importing this module does no work.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import gettext
from nextofkin.vision.model_files import default_cache_dir, weights_file
from nextofkin.vision.models import EmbedderSpec, ModelRegistry, l2_normalise
from nextofkin.vision.types import Box, Detection, Points, RGBImage

log = logging.getLogger(__name__)

# dlib's ResNet was trained on 150x150 chips with 25% padding around the 5-point alignment.
DLIB_CHIP_SIZE = 150
DLIB_CHIP_PADDING = 0.25
DLIB_ALIGNMENT = "dlib-5pt-150-pad0.25"
# dlib's published operating points are Euclidean distances between its *raw* descriptors, whose
# length is about 1.45, not 1: distance 0.6 (its default tolerance) is cosine ~0.91 and 0.5 (the
# stricter one face_recognition suggests) is ~0.93. Measured on LFW (3,384 genuine and as many
# impostor probe-gallery pairs): cosine 0.91 accepts 97.7% of genuine pairs and 1.0% of impostor
# pairs, 0.93 accepts 90.7% and 0.09%; the old 0.82 / 0.875 accepted 66% / 12% of impostors.
DLIB_RESNET_SPEC = EmbedderSpec(
    name="dlib-resnet-v1",
    dim=128,
    alignment=DLIB_ALIGNMENT,
    same_person_similarity=0.91,
    strict_similarity=0.93,
)


class _Lazy:
    """Load a model once, on first use, thread-safely."""

    def __init__(self, loader: Callable[[], Any]) -> None:
        self._loader = loader
        self._value: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._value is None:
            with self._lock:
                if self._value is None:
                    try:
                        self._value = self._loader()
                    except (RuntimeError, OSError, ImportError) as exc:
                        raise ModelError(gettext("cannot load model: %(exc)s", exc=exc)) from exc
        return self._value


def _dlib() -> Any:
    import dlib

    return dlib


def hog_detector(cache_dir: Path | None = None) -> Any:
    """dlib's frontal face detector, kept in dlib's binary form in the model cache.

    dlib builds it from a text form compiled into the library, which takes 0.5-2 s: more than
    the rest of a one-photo ``nextofkin identify``. Saved once with dlib's own ``save``, it
    reads back in about a millisecond, the same detector (a file that does not read is rebuilt).
    """
    dlib = _dlib()
    path = (cache_dir or default_cache_dir()) / f"dlib-hog-frontal-{dlib.__version__}.svm"
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:
            log.warning("rebuilding the unreadable HOG detector cache %s", path)
    detector = dlib.get_frontal_face_detector()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        os.close(fd)
        detector.save(tmp)
        Path(tmp).replace(path)
    except (OSError, RuntimeError) as exc:  # a read-only cache only costs the build next time
        log.warning("cannot cache the HOG detector in %s: %s", path.parent, exc)
    return detector


def _rect(box: Box) -> Any:
    return _dlib().rectangle(round(box.left), round(box.top), round(box.right), round(box.bottom))


class HogDetector:
    """dlib's HOG + linear SVM frontal face detector: fast, upright faces only."""

    name = "hog"

    def __init__(self) -> None:
        self._model = _Lazy(hog_detector)

    def detect(self, image: RGBImage, upsample: int = 0) -> list[Detection]:
        """All faces found, with the SVM margin mapped to (0, 1) as the score."""
        rects, scores, _ = self._model.get().run(image, upsample, -0.2)
        out = []
        for rect, score in zip(rects, scores, strict=True):
            box = Box(rect.left(), rect.top(), rect.right(), rect.bottom())
            out.append(Detection(box=box, score=float(1.0 / (1.0 + np.exp(-2.0 * score)))))
        return out


class MmodDetector:
    """dlib's MMOD CNN face detector: robust to pose and light, slow on a CPU."""

    name = "mmod"

    def __init__(self) -> None:
        self._model = _Lazy(lambda: _dlib().cnn_face_detection_model_v1(str(weights_file("mmod"))))

    def detect(self, image: RGBImage, upsample: int = 0) -> list[Detection]:
        """All faces found, with the CNN confidence mapped to (0, 1) as the score."""
        out = []
        for found in self._model.get()(image, upsample):
            rect = found.rect
            box = Box(rect.left(), rect.top(), rect.right(), rect.bottom())
            score = float(1.0 / (1.0 + np.exp(-2.0 * found.confidence)))
            out.append(Detection(box=box, score=score))
        return out


class DlibFivePoint:
    """dlib's 5-point shape predictor (eye corners and the base of the nose)."""

    name = "dlib-5"

    def __init__(self) -> None:
        self._model = _Lazy(lambda: _dlib().shape_predictor(str(weights_file("five-point"))))

    def locate(self, image: RGBImage, box: Box) -> Points:
        """Five points: right eye outer, right eye inner, left eye outer, left eye inner, nose."""
        shape = self._model.get()(image, _rect(box))
        return np.array([[p.x, p.y] for p in shape.parts()], dtype=np.float32)


def dlib_chip(image: RGBImage, landmarks: Points, box: Box | None = None) -> RGBImage:
    """The 150x150 chip dlib's ResNet expects, aligned on dlib's 5 landmarks."""
    dlib = _dlib()
    rect = _rect(box) if box is not None else _rect(Box.around(landmarks))
    shape = dlib.full_object_detection(
        rect, [dlib.point(round(float(x)), round(float(y))) for x, y in landmarks]
    )
    chip = dlib.get_face_chip(image, shape, size=DLIB_CHIP_SIZE, padding=DLIB_CHIP_PADDING)
    return np.ascontiguousarray(chip, dtype=np.uint8)


class DlibResnetEmbedder:
    """dlib's 128-d ResNet face embedding, run by dlib itself (the reference implementation)."""

    spec = DLIB_RESNET_SPEC

    def __init__(self) -> None:
        self._model = _Lazy(lambda: _dlib().face_recognition_model_v1(str(weights_file("resnet"))))

    def align(self, image: RGBImage, landmarks: Points) -> RGBImage:
        """dlib's own 5-point chip."""
        return dlib_chip(image, landmarks)

    def embed(self, chips: Sequence[RGBImage]) -> np.ndarray:
        """128-d unit vectors (dlib's descriptors are already nearly unit length)."""
        if not chips:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        model = self._model.get()
        vectors = model.compute_face_descriptor([np.ascontiguousarray(c) for c in chips])
        return l2_normalise(np.array([np.asarray(v) for v in vectors], dtype=np.float32))


def register(registry: ModelRegistry) -> None:
    """Add dlib's models to ``registry``."""
    registry.add_detector("hog", HogDetector)
    registry.add_detector("mmod", MmodDetector)
    registry.add_landmarks("dlib-5", DlibFivePoint)
    registry.add_embedder("dlib-resnet", DlibResnetEmbedder)
