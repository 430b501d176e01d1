"""MobileFaceNet (512-d, ArcFace-aligned 112 px) from the npm package
``faceplugin-face-recognition-js`` (MIT), as an embedder.

The package ships the network as ONNX (``model/fr_feature.onnx``, PyTorch 1.10 export). Its own
code (``lib/fr_feature.js``) warps the face onto the ArcFace 112x112 five-point template and feeds
RGB as ``(x - 127) / 128``, channels first; its output is the 512-d descriptor. We have dlib's five
points (two corners of each eye and the base of the nose), not the template's (eye centres, nose
tip, mouth corners), so :data:`DLIB5_IN_ARCFACE112` places dlib's points in the template's frame:
their mean position after the template's own warp (from dlib's 68 points) over the faces of LFW's
development pairs (``pairsDevTrain.txt``, 3,434 faces; ``benchmarks/bench_fusion.py --template``),
never the reported pairs. A least-squares similarity transform of the five points onto it gives
the chip.

The exported graph takes a batch of one (its last ``Reshape`` says ``[1, -1]``); it is rewritten
once to take any batch (``[0, -1]``), checked against the original on real chips, and cached by
the file's SHA-256 like the other conversions. Nothing happens at import.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import _
from nextofkin.vision import flip, fusion
from nextofkin.vision.dlib_models import DLIB_CHIP_SIZE, _Lazy
from nextofkin.vision.model_files import atomic_write, default_cache_dir, file_sha256
from nextofkin.vision.models import EmbedderSpec, l2_normalise
from nextofkin.vision.onnx_runtime import OnnxRuntime, make_session
from nextofkin.vision.tfjs_onnx.convert import npm_prefix
from nextofkin.vision.types import Points, RGBImage

if TYPE_CHECKING:
    from nextofkin.vision.models import ModelRegistry

NPM_PACKAGE = "faceplugin-face-recognition-js"
NPM_VERSION = "0.0.1"
MODEL_FILE = "model/fr_feature.onnx"
MODEL_SHA256 = "87aacdfe57510db2af90c0251df680e8eec88f122ee94712121d09bcaaaf3581"
MODEL_ENV = "NEXTOFKIN_MOBILEFACENET_MODEL"
CONVERTER_VERSION = 1
CHIP = 112
# dlib's five points (eye corners, nose base; dlib's order) in the ArcFace 112 frame, learned on
# pairsDevTrain.txt only (module docstring).
DLIB5_IN_ARCFACE112 = np.array(
    [[80.19, 52.79], [66.44, 53.23], [31.55, 53.04], [45.37, 53.35], [56.03, 79.62]],
    dtype=np.float64,
)
# Operating points on pairsDevTrain.txt (bench_fusion.py): the cosine accepting 1% and 0.1% of
# the impostor pairs there (plain vectors 0.256 / 0.286, flip-averaged 0.243 / 0.289).
MFN_SAME_PERSON = 0.26
MFN_STRICT = 0.29
MFN_FLIP_SAME_PERSON = 0.24
MFN_FLIP_STRICT = 0.29
MFN_SPEC = EmbedderSpec(
    name="faceplugin-mfn-v1",
    dim=512,
    alignment="arcface112-dlib5",
    same_person_similarity=MFN_SAME_PERSON,
    strict_similarity=MFN_STRICT,
)
# The package's own input scaling (fr_feature.js: (pixel - 127) / 128).
PIXEL_OFFSET = 127.0
PIXEL_SCALE = 128.0
BATCH_TOLERANCE = 1e-4  # batched graph against the original, per output value


def model_path() -> Path:
    """``fr_feature.onnx`` as ``scripts/setup.sh`` unpacks it (``$NEXTOFKIN_MOBILEFACENET_MODEL``
    wins)."""
    env = os.environ.get(MODEL_ENV)
    if env:
        return Path(env)
    return npm_prefix() / "packed" / NPM_PACKAGE / MODEL_FILE


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 least-squares similarity (rotation, uniform scale, shift) taking ``src`` to
    ``dst`` (Umeyama's closed form, without reflection)."""
    src = np.asarray(src, dtype=np.float64)
    dst = np.asarray(dst, dtype=np.float64)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    s, d = src - mu_s, dst - mu_d
    cov = d.T @ s / len(src)
    u, sigma, vt = np.linalg.svd(cov)
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[-1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((sigma * sign).sum() / max((s**2).sum() / len(src), 1e-12))
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - scale * rotation @ mu_s
    return matrix


def arcface_chip(image: RGBImage, landmarks: Points) -> RGBImage:
    """The 112x112 chip: dlib's five points warped onto :data:`DLIB5_IN_ARCFACE112` (bilinear)."""
    import cv2

    points = np.asarray(landmarks, dtype=np.float64)
    if points.shape != (5, 2):
        raise ModelError(_("MobileFaceNet needs dlib's five landmarks"))
    matrix = similarity_transform(points, DLIB5_IN_ARCFACE112)
    chip = cv2.warpAffine(
        np.ascontiguousarray(image), matrix, (CHIP, CHIP), flags=cv2.INTER_LINEAR, borderValue=0
    )
    return np.ascontiguousarray(chip, dtype=np.uint8)


def _batched_graph(original: bytes) -> bytes:
    """The graph with a free batch axis: input/output batch symbolic, ``[1, -1]`` reshapes made
    ``[0, -1]`` (keep the batch)."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load_from_string(original)
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "n"
    shapes = {n.input[1] for n in model.graph.node if n.op_type == "Reshape"}
    for init in model.graph.initializer:
        if init.name in shapes and numpy_helper.to_array(init).tolist() == [1, -1]:
            init.CopyFrom(numpy_helper.from_array(np.array([0, -1], dtype=np.int64), init.name))
    return bytes(model.SerializeToString())


def _check_batched(original: bytes, batched: bytes, runtime: OnnxRuntime) -> float:
    """Largest difference between the batched graph on a batch and the original one by one."""
    rng = np.random.default_rng(0)
    x = ((rng.integers(0, 256, (3, 3, CHIP, CHIP)) - PIXEL_OFFSET) / PIXEL_SCALE).astype(np.float32)
    one = make_session(original, runtime)
    many = make_session(batched, runtime)
    single = np.concatenate([one.run(None, {"input": x[i : i + 1]})[0] for i in range(len(x))])
    together = many.run(None, {"input": x})[0]
    return float(np.max(np.abs(single - together)))


def ensure_batched(cache_dir: Path | None = None, runtime: OnnxRuntime | None = None) -> Path:
    """The batch-free graph in the model cache, made and checked once per machine.

    Raises :class:`ModelError` when the package's file is missing (run ``scripts/setup.sh``), is
    not the file this code was measured with, or the rewritten graph disagrees with it.
    """
    source = model_path()
    if not source.is_file():
        raise ModelError(
            _(
                "MobileFaceNet weights not found at %(path)s: run scripts/setup.sh (it unpacks "
                "the npm package %(package)s)",
                path=source,
                package=f"{NPM_PACKAGE}@{NPM_VERSION}",
            )
        )
    sha = file_sha256(source)
    if sha != MODEL_SHA256:
        raise ModelError(
            _(
                "%(path)s is not the MobileFaceNet measured here (SHA-256 %(sha)s)",
                path=source,
                sha=sha,
            )
        )
    target = (cache_dir or default_cache_dir()) / f"mfn-{sha[:16]}-v{CONVERTER_VERSION}.onnx"
    if target.is_file():
        return target
    original = source.read_bytes()
    batched = _batched_graph(original)
    worst = _check_batched(original, batched, runtime or OnnxRuntime("cpu"))
    if worst > BATCH_TOLERANCE:
        raise ModelError(
            _("the batched MobileFaceNet differs from the original by %(d)s", d=f"{worst:.2e}")
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(target, batched)
    return target


class MobileFaceNetEmbedder:
    """faceplugin's MobileFaceNet on ONNX Runtime: 512-d unit vectors of ArcFace-aligned chips."""

    spec = MFN_SPEC

    def __init__(self, runtime: OnnxRuntime | None = None, batch_size: int = 16) -> None:
        self.runtime = runtime or OnnxRuntime()
        self.batch_size = max(1, batch_size)
        self._session = _Lazy(self._load)

    def _load(self) -> Any:
        return make_session(ensure_batched(runtime=self.runtime), self.runtime)

    def align(self, image: RGBImage, landmarks: Points) -> RGBImage:
        """The ArcFace-frame 112x112 chip."""
        return arcface_chip(image, landmarks)

    def embed(self, chips: Sequence[RGBImage]) -> np.ndarray:
        """Unit 512-d vectors."""
        if not chips:
            return np.zeros((0, self.spec.dim), dtype=np.float32)
        session = self._session.get()
        out = []
        for start in range(0, len(chips), self.batch_size):
            batch = np.stack([np.asarray(c) for c in chips[start : start + self.batch_size]])
            if batch.shape[1:] != (CHIP, CHIP, 3):
                raise ModelError(_("MobileFaceNet chips must be 112x112 RGB"))
            x = ((batch.astype(np.float32) - PIXEL_OFFSET) / PIXEL_SCALE).transpose(0, 3, 1, 2)
            out.append(session.run(None, {"input": np.ascontiguousarray(x)})[0])
        return l2_normalise(np.concatenate(out))


# The product's fusion (vision/fusion.py): dlib's flip-averaged vectors and MobileFaceNet's. The
# weights are a = w/σ_dlib and b = (1 - w)/σ_mfn (shares of their sum), with each model's score
# spread σ (0.0668, 0.3403) and w (0.50, the best of 0.05-1.00) measured on pairsDevTrain.txt
# (benchmarks/bench_fusion.py; docs/MODELS.md), never on reported pairs. Operating points: the
# fused cosine accepting 1% (0.789) and 0.1% (0.815) of the impostor pairs there.
FUSED_NAME = "fused-dlib-mfn"
FUSED_WEIGHT_DLIB = 0.836
FUSED_WEIGHT_MFN = 0.164
FUSED_SAME_PERSON = 0.79
FUSED_STRICT = 0.81
FUSED_SPEC = EmbedderSpec(
    name="fused-dlib-mfn-v1",
    dim=128 + MFN_SPEC.dim,
    alignment="dlib-chip150+arcface112-dlib5",
    same_person_similarity=FUSED_SAME_PERSON,
    strict_similarity=FUSED_STRICT,
)


def register(registry: ModelRegistry) -> None:
    """Add ``faceplugin-mfn``, its flip-averaged form and the fusion ``fused-dlib-mfn`` (of
    ``dlib-resnet-onnx-flip`` and ``faceplugin-mfn-flip``) to ``registry``; nothing loads until
    first use."""
    registry.add_embedder("faceplugin-mfn", lambda: MobileFaceNetEmbedder(registry.runtime))
    flip.register_flip_variant(
        registry, "faceplugin-mfn", same_person=MFN_FLIP_SAME_PERSON, strict=MFN_FLIP_STRICT
    )
    fusion.register_fusion(
        registry,
        FUSED_NAME,
        [
            fusion.FusionPart(
                "dlib-resnet-onnx-flip", (DLIB_CHIP_SIZE, DLIB_CHIP_SIZE), FUSED_WEIGHT_DLIB
            ),
            fusion.FusionPart("faceplugin-mfn-flip", (CHIP, CHIP), FUSED_WEIGHT_MFN),
        ],
        FUSED_SPEC,
    )
