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
from nextofkin.vision.dlib_models import DLIB_CHIP_SIZE, DLIB_RESNET_SPEC, _Lazy, dlib_chip
from nextofkin.vision.dlib_onnx import convert
from nextofkin.vision.models import l2_normalise
from nextofkin.vision.types import Points, RGBImage


def make_session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session with full graph optimisation and ``threads`` intra-op threads."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as exc:  # ORT raises its own exception types
        raise ModelError(f"cannot load {path.name}: {exc}") from exc


class OnnxResnetEmbedder:
    """dlib's 128-d ResNet face embedding on ONNX Runtime: the same vectors as ``dlib-resnet``.

    It uses the same spec and the same alignment (dlib's 150x150 chip) as
    :class:`~nextofkin.vision.dlib_models.DlibResnetEmbedder`, because it computes the same
    vectors: the conversion is checked against dlib, and the tests check 1,000 LFW faces.
    """

    spec = DLIB_RESNET_SPEC

    def __init__(
        self, threads: int = 1, cache_dir: Path | None = None, batch_size: int = 16
    ) -> None:
        self.threads = threads
        self.batch_size = max(1, batch_size)
        self._cache_dir = cache_dir
        self._session = _Lazy(self._load)

    def _load(self) -> Any:
        converted = convert.ensure_model("resnet", self._cache_dir)
        return make_session(converted.path, self.threads)

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
                raise ModelError(f"chips must be {DLIB_CHIP_SIZE}x{DLIB_CHIP_SIZE} RGB")
            out.append(session.run(None, {"chips": batch.astype(np.float32)})[0])
        return np.concatenate(out).astype(np.float32)

    def embed(self, chips: Sequence[RGBImage]) -> np.ndarray:
        """128-d unit vectors."""
        return l2_normalise(self.raw_descriptors(chips))
