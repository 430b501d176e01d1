"""Where ONNX models run: one place that chooses ONNX Runtime's execution providers.

Every ONNX model of the project (the converted dlib networks, a model pack, the converted TF.js
models) gets its session here, so ``NEXTOFKIN_VISION__DEVICE`` decides for all of them:

* ``cpu``: CPU only.
* ``cuda``: CUDA first (``onnxruntime-gpu`` and a GPU are required); CPU stays listed for the
  operators CUDA lacks. A session that cannot place itself on CUDA is an error, because whoever
  asked for the GPU should learn that they are not getting it.
* ``auto`` (default): CUDA when this ONNX Runtime offers it, CPU otherwise. When the CUDA provider
  is installed but no GPU answers, ONNX Runtime falls back to CPU and the session says so in the
  log.

The vectors do not depend on the provider beyond float rounding (checked in the tests for CPU; a
GPU run must stay within the conversion's stated tolerance).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextofkin.errors import ModelError
from nextofkin.i18n import _
from nextofkin.settings import VisionSettings

log = logging.getLogger(__name__)

CPU = "CPUExecutionProvider"
CUDA = "CUDAExecutionProvider"
DEVICES = ("auto", "cpu", "cuda")


@dataclass(frozen=True)
class OnnxRuntime:
    """How ONNX sessions are made: ``device`` (auto, cpu, cuda) and intra-op ``threads``."""

    device: str = "auto"
    threads: int = 1

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ModelError(
                _(
                    "unknown device %(device)r; one of %(devices)s",
                    device=self.device,
                    devices=", ".join(DEVICES),
                )
            )

    @classmethod
    def from_settings(cls, vision: VisionSettings) -> OnnxRuntime:
        """The runtime the vision settings ask for (``device``, ``threads``)."""
        return cls(device=vision.device, threads=vision.threads)


def available_providers() -> list[str]:
    """The execution providers this ONNX Runtime build offers."""
    import onnxruntime as ort

    return list(ort.get_available_providers())


def choose_providers(device: str, available: Sequence[str]) -> list[str]:
    """The providers to ask for, best first, for ``device`` given what is ``available``."""
    if device == "cpu":
        return [CPU]
    if device == "cuda":
        if CUDA not in available:
            raise ModelError(
                _(
                    "device 'cuda' was asked for but this ONNX Runtime has no CUDA "
                    "provider (install onnxruntime-gpu on a machine with an NVIDIA GPU, or "
                    "set the device to auto or cpu)",
                )
            )
        return [CUDA, CPU]
    if device == "auto":
        return [CUDA, CPU] if CUDA in available else [CPU]
    raise ModelError(
        _(
            "unknown device %(device)r; one of %(devices)s",
            device=device,
            devices=", ".join(DEVICES),
        )
    )


def make_session(
    model: Path | bytes,
    runtime: OnnxRuntime,
    *,
    available: Sequence[str] | None = None,
) -> Any:
    """An ONNX Runtime session for ``model`` (a file or serialised bytes) on ``runtime``'s device.

    ``available`` overrides what ONNX Runtime reports (for tests of the choice). Raises
    :class:`ModelError` when the model cannot be loaded, or when ``cuda`` was asked for and the
    session did not get it.
    """
    import onnxruntime as ort

    providers = choose_providers(
        runtime.device, available if available is not None else available_providers()
    )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(runtime.threads))
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    source = model if isinstance(model, bytes) else str(model)
    name = "model bytes" if isinstance(model, bytes) else Path(model).name
    try:
        session = ort.InferenceSession(source, opts, providers=providers)
    except Exception as exc:  # ORT raises its own exception types
        raise ModelError(_("cannot load %(name)s: %(exc)s", name=name, exc=exc)) from exc
    got = list(session.get_providers())
    if providers[0] == CUDA and CUDA not in got:
        if runtime.device == "cuda":
            raise ModelError(
                _(
                    "%(name)s: CUDA was asked for but the session runs on %(got)s",
                    name=name,
                    got=got,
                )
            )
        log.info("%s: CUDA provider present but unusable, running on CPU", name)
    return session


def session_providers(session: Any) -> list[str]:
    """The providers a session really runs on, best first."""
    return list(session.get_providers())
