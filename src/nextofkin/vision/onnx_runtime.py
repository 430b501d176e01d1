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

import hashlib
import logging
import os
import platform
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextofkin.errors import ModelError
from nextofkin.i18n import _
from nextofkin.settings import VisionSettings
from nextofkin.vision.model_files import default_cache_dir, remembered_sha256

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
    name = "model bytes" if isinstance(model, bytes) else Path(model).name
    optimised = _optimised_copy(model) if providers == [CPU] else None
    try:
        if optimised is not None and optimised.is_file():
            session = _load_optimised(ort, optimised, opts, providers, model)
        elif optimised is not None:
            session = _optimise_once(ort, model, optimised, opts, providers)
        else:
            source = model if isinstance(model, bytes) else str(model)
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


def _cpu_signature() -> str | None:
    """What an optimised CPU graph depends on: the processor's instruction set extensions."""
    try:
        with Path("/proc/cpuinfo").open(encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith(("flags", "Features"))), None)
    except OSError:
        return None
    if flags is None:
        return None
    return hashlib.sha256(f"{platform.machine()} {flags}".encode()).hexdigest()[:12]


def _optimised_copy(model: Path | bytes) -> Path | None:
    """Where ``model``'s graph, fully optimised for this CPU, is kept (None: not kept).

    Full optimisation (ONNX Runtime's layout transforms for this CPU) takes a third of a second
    for dlib's ResNet on every session, more than the rest of loading it, and the same graph
    comes out each time. It is kept once, keyed by the model's content, the ONNX Runtime
    version and the CPU's instruction set (the optimised graph is specific to all three), and
    later sessions load it without optimising again: the same outputs, bit for bit.
    """
    import onnxruntime as ort  # deferred like every onnxruntime import: only sessions need it

    cpu = _cpu_signature()
    if isinstance(model, bytes) or cpu is None:
        return None
    cache = default_cache_dir()
    digest = remembered_sha256(model, cache)[:16]
    return cache / "ort-optimised" / f"{model.stem}-{digest}-ort{ort.__version__}-{cpu}.onnx"


def _load_optimised(
    ort: Any, optimised: Path, opts: Any, providers: list[str], model: Path | bytes
) -> Any:
    """A session of the kept optimised graph; a copy that does not load is made again."""
    fast = ort.SessionOptions()
    fast.intra_op_num_threads = opts.intra_op_num_threads
    fast.inter_op_num_threads = opts.inter_op_num_threads
    fast.execution_mode = opts.execution_mode
    fast.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    try:
        return ort.InferenceSession(str(optimised), fast, providers=providers)
    except Exception:  # ORT raises its own exception types
        log.warning("optimising %s again: its kept optimised copy does not load", optimised.name)
        return _optimise_once(ort, model, optimised, opts, providers)


def _optimise_once(
    ort: Any, model: Path | bytes, optimised: Path, opts: Any, providers: list[str]
) -> Any:
    """A fully optimised session of ``model``, its optimised graph kept at ``optimised``."""
    source = model if isinstance(model, bytes) else str(model)
    try:
        optimised.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=optimised.parent, prefix=optimised.name, suffix=".tmp")
        os.close(fd)
    except OSError as exc:  # a read-only cache: optimise on every start, as before
        log.info("cannot keep optimised models in %s: %s", optimised.parent, exc)
        return ort.InferenceSession(source, opts, providers=providers)
    opts.optimized_model_filepath = tmp
    opts.log_severity_level = 3  # the "hardware specific" notice: the key holds the CPU
    try:
        session = ort.InferenceSession(source, opts, providers=providers)
        Path(tmp).replace(optimised)
    finally:
        Path(tmp).unlink(missing_ok=True)
    return session


def session_providers(session: Any) -> list[str]:
    """The providers a session really runs on, best first."""
    return list(session.get_providers())
