"""Build ONNX graphs equivalent to dlib's networks from the weights the .dat reader returns.

Semantics follow dlib's CPU code: convolutions are cross-correlations with dlib's padding (nr/2
when the stride is 1, else none); ``affine`` is a per-channel ``x*g + b`` and is folded into the
convolution before it; ``add_prev`` adds two tensors of different shapes by zero-padding the
smaller one at the end of every axis (``tt::add``); ``skip`` continues from a tagged output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from nextofkin.i18n import _
from nextofkin.vision.dlib_onnx.dat import (
    AddPrev,
    Affine,
    AvgPool,
    Conv,
    DatFormatError,
    FcNoBias,
    MaxPool,
    ParsedLayer,
    ParsedNet,
    Relu,
    Skip,
    Tag,
)

OPSET = 17


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], **attrs: Any) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], **attrs))
        return out


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def _fold_layers(layers: list[ParsedLayer]) -> list[ParsedLayer]:
    """Fold every affine layer into the convolution directly below it (exact up to rounding)."""
    out: list[ParsedLayer] = []
    for layer in layers:
        if isinstance(layer.spec, Affine):
            if not out or not isinstance(out[-1].spec, Conv) or "folded" in out[-1].values:
                raise DatFormatError(_("an affine layer that does not follow a convolution"))
            conv = out[-1]
            g, b = layer.weights["gamma"], layer.weights["beta"]
            w = conv.weights["weight"] * g[:, None, None, None]
            bias = conv.weights["bias"] * g + b
            out[-1] = ParsedLayer(
                conv.spec,
                {"weight": w.astype(np.float32), "bias": bias.astype(np.float32)},
                {**conv.values, "folded": True},
            )
            continue
        out.append(layer)
    return out


def build(
    net: ParsedNet,
    *,
    input_name: str,
    output_name: str,
    input_shape: tuple[int | str, ...],
    output_shape: tuple[int | str, ...],
    static_hw: tuple[int, int] | None,
    nhwc_raw_input: bool,
    fold_affine: bool = True,
) -> onnx.ModelProto:
    """An ONNX model of ``net``'s layers.

    With ``nhwc_raw_input`` the model takes (N, H, W, 3) RGB pixel values 0..255 and folds dlib's
    input normalisation ``(x - mean) / 256`` into the first convolution (exact because that
    convolution has no padding); otherwise it takes the already normalised (N, 3, H, W) tensor.
    ``static_hw`` gives the input size when it is fixed; ``add_prev`` between tensors of different
    sizes needs it. ``fold_affine=False`` keeps the affine layers as Mul/Add nodes (only to
    measure what folding buys).
    """
    b = _Builder()
    layers = _fold_layers(net.layers) if fold_affine else list(net.layers)
    x = input_name
    if nhwc_raw_input:
        x = b.node("Transpose", [x], perm=[0, 3, 1, 2])
        first = layers[0]
        if not isinstance(first.spec, Conv) or first.spec.padding != 0:
            raise DatFormatError(_("input normalisation can only fold into an unpadded first conv"))
        mean = np.array(net.input["mean"], dtype=np.float64)
        w = first.weights["weight"].astype(np.float64)
        bias = (
            first.weights["bias"].astype(np.float64)
            - (w * mean[None, :, None, None]).sum(axis=(1, 2, 3)) / 256.0
        )
        layers = [
            ParsedLayer(
                first.spec,
                {"weight": (w / 256.0).astype(np.float32), "bias": bias.astype(np.float32)},
                first.values,
            ),
            *layers[1:],
        ]

    # Static shape tracking (channels, rows, cols); rows/cols are None when dynamic.
    channels = 3
    hw: tuple[int, int] | None = static_hw
    tags: dict[int, tuple[str, int, tuple[int, int] | None]] = {}

    for layer in layers:
        spec = layer.spec
        if isinstance(spec, Conv):
            w = layer.weights["weight"]
            x = b.node(
                "Conv",
                [x, b.const("w", w), b.const("b", layer.weights["bias"])],
                kernel_shape=[spec.size, spec.size],
                strides=[spec.stride, spec.stride],
                pads=[spec.padding] * 4,
            )
            channels = w.shape[0]
            if hw is not None:
                hw = (
                    _conv_out(hw[0], spec.size, spec.stride, spec.padding),
                    _conv_out(hw[1], spec.size, spec.stride, spec.padding),
                )
        elif isinstance(spec, Affine):
            shape = (1, -1, 1, 1)
            gamma = b.const("g", layer.weights["gamma"].reshape(shape))
            beta = b.const("beta", layer.weights["beta"].reshape(shape))
            x = b.node("Add", [b.node("Mul", [x, gamma]), beta])
        elif isinstance(spec, Relu):
            x = b.node("Relu", [x])
        elif isinstance(spec, MaxPool):
            x = b.node("MaxPool", [x], kernel_shape=[spec.size] * 2, strides=[spec.stride] * 2)
            if hw is not None:
                hw = (
                    _conv_out(hw[0], spec.size, spec.stride, 0),
                    _conv_out(hw[1], spec.size, spec.stride, 0),
                )
        elif isinstance(spec, AvgPool):
            if spec.size == 0:
                x = b.node("GlobalAveragePool", [x])
                hw = (1, 1)
            else:
                x = b.node(
                    "AveragePool", [x], kernel_shape=[spec.size] * 2, strides=[spec.stride] * 2
                )
                if hw is not None:
                    hw = (
                        _conv_out(hw[0], spec.size, spec.stride, 0),
                        _conv_out(hw[1], spec.size, spec.stride, 0),
                    )
        elif isinstance(spec, Tag):
            tags[spec.tag] = (x, channels, hw)
        elif isinstance(spec, Skip):
            x, channels, hw = tags[spec.tag]
        elif isinstance(spec, AddPrev):
            y, y_channels, y_hw = tags[spec.tag]
            if hw is None or y_hw is None:
                if channels != y_channels:
                    raise DatFormatError(_("add_prev of differing shapes needs a fixed input size"))
                x = b.node("Add", [x, y])
            else:
                full = (max(channels, y_channels), max(hw[0], y_hw[0]), max(hw[1], y_hw[1]))
                x = _pad_to(b, x, (channels, *hw), full)
                y = _pad_to(b, y, (y_channels, *y_hw), full)
                x = b.node("Add", [x, y])
                channels, hw = full[0], (full[1], full[2])
        elif isinstance(spec, FcNoBias):
            flat = b.node("Flatten", [x], axis=1)
            x = b.node("MatMul", [flat, b.const("fc", layer.weights["weight"])])
        else:
            raise DatFormatError(_("no ONNX translation for %(spec)s", spec=spec))

    b.nodes[-1].output[0] = output_name
    graph = helper.make_graph(
        b.nodes,
        "dlib",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, list(output_shape))],
        initializer=b.inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def _pad_to(b: _Builder, x: str, have: tuple[int, int, int], want: tuple[int, int, int]) -> str:
    if have == want:
        return x
    ends = [0, want[0] - have[0], want[1] - have[1], want[2] - have[2]]
    pads = np.array([0, 0, 0, 0, *ends], dtype=np.int64)
    return b.node("Pad", [x, b.const("pads", pads)], mode="constant")
