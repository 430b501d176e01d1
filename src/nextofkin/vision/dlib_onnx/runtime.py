"""dlib's face networks run by ONNX Runtime, behind the project's model interfaces.

Nothing happens at import: the ONNX file is converted (once per machine, cached) and the session
is created on first use, once, behind a lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import gettext
from nextofkin.vision import onnx_runtime
from nextofkin.vision.dlib_models import DLIB_CHIP_SIZE, DLIB_RESNET_SPEC, _Lazy, dlib_chip
from nextofkin.vision.dlib_onnx import convert, mmod
from nextofkin.vision.models import l2_normalise
from nextofkin.vision.types import Box, Detection, Points, RGBImage


def make_session(path: Path, threads: int, device: str = "cpu") -> Any:
    """An ONNX Runtime session with full graph optimisation and ``threads`` intra-op threads, on
    ``device`` (see :mod:`nextofkin.vision.onnx_runtime`)."""
    return onnx_runtime.make_session(path, onnx_runtime.OnnxRuntime(device, threads))


class OnnxResnetEmbedder:
    """dlib's 128-d ResNet face embedding on ONNX Runtime: the same vectors as ``dlib-resnet``.

    It uses the same spec and the same alignment (dlib's 150x150 chip) as
    :class:`~nextofkin.vision.dlib_models.DlibResnetEmbedder`, because it computes the same
    vectors: the conversion is checked against dlib, and the tests check 1,000 LFW faces.
    """

    spec = DLIB_RESNET_SPEC

    def __init__(
        self,
        threads: int = 1,
        cache_dir: Path | None = None,
        batch_size: int = 8,
        device: str = "auto",
    ) -> None:
        self.threads = threads
        self.device = device
        self.batch_size = max(1, batch_size)
        self._cache_dir = cache_dir
        self._session = _Lazy(self._load)

    def _load(self) -> Any:
        converted = convert.ensure_model("resnet", self._cache_dir)
        return make_session(converted.path, self.threads, self.device)

    def align(self, image: RGBImage, landmarks: Points) -> RGBImage:
        """dlib's own 5-point chip."""
        return dlib_chip(image, landmarks)

    def raw_descriptors(self, chips: Sequence[RGBImage]) -> np.ndarray:
        """dlib's descriptors as dlib returns them (not renormalised), float32 (N, 128)."""
        if not chips:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        session = self._session.get()
        out = []
        for start in range(0, len(chips), self.batch_size):
            batch = np.stack([np.asarray(c) for c in chips[start : start + self.batch_size]])
            if batch.shape[1:] != (DLIB_CHIP_SIZE, DLIB_CHIP_SIZE, 3):
                raise ModelError(
                    gettext(
                        "chips must be %(dlib_chip_size)sx%(dlib_chip_size)s RGB",
                        dlib_chip_size=DLIB_CHIP_SIZE,
                    )
                )
            out.append(session.run(None, {"chips": batch.astype(np.float32)})[0])
        return np.concatenate(out).astype(np.float32)

    def embed(self, chips: Sequence[RGBImage]) -> np.ndarray:
        """128-d unit vectors."""
        return l2_normalise(self.raw_descriptors(chips))


class OnnxMmodDetector:
    """dlib's MMOD CNN face detector with the network on ONNX Runtime: dlib's detections.

    Everything around the network (upsampling, the tiled image pyramid, the sliding window, box
    mapping and non-maximum suppression) follows dlib's code; see :mod:`.mmod`. Images of the same
    size are run as one batch; a pyramid larger than ``max_tile_pixels`` is run in tiles with
    enough overlap that every score equals the untiled one.
    """

    name = "mmod-onnx"

    def __init__(
        self,
        threads: int = 1,
        cache_dir: Path | None = None,
        batch_size: int = 8,
        max_tile_pixels: int = 1536 * 1536,
        tile_cells: int = 128,
        device: str = "auto",
    ) -> None:
        self.threads = threads
        self.device = device
        self.batch_size = max(1, batch_size)
        self.max_tile_pixels = max_tile_pixels
        self.tile_cells = max(8, tile_cells)
        self._cache_dir = cache_dir
        self._state = _Lazy(self._load)

    def _load(self) -> tuple[Any, dict[str, Any]]:
        converted = convert.ensure_model("mmod", self._cache_dir)
        return make_session(converted.path, self.threads, self.device), converted.info

    def detect(self, image: RGBImage, upsample: int = 0) -> list[Detection]:
        """All faces in ``image``; ``upsample`` doubles the image that many times first."""
        return self.detect_many([image], upsample)[0]

    def detect_many(self, images: Sequence[RGBImage], upsample: int = 0) -> list[list[Detection]]:
        """Detections for each image; images of the same size share batches."""
        results: list[list[Detection]] = [[] for _ in images]
        groups: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            groups.setdefault(np.asarray(image).shape, []).append(i)
        for idxs in groups.values():
            for start in range(0, len(idxs), self.batch_size):
                chunk = idxs[start : start + self.batch_size]
                found = self._detect_batch([_as_rgb(images[i]) for i in chunk], upsample)
                for i, dets in zip(chunk, found, strict=True):
                    results[i] = dets
        return results

    def raw_detections(
        self, images: Sequence[RGBImage], upsample: int = 0
    ) -> list[list[tuple[mmod.Rect, float]]]:
        """dlib's own rectangles and confidences for same-sized images (for tests)."""
        session, info = self._state.get()
        batch = [_as_rgb(img) for img in images]
        for _ in range(max(0, upsample)):
            batch = [mmod.pyramid_up(img) for img in batch]
        stack = np.stack(batch)
        inp = info["input"]
        data, rects = mmod.build_pyramid(
            stack, tuple(inp["mean"]), int(inp["padding"]), int(inp["outer_padding"])
        )
        if not rects or min(mmod.output_cells(data.shape[2]), mmod.output_cells(data.shape[3])) < 1:
            return [[] for _ in images]  # too small for even one window position
        scores = self._scores(session, data)
        loss = info["loss"]
        window = tuple(loss["windows"][0])
        out = []
        for sample in scores:
            dets = mmod.detections(
                sample[0],
                rects,
                (int(window[0]), int(window[1])),
                loss["nms_iou"],
                loss["nms_covered"],
            )
            out.append([(mmod.rect_down_2(r, max(0, upsample)), s) for r, s in dets])
        return out

    def _detect_batch(self, images: list[np.ndarray], upsample: int) -> list[list[Detection]]:
        out = []
        for dets in self.raw_detections(images, upsample):
            out.append(
                [
                    Detection(
                        box=Box(r.left, r.top, r.right, r.bottom),
                        score=float(1.0 / (1.0 + np.exp(-2.0 * s))),
                    )
                    for r, s in dets
                ]
            )
        return out

    def _scores(self, session: Any, data: np.ndarray) -> np.ndarray:
        n, _, rows, cols = data.shape
        if rows * cols <= self.max_tile_pixels:
            return np.asarray(session.run(None, {"image": data})[0])
        total_r, total_c = mmod.output_cells(rows), mmod.output_cells(cols)
        scores = np.zeros((n, 1, total_r, total_c), dtype=np.float32)
        stride, extra = mmod.OUTPUT_STRIDE, mmod.RECEPTIVE_EXTRA
        for r0, r1, cr0, cr1 in mmod.tiles(total_r, self.tile_cells):
            for c0, c1, cc0, cc1 in mmod.tiles(total_c, self.tile_cells):
                crop = data[
                    :,
                    :,
                    stride * cr0 : min(rows, stride * cr1 + extra),
                    stride * cc0 : min(cols, stride * cc1 + extra),
                ]
                part = np.asarray(session.run(None, {"image": np.ascontiguousarray(crop)})[0])
                if part.shape[2:] != (cr1 - cr0, cc1 - cc0):
                    raise ModelError(
                        gettext("tile output does not line up with the full score map")
                    )
                scores[:, :, r0:r1, c0:c1] = part[:, :, r0 - cr0 : r1 - cr0, c0 - cc0 : c1 - cc0]
        return scores


def _as_rgb(image: RGBImage) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[:, :, None], 3, axis=2)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ModelError(gettext("images must be RGB (H, W, 3) or grayscale (H, W)"))
    return np.ascontiguousarray(arr, dtype=np.uint8)
