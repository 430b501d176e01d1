"""Build ONNX graphs equivalent to dlib's networks from the weights the .dat reader returns.

Semantics follow dlib's CPU code: convolutions are cross-correlations with dlib's padding (nr/2
when the stride is 1, else none); ``affine`` is a per-channel ``x*g + b`` and is folded into the
convolution before it; ``add_prev`` adds two tensors of different shapes by zero-padding the
smaller one at the end of every axis (``tt::add``); ``skip`` continues from a tagged output.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nextofkin.i18n import _
from nextofkin.vision.dlib_onnx.dat import DatFormatError
from nextofkin.vision.dlib_onnx.layers import (
    AddPrev,
    Affine,
    AvgPool,
    Conv,
    FcNoBias,
    MaxPool,
    ParsedLayer,
    ParsedNet,
    Relu,
    Skip,
    Tag,
)

if TYPE_CHECKING:
    import onnx

OPSET = 17

# The onnx package takes over a second to import and only the one-time conversion builds a graph
# (a search never does): it is imported where a graph is built, not when this module is.


class _Builder:
    def __init__(self) -> None:
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}_{self.count}"

    def const(self, prefix: str, value: np.ndarray) -> str:
        from onnx import numpy_helper  # deferred: only a conversion needs onnx

        name = self.name(prefix)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def node(self, op: str, inputs: Sequence[str], **attrs: Any) -> str:
        from onnx import helper  # deferred: only a conversion needs onnx

        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, list(inputs), [out], **attrs))
        return out

    def model(
        self,
        input_name: str,
        output_name: str,
        input_shape: tuple[int | str, ...],
        output_shape: tuple[int | str, ...],
    ) -> onnx.ModelProto:
        """The checked model of the nodes so far, the last one's output renamed ``output_name``."""
        import onnx  # deferred: only a conversion needs onnx
        from onnx import TensorProto, helper

        self.nodes[-1].output[0] = output_name
        graph = helper.make_graph(
            self.nodes,
            "dlib",
            [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, list(input_shape))],
            [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, list(output_shape))],
            initializer=self.inits,
        )
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)])
        model.ir_version = 8
        onnx.checker.check_model(model)
        return model


@dataclass
class _Flow:
    """The tensor the next layer reads, with its static shape (channels; rows and cols, None
    when the input size is dynamic), and the tagged outputs ``skip`` and ``add_prev`` reuse."""

    x: str
    channels: int
    hw: tuple[int, int] | None
    tags: dict[int, tuple[str, int, tuple[int, int] | None]] = field(default_factory=dict)


def _conv_out(size: int, k: int, stride: int, pad: int) -> int:
    return (size + 2 * pad - k) // stride + 1


def _shrunk(hw: tuple[int, int] | None, k: int, stride: int, pad: int) -> tuple[int, int] | None:
    if hw is None:
        return None
    return (_conv_out(hw[0], k, stride, pad), _conv_out(hw[1], k, stride, pad))


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
        layers = _fold_input_normalisation(net, layers)
    flow = _Flow(x, 3, static_hw)
    for layer in layers:
        _translate(b, layer, flow)
    return b.model(input_name, output_name, input_shape, output_shape)


def _fold_input_normalisation(net: ParsedNet, layers: list[ParsedLayer]) -> list[ParsedLayer]:
    """``layers`` with dlib's ``(x - mean) / 256`` folded into the first, unpadded convolution."""
    first = layers[0]
    if not isinstance(first.spec, Conv) or first.spec.padding != 0:
        raise DatFormatError(_("input normalisation can only fold into an unpadded first conv"))
    mean = np.array(net.input.mean, dtype=np.float64)
    w = first.weights["weight"].astype(np.float64)
    bias = (
        first.weights["bias"].astype(np.float64)
        - (w * mean[None, :, None, None]).sum(axis=(1, 2, 3)) / 256.0
    )
    weights = {"weight": (w / 256.0).astype(np.float32), "bias": bias.astype(np.float32)}
    return [ParsedLayer(first.spec, weights, first.values), *layers[1:]]


def _translate(b: _Builder, layer: ParsedLayer, flow: _Flow) -> None:
    """Add the nodes of one layer, moving ``flow`` on to its output."""
    spec = layer.spec
    if isinstance(spec, Conv):
        w = layer.weights["weight"]
        flow.x = b.node(
            "Conv",
            [flow.x, b.const("w", w), b.const("b", layer.weights["bias"])],
            kernel_shape=[spec.size, spec.size],
            strides=[spec.stride, spec.stride],
            pads=[spec.padding] * 4,
        )
        flow.channels = w.shape[0]
        flow.hw = _shrunk(flow.hw, spec.size, spec.stride, spec.padding)
    elif isinstance(spec, Affine):
        shape = (1, -1, 1, 1)
        gamma = b.const("g", layer.weights["gamma"].reshape(shape))
        beta = b.const("beta", layer.weights["beta"].reshape(shape))
        flow.x = b.node("Add", [b.node("Mul", [flow.x, gamma]), beta])
    elif isinstance(spec, Relu):
        flow.x = b.node("Relu", [flow.x])
    elif isinstance(spec, MaxPool | AvgPool):
        _pool(b, spec, flow)
    elif isinstance(spec, Tag):
        flow.tags[spec.tag] = (flow.x, flow.channels, flow.hw)
    elif isinstance(spec, Skip):
        flow.x, flow.channels, flow.hw = flow.tags[spec.tag]
    elif isinstance(spec, AddPrev):
        _add_prev(b, spec, flow)
    elif isinstance(spec, FcNoBias):
        flat = b.node("Flatten", [flow.x], axis=1)
        flow.x = b.node("MatMul", [flat, b.const("fc", layer.weights["weight"])])
    else:
        raise DatFormatError(_("no ONNX translation for %(spec)s", spec=spec))


def _pool(b: _Builder, spec: MaxPool | AvgPool, flow: _Flow) -> None:
    if isinstance(spec, AvgPool) and spec.size == 0:
        flow.x = b.node("GlobalAveragePool", [flow.x])
        flow.hw = (1, 1)
        return
    op = "MaxPool" if isinstance(spec, MaxPool) else "AveragePool"
    flow.x = b.node(op, [flow.x], kernel_shape=[spec.size] * 2, strides=[spec.stride] * 2)
    flow.hw = _shrunk(flow.hw, spec.size, spec.stride, 0)


def _add_prev(b: _Builder, spec: AddPrev, flow: _Flow) -> None:
    """dlib's ``tt::add``: tensors of different shapes are zero-padded to the larger at the end."""
    y, y_channels, y_hw = flow.tags[spec.tag]
    if flow.hw is None or y_hw is None:
        if flow.channels != y_channels:
            raise DatFormatError(_("add_prev of differing shapes needs a fixed input size"))
        flow.x = b.node("Add", [flow.x, y])
        return
    hw = flow.hw
    full = (max(flow.channels, y_channels), max(hw[0], y_hw[0]), max(hw[1], y_hw[1]))
    x = _pad_to(b, flow.x, (flow.channels, *hw), full)
    y = _pad_to(b, y, (y_channels, *y_hw), full)
    flow.x = b.node("Add", [x, y])
    flow.channels, flow.hw = full[0], (full[1], full[2])


def _pad_to(b: _Builder, x: str, have: tuple[int, int, int], want: tuple[int, int, int]) -> str:
    if have == want:
        return x
    ends = [0, want[0] - have[0], want[1] - have[1], want[2] - have[2]]
    pads = np.array([0, 0, 0, 0, *ends], dtype=np.int64)
    return b.node("Pad", [x, b.const("pads", pads)], mode="constant")
