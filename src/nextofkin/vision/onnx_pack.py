"""An ONNX model pack: a SCRFD-style detector and an ArcFace-style 112x112 recogniser.

Stronger models than dlib's exist, but their weights come with licences that nextofkin cannot
grant, so the user brings them: a directory they are licensed to use, holding the two ONNX files
and a ``pack.json`` that names them explicitly (never a guess from tensor shapes)::

    {
      "name": "my-pack",
      "detector":   {"file": "det.onnx", "input_size": 640, "score_threshold": 0.5,
                     "nms_threshold": 0.4, "strides": [8, 16, 32], "anchors": 2},
      "recogniser": {"file": "rec.onnx", "dim": 512,
                     "same_person_similarity": 0.3, "strict_similarity": 0.4}
    }

Point ``NEXTOFKIN_MODEL_PACK`` at the directory to register ``onnx-pack`` as both detector and
embedder (the recogniser aligns on the detector's five landmarks: eye centres, nose tip, mouth
corners, so the two are used together). The embedder's spec name carries the recogniser file's
SHA-256, so vectors of two different packs, or of a pack and dlib, never mix in one index: the
index refuses them with :class:`~nextofkin.errors.ModelMismatch`.

Conventions followed (those of the public SCRFD and ArcFace exports): the detector takes a
1x3xSxS RGB tensor normalised as (x - 127.5) / 128 and returns, for each stride, scores (N, 1),
box distances (N, 4) and landmark offsets (N, 10) in units of the stride, with ``anchors``
anchors per cell; all score outputs come first, then all boxes, then all landmarks. The
recogniser takes Nx3x112x112 RGB normalised as (x - 127.5) / 127.5.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import _
from nextofkin.settings import Settings, VisionSettings
from nextofkin.vision.models import EmbedderSpec, ModelRegistry, l2_normalise
from nextofkin.vision.onnx_runtime import OnnxRuntime, make_session
from nextofkin.vision.types import Box, Detection, Points, RGBImage

log = logging.getLogger(__name__)

PACK_ENV = "NEXTOFKIN_MODEL_PACK"  # the flat name (settings.FLAT_NAMES)
MANIFEST = "pack.json"
ARCFACE_SIZE = 112
ARCFACE_ALIGNMENT = "arcface-5pt-112"
# Where ArcFace's training alignment puts the five points in a 112x112 chip (insightface's
# ``arcface_dst``): left eye, right eye, nose tip, left mouth corner, right mouth corner.
ARCFACE_TEMPLATE = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float32,
)


@dataclass(frozen=True)
class DetectorConfig:
    """The detector entry of ``pack.json``."""

    file: Path
    input_size: int = 640
    score_threshold: float = 0.5
    nms_threshold: float = 0.4
    strides: tuple[int, ...] = (8, 16, 32)
    anchors: int = 2


@dataclass(frozen=True)
class RecogniserConfig:
    """The recogniser entry of ``pack.json``."""

    file: Path
    dim: int
    same_person_similarity: float = 0.3
    strict_similarity: float = 0.4


@dataclass(frozen=True)
class ModelPack:
    """A read, validated ``pack.json``."""

    name: str
    directory: Path
    detector: DetectorConfig
    recogniser: RecogniserConfig


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_pack(directory: Path) -> ModelPack:
    """Read and check ``directory/pack.json``; raise :class:`ModelError` saying what is wrong."""
    manifest = directory / MANIFEST
    try:
        data = json.loads(manifest.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(
            _(
                "%(directory)s is not a model pack: %(manifest)s is missing",
                directory=directory,
                manifest=MANIFEST,
            )
        ) from None
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelError(
            _("cannot read %(manifest)s: %(exc)s", manifest=manifest, exc=exc)
        ) from exc
    try:
        det = dict(data["detector"])
        rec = dict(data["recogniser"])
        detector = DetectorConfig(
            file=directory / str(det.pop("file")),
            input_size=int(det.pop("input_size", 640)),
            score_threshold=float(det.pop("score_threshold", 0.5)),
            nms_threshold=float(det.pop("nms_threshold", 0.4)),
            strides=tuple(int(s) for s in det.pop("strides", (8, 16, 32))),
            anchors=int(det.pop("anchors", 2)),
        )
        recogniser = RecogniserConfig(
            file=directory / str(rec.pop("file")),
            dim=int(rec.pop("dim")),
            same_person_similarity=float(rec.pop("same_person_similarity", 0.3)),
            strict_similarity=float(rec.pop("strict_similarity", 0.4)),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelError(
            _("%(manifest)s: missing or invalid entry (%(exc)r)", manifest=manifest, exc=exc)
        ) from exc
    unknown = sorted(set(det) | set(rec))
    if unknown:
        raise ModelError(
            _(
                "%(manifest)s: unknown keys %(unknown)s",
                manifest=manifest,
                unknown=", ".join(unknown),
            )
        )
    for path in (detector.file, recogniser.file):
        if not path.is_file():
            raise ModelError(
                _(
                    "%(manifest)s: model file %(name)s not found in %(directory)s",
                    manifest=manifest,
                    name=path.name,
                    directory=directory,
                )
            )
    return ModelPack(str(data.get("name", directory.name)), directory, detector, recogniser)


class _LazySession:
    """An ONNX Runtime session created on first use, once, behind a lock."""

    def __init__(self, path: Path, runtime: OnnxRuntime | None = None) -> None:
        self.path = path
        self.runtime = runtime or OnnxRuntime()
        self._session: Any = None
        self._lock = threading.Lock()

    def get(self) -> Any:
        if self._session is None:
            with self._lock:
                if self._session is None:
                    self._session = make_session(self.path, self.runtime)
        return self._session


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float) -> list[int]:
    """Indices kept by greedy non-maximum suppression at IoU ``threshold``, best first."""
    order = np.argsort(-scores)
    keep: list[int] = []
    x1, y1, x2, y2 = boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3]
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    while order.size:
        i = int(order[0])
        keep.append(i)
        rest = order[1:]
        w = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        h = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = w * h
        iou = inter / np.maximum(areas[i] + areas[rest] - inter, 1e-9)
        order = rest[iou <= threshold]
    return keep


def anchor_centres(size: int, stride: int, anchors: int) -> np.ndarray:
    """(x, y) centres of every anchor of one stride level, row-major, ``anchors`` per cell."""
    cells = size // stride
    ys, xs = np.mgrid[:cells, :cells]
    centres = np.stack([xs, ys], axis=-1).reshape(-1, 2).astype(np.float32) * stride
    return np.repeat(centres, anchors, axis=0)


class ScrfdDetector:
    """A SCRFD-style single-shot detector that also places five landmarks."""

    name = "onnx-pack"

    def __init__(self, config: DetectorConfig, runtime: OnnxRuntime | None = None) -> None:
        self.config = config
        self._session = _LazySession(config.file, runtime)

    def _letterbox(self, image: RGBImage) -> tuple[np.ndarray, float]:
        size = self.config.input_size
        h, w = image.shape[:2]
        scale = size / max(h, w)
        resized = cv2.resize(image, (max(1, round(w * scale)), max(1, round(h * scale))))
        canvas = np.zeros((size, size, 3), dtype=np.uint8)
        canvas[: resized.shape[0], : resized.shape[1]] = resized
        return canvas, scale

    def decode(self, outputs: Sequence[np.ndarray], scale: float) -> list[Detection]:
        """Detections (in original-image pixels) from the raw outputs of one letterboxed image."""
        cfg = self.config
        levels = len(cfg.strides)
        if len(outputs) != 3 * levels:
            raise ModelError(
                _(
                    "detector returned %(n_outputs)s outputs; a SCRFD-style model with "
                    "strides %(strides)s returns %(value)s (scores, boxes, landmarks per "
                    "stride)",
                    n_outputs=len(outputs),
                    strides=list(cfg.strides),
                    value=3 * levels,
                )
            )
        all_boxes, all_scores, all_kps = [], [], []
        for i, stride in enumerate(cfg.strides):
            scores = np.asarray(outputs[i]).reshape(-1)
            dists = np.asarray(outputs[i + levels]).reshape(-1, 4) * stride
            kps = np.asarray(outputs[i + 2 * levels]).reshape(-1, 10) * stride
            centres = anchor_centres(cfg.input_size, stride, cfg.anchors)
            if len(centres) != len(scores):
                raise ModelError(
                    _(
                        "stride %(stride)s: %(n_scores)s scores for %(n_centres)s anchors; "
                        "check input_size, strides and anchors in pack.json",
                        stride=stride,
                        n_scores=len(scores),
                        n_centres=len(centres),
                    )
                )
            hit = scores >= cfg.score_threshold
            if not hit.any():
                continue
            c = centres[hit]
            d = dists[hit]
            boxes = np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1)
            points = c[:, None, :] + kps[hit].reshape(-1, 5, 2)
            all_boxes.append(boxes)
            all_scores.append(scores[hit])
            all_kps.append(points)
        if not all_boxes:
            return []
        boxes = np.concatenate(all_boxes) / scale
        scores = np.concatenate(all_scores)
        points = np.concatenate(all_kps) / scale
        return [
            Detection(
                box=Box(*(float(v) for v in boxes[i])),
                score=float(scores[i]),
                landmarks=points[i].astype(np.float32),
            )
            for i in nms(boxes, scores, cfg.nms_threshold)
        ]

    def detect(self, image: RGBImage, upsample: int = 0) -> list[Detection]:
        """All faces, with five landmarks each. ``upsample`` is ignored: the detector works at
        its fixed input size, which already spans small and large faces."""
        canvas, scale = self._letterbox(image)
        blob = ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]
        session = self._session.get()
        outputs = session.run(None, {session.get_inputs()[0].name: blob})
        return self.decode(outputs, scale)


def similarity_transform(src: Points, dst: np.ndarray) -> np.ndarray:
    """The 2x3 similarity (rotation, uniform scale, shift) mapping ``src`` onto ``dst`` best in
    the least-squares sense (Umeyama), as ArcFace's alignment uses."""
    src64 = np.asarray(src, dtype=np.float64)
    dst64 = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src64.mean(axis=0), dst64.mean(axis=0)
    s_c, d_c = src64 - mu_s, dst64 - mu_d
    cov = d_c.T @ s_c / len(src64)
    u, sig, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1.0
    rot = u @ sign @ vt
    var_s = (s_c**2).sum() / len(src64)
    scale = float(np.trace(np.diag(sig) @ sign) / max(var_s, 1e-12))
    shift = mu_d - scale * rot @ mu_s
    return np.hstack([scale * rot, shift[:, None]])


