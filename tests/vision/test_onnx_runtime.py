"""Where ONNX models run: the provider follows ``vision.device``, with a CPU fallback.

This machine has no GPU and the CPU build of ONNX Runtime, so the CUDA cases run with ONNX
Runtime told (through ``available``) that a CUDA provider exists: the session then asks for CUDA
first, and what ONNX Runtime really does with that request is checked, not assumed.
"""

from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from nextofkin.errors import ModelError
from nextofkin.settings import VisionSettings
from nextofkin.vision.onnx_runtime import (
    CPU,
    CUDA,
    OnnxRuntime,
    available_providers,
    choose_providers,
    make_session,
)
from nextofkin.vision.registry import default_registry


def _relu_model() -> bytes:
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])],
        "relu",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [None, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [None, 3])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return bytes(model.SerializeToString())


@pytest.mark.parametrize(
    ("device", "available", "expected"),
    [
        ("cpu", [CUDA, CPU], [CPU]),
        ("cpu", [CPU], [CPU]),
        ("auto", [CUDA, CPU], [CUDA, CPU]),
        ("auto", [CPU], [CPU]),
        ("cuda", [CUDA, CPU], [CUDA, CPU]),
    ],
)
def test_providers_follow_the_device(
    device: str, available: list[str], expected: list[str]
) -> None:
    assert choose_providers(device, available) == expected


def test_cuda_without_a_cuda_provider_is_refused() -> None:
    with pytest.raises(ModelError, match="onnxruntime-gpu"):
        choose_providers("cuda", [CPU])
    with pytest.raises(ModelError, match="unknown device"):
        OnnxRuntime(device="tpu")


def test_cpu_session_runs_on_cpu() -> None:
    session = make_session(_relu_model(), OnnxRuntime("cpu"))
    assert session.get_providers() == [CPU]
    out = session.run(None, {"x": np.array([[-1.0, 0.5, 2.0]], dtype=np.float32)})[0]
    assert out.tolist() == [[0.0, 0.5, 2.0]]


def test_auto_falls_back_to_cpu_when_cuda_cannot_run() -> None:
    real = available_providers()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ORT warns that it has no CUDA provider to give
        session = make_session(_relu_model(), OnnxRuntime("auto"), available=[CUDA, CPU])
    if CUDA in real:
        assert session.get_providers()[0] == CUDA
    else:
        assert session.get_providers() == [CPU]
    out = session.run(None, {"x": np.array([[-3.0, 1.0, 0.0]], dtype=np.float32)})[0]
    assert out.tolist() == [[0.0, 1.0, 0.0]]


def test_cuda_asked_for_but_not_granted_is_an_error() -> None:
    if CUDA in available_providers():
        pytest.skip("a real CUDA provider is present: covered by the auto test")
    with warnings.catch_warnings(), pytest.raises(ModelError, match="CUDA was asked for"):
        warnings.simplefilter("ignore")
        make_session(_relu_model(), OnnxRuntime("cuda"), available=[CUDA, CPU])


@pytest.mark.parametrize("device", ["cpu", "auto", "cuda"])
def test_registry_hands_the_device_to_onnx_models(device: str) -> None:
    registry = default_registry(VisionSettings(device=device, threads=2))
    assert registry.runtime == OnnxRuntime(device, 2)
    embedder = registry.embedder("dlib-resnet-onnx")
    detector = registry.detector("mmod-onnx")
    assert (embedder.device, embedder.threads) == (device, 2)  # type: ignore[attr-defined]
    assert (detector.device, detector.threads) == (device, 2)  # type: ignore[attr-defined]


def test_settings_reject_an_unknown_device() -> None:
    with pytest.raises(ValueError, match="device"):
        VisionSettings.model_validate({"device": "tpu"})
