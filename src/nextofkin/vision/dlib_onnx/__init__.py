"""dlib's face networks without dlib's compiled inference: read from the .dat files that
``face_recognition_models`` ships, converted once to ONNX (verified and cached), run by ONNX
Runtime. See docs/MODELS.md for how the conversion works and how it is verified.

Importing this package does no work; models convert and load on first use.
"""

from __future__ import annotations

from nextofkin.vision.dlib_onnx import runtime
from nextofkin.vision.models import ModelRegistry


def register(registry: ModelRegistry) -> None:
    """Add ``mmod-onnx`` (detector) and ``dlib-resnet-onnx`` (embedder) to ``registry``."""
    where = registry.runtime
    registry.add_embedder(
        "dlib-resnet-onnx",
        lambda: runtime.OnnxResnetEmbedder(threads=where.threads, device=where.device),
    )
    registry.add_detector(
        "mmod-onnx", lambda: runtime.OnnxMmodDetector(threads=where.threads, device=where.device)
    )
