"""The registry of every model this installation can run, built from the model modules.

Apart from :mod:`nextofkin.vision.models` (the interfaces and the registry type) so that the
modules implementing a model import the interfaces without importing the module that chooses
among them: no import cycle, and no function-level import to hide one.
"""

from __future__ import annotations

from nextofkin.settings import VisionSettings
from nextofkin.vision import dlib_models, dlib_onnx, flip, mobilefacenet, onnx_pack, tfjs_onnx
from nextofkin.vision.models import ModelRegistry
from nextofkin.vision.onnx_runtime import OnnxRuntime


def default_registry(vision: VisionSettings | None = None) -> ModelRegistry:
    """The registry with every model this installation can run (loaded lazily on first use);
    its ONNX models run where ``vision`` says (``device``, ``threads``; default: CUDA when ONNX
    Runtime offers it, else CPU, one thread)."""
    registry = ModelRegistry(OnnxRuntime.from_settings(vision) if vision else None)
    dlib_models.register(registry)
    dlib_onnx.register(registry)
    tfjs_onnx.register(registry)
    for base in ("dlib-resnet", "dlib-resnet-onnx"):
        flip.register_flip_variant(
            registry, base, same_person=flip.DLIB_FLIP_SAME_PERSON, strict=flip.DLIB_FLIP_STRICT
        )
    mobilefacenet.register(registry)
    onnx_pack.register_configured(registry, vision)
    return registry
