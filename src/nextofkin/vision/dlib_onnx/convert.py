"""Convert dlib's .dat networks to ONNX once, verify the result, and cache it.

The cache key is the SHA-256 of the .dat file plus :data:`CONVERTER_VERSION`, so a different
weights file or a change to the converter gives a new file and never reuses a stale one. Files are
written to a temporary name and renamed into place, so worker processes converting at the same
time cannot see a half-written model. Each model gets a JSON sidecar recording how it was made and
what its verification measured.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import gettext
from nextofkin.vision.dlib_onnx import dat, graph, reference, specs
from nextofkin.vision.model_files import (
    atomic_write,
    default_cache_dir,
    remembered_sha256,
    weights_file,
)

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1
CACHE_ENV = "NEXTOFKIN_MODEL_CACHE"  # the flat name (settings.FLAT_NAMES)

# Verification tolerances: the ONNX graph against an independent NumPy forward pass of the parsed
# network (checks the translation), and against dlib itself when it is importable.
MAX_REFERENCE_ABS = 1e-4
MAX_DLIB_COSINE_DISTANCE = 1e-5


@dataclass(frozen=True)
class Converted:
    """A cached ONNX model and what is known about it."""

    path: Path
    info: dict[str, Any]


def _session(model_bytes: bytes) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    return ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])


def _verification_chips(count: int = 4) -> np.ndarray:
    """Deterministic smooth 150x150 RGB images (not faces, but they exercise every weight)."""
    rng = np.random.default_rng(20240601)
    yy, xx = np.mgrid[0:150, 0:150] / 150.0
    chips = []
    for _ in range(count):
        img = np.zeros((150, 150, 3))
        for c in range(3):
            fx, fy, ph = rng.uniform(0.5, 6.0, 3)
            img[..., c] = 128 + 100 * np.sin(2 * np.pi * (fx * xx + fy * yy) + ph)
        img += rng.normal(0, 12, img.shape)
        chips.append(np.clip(img, 0, 255).astype(np.uint8))
    return np.stack(chips)


def build_resnet(dat_path: Path) -> tuple[bytes, dict[str, Any]]:
    """Parse, translate and verify dlib's ResNet; the model bytes and a verification record."""
    net = dat.parse(dat_path.read_bytes(), specs.resnet_spec())
    model = graph.build(
        net,
        input_name="chips",
        output_name="descriptors",
        input_shape=("N", 150, 150, 3),
        output_shape=("N", 128),
        static_hw=(150, 150),
        nhwc_raw_input=True,
    )
    blob = model.SerializeToString()
    chips = _verification_chips()
    got = _session(blob).run(None, {"chips": chips.astype(np.float32)})[0]
    want = reference.resnet_forward(net, chips[:1])
    ref_err = float(np.abs(got[:1] - want).max())
    info: dict[str, Any] = {"reference_max_abs": ref_err}
    if ref_err > MAX_REFERENCE_ABS:
        raise ModelError(
            gettext(
                "ONNX ResNet differs from the reference forward pass by %(ref_err).2e",
                ref_err=ref_err,
            )
        )
    dlib_dist = _dlib_resnet_distance(dat_path, chips, got)
    if dlib_dist is not None:
        info["dlib_max_cosine_distance"] = dlib_dist
        if dlib_dist > MAX_DLIB_COSINE_DISTANCE:
            raise ModelError(
                gettext(
                    "ONNX ResNet differs from dlib by cosine distance %(dlib_dist).2e",
                    dlib_dist=dlib_dist,
                )
            )
    return blob, info


def _dlib_resnet_distance(dat_path: Path, chips: np.ndarray, got: np.ndarray) -> float | None:
    try:
        import dlib
    except ImportError:
        return None
    model = dlib.face_recognition_model_v1(str(dat_path))
    want = np.array([np.asarray(v) for v in model.compute_face_descriptor(list(chips))])
    cos = (got * want).sum(1) / (np.linalg.norm(got, axis=1) * np.linalg.norm(want, axis=1))
    return float(np.max(1.0 - cos))


def build_mmod(dat_path: Path) -> tuple[bytes, dict[str, Any]]:
    """Parse, translate and verify dlib's MMOD detector network (the score map part)."""
    net = dat.parse(dat_path.read_bytes(), specs.mmod_spec())
    model = graph.build(
        net,
        input_name="image",
        output_name="scores",
        input_shape=("N", 3, "H", "W"),
        output_shape=("N", 1, "h", "w"),
        static_hw=None,
        nhwc_raw_input=False,
    )
    blob = model.SerializeToString()
    rng = np.random.default_rng(7)
    x = rng.normal(0, 0.3, (1, 3, 96, 88)).astype(np.float32)
    got = _session(blob).run(None, {"image": x})[0]
    want = reference.mmod_forward(net, x)
    ref_err = float(np.abs(got - want).max())
    if got.shape != want.shape or ref_err > MAX_REFERENCE_ABS:
        raise ModelError(
            gettext(
                "ONNX MMOD differs from the reference forward pass by %(ref_err).2e",
                ref_err=ref_err,
            )
        )
    info = {"reference_max_abs": ref_err, "loss": asdict(net.loss), "input": asdict(net.input)}
    return blob, info


_BUILDERS = {"resnet": build_resnet, "mmod": build_mmod}


def ensure_model(
    kind: str, cache_dir: Path | None = None, dat_path: Path | None = None
) -> Converted:
    """The cached ONNX model for ``kind`` ("resnet" or "mmod"), converting it on first use."""
    if kind not in _BUILDERS:
        raise ModelError(gettext("unknown dlib network %(kind)r", kind=kind))
    src = dat_path or weights_file(kind)
    folder = cache_dir or default_cache_dir()
    digest = remembered_sha256(src, folder)
    stem = f"dlib-{kind}-{digest[:16]}-c{CONVERTER_VERSION}"
    onnx_path = folder / f"{stem}.onnx"
    info_path = folder / f"{stem}.json"
    if onnx_path.is_file() and info_path.is_file():
        return Converted(onnx_path, json.loads(info_path.read_text()))
    started = time.perf_counter()
    log.info("converting %s to ONNX (once; cached in %s)", src.name, folder)
    blob, info = _BUILDERS[kind](src)
    info.update(
        {
            "source": src.name,
            "source_sha256": digest,
            "converter_version": CONVERTER_VERSION,
            "seconds": round(time.perf_counter() - started, 2),
        }
    )
    atomic_write(onnx_path, blob)
    atomic_write(info_path, json.dumps(info, indent=2, default=str).encode())
    return Converted(onnx_path, info)