class ArcFaceEmbedder:
    """An ArcFace-style recogniser on 112x112 chips aligned on five landmarks."""

    def __init__(self, pack: ModelPack, runtime: OnnxRuntime | None = None) -> None:
        self.pack = pack
        sha = _sha256(pack.recogniser.file)[:16]
        self.spec = EmbedderSpec(
            name=f"onnx-pack:{pack.name}:{sha}",
            dim=pack.recogniser.dim,
            alignment=ARCFACE_ALIGNMENT,
            same_person_similarity=pack.recogniser.same_person_similarity,
            strict_similarity=pack.recogniser.strict_similarity,
        )
        self._session = _LazySession(pack.recogniser.file, runtime)

    def align(self, image: RGBImage, landmarks: Points) -> RGBImage:
        """The 112x112 chip ArcFace expects, from the detector's five landmarks."""
        points = np.asarray(landmarks, dtype=np.float32)
        if points.shape != (5, 2):
            raise ModelError(
                _("ArcFace alignment needs 5 landmarks, got shape %(shape)s", shape=points.shape)
            )
        matrix = similarity_transform(points, ARCFACE_TEMPLATE)
        chip = cv2.warpAffine(
            image, matrix, (ARCFACE_SIZE, ARCFACE_SIZE), flags=cv2.INTER_LINEAR, borderValue=0
        )
        return np.ascontiguousarray(chip, dtype=np.uint8)

    def embed(self, chips: Sequence[RGBImage]) -> np.ndarray:
        """Unit vectors of shape (len(chips), dim)."""
        if not chips:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        batch = np.stack([np.asarray(c, dtype=np.float32) for c in chips])
        if batch.shape[1:] != (ARCFACE_SIZE, ARCFACE_SIZE, 3):
            raise ModelError(
                _("chips must be %(arcface_size)sx%(arcface_size)s RGB", arcface_size=ARCFACE_SIZE)
            )
        blob = ((batch - 127.5) / 127.5).transpose(0, 3, 1, 2)
        session = self._session.get()
        out = np.asarray(session.run(None, {session.get_inputs()[0].name: blob})[0])
        if out.ndim != 2 or out.shape[1] != self.spec.dim:
            raise ModelError(
                _(
                    "recogniser returned shape %(shape)s; pack.json says dim %(dim)s",
                    shape=out.shape,
                    dim=self.spec.dim,
                )
            )
        return l2_normalise(out)


def register(registry: ModelRegistry, directory: Path) -> None:
    """Register the pack in ``directory`` as detector and embedder ``onnx-pack``.

    The manifest is read now (so a broken pack is reported at start-up); the models load on
    first use.
    """
    pack = read_pack(directory)
    registry.add_detector("onnx-pack", lambda: ScrfdDetector(pack.detector, registry.runtime))
    registry.add_embedder("onnx-pack", lambda: ArcFaceEmbedder(pack, registry.runtime))


def register_configured(registry: ModelRegistry, vision: VisionSettings | None = None) -> None:
    """Register the pack ``vision.model_pack`` names (``NEXTOFKIN_VISION__MODEL_PACK``, or the
    flat ``NEXTOFKIN_MODEL_PACK``), if any; a broken pack is logged."""
    configured = (vision or Settings().vision).model_pack
    if not configured:
        return
    try:
        register(registry, Path(configured).expanduser())
    except ModelError as exc:
        # Other models stay usable; choosing "onnx-pack" then fails with "unknown embedder".
        log.error("model pack %s not registered: %s", configured, exc)
