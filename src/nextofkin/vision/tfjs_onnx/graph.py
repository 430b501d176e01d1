"""A TF.js graph model as an ONNX graph.

TensorFlow's face networks are NHWC; ONNX's convolutions are NCHW. The graph keeps the model's own
interface (NHWC input, outputs as TensorFlow shapes them) and runs NCHW inside: the input is
transposed once, every 4-d activation is tracked as NCHW, constants that broadcast against one
are laid out to match, and an op whose TensorFlow meaning depends on the axis order (reshape,
squeeze, reductions) gets its operand transposed back to NHWC first. An op the translation does not
know is an error naming it, never skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import _
from nextofkin.vision.tfjs_onnx.tfjs import Node, TfGraph

if TYPE_CHECKING:
    import onnx

# The onnx package takes over a second to import and only the one-time conversion builds a graph
# (a search never does): it is imported where a graph is built, not when this module is.

OPSET = 13
INPUT_NAME = "input"
_TO_NCHW = (0, 3, 1, 2)
_TO_NHWC = (0, 2, 3, 1)
_UNARY = {"Relu": "Relu", "Sigmoid": "Sigmoid", "Abs": "Abs", "Identity": "Identity"}
_BINARY = {"Add": "Add", "AddV2": "Add", "Sub": "Sub", "Mul": "Mul", "RealDiv": "Div"}
_BINARY |= {"Minimum": "Min", "Maximum": "Max"}


@dataclass
class _Value:
    name: str
    nchw: bool  # a 4-d activation held as NCHW


@dataclass
class _Builder:
    graph: TfGraph
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    inits: list[onnx.TensorProto] = field(default_factory=list)
    values: dict[str, _Value] = field(default_factory=dict)
    counter: int = 0

    def fresh(self, hint: str) -> str:
        self.counter += 1
        return f"{hint}__{self.counter}"

    def const(self, array: np.ndarray, hint: str) -> str:
        from onnx import numpy_helper  # deferred: only a conversion needs onnx

        name = self.fresh(hint)
        self.inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def add(self, op: str, inputs: list[str], hint: str, **attrs: Any) -> str:
        from onnx import helper  # deferred: only a conversion needs onnx

        out = self.fresh(hint)
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def is_const(self, name: str) -> bool:
        return name in self.graph.weights

    def weight(self, name: str) -> np.ndarray:
        try:
            return self.graph.weights[name]
        except KeyError:
            raise ModelError(
                _("node input %(name)r is not a constant the translation can use", name=name)
            ) from None

    def nhwc(self, name: str) -> str:
        """The TF node ``name``'s output with TensorFlow's axis order."""
        v = self.values[name]
        return self.add("Transpose", [v.name], "nhwc", perm=list(_TO_NHWC)) if v.nchw else v.name


def _conv(b: _Builder, n: Node, depthwise: bool) -> _Value:
    x = b.values[n.inputs[0]]
    if not x.nchw:
        raise ModelError(
            _("%(name)s: convolution of a tensor that is not a 4-d activation", name=n.name)
        )
    w = b.weight(n.inputs[1]).astype(np.float32)
    if depthwise:  # (H, W, C, M) -> (C*M, 1, H, W), one group per input channel
        kh, kw, c, m = w.shape
        kernel = w.transpose(2, 3, 0, 1).reshape(c * m, 1, kh, kw)
        group = c
    else:  # HWIO -> OIHW
        kernel, group = w.transpose(3, 2, 0, 1), 1
    if n.attrs.get("data_format", "NHWC") != "NHWC":
        raise ModelError(
            _(
                "%(name)s: data format %(attrs)s is not supported",
                name=n.name,
                attrs=n.attrs.get("data_format"),
            )
        )
    strides, dil = n.attrs.get("strides", [1, 1, 1, 1]), n.attrs.get("dilations", [1, 1, 1, 1])
    inputs = [x.name, b.const(kernel, "w")]
    fused = list(n.attrs.get("fused_ops", []))
    if fused[:1] == ["BiasAdd"]:
        inputs.append(b.const(b.weight(n.inputs[2]).astype(np.float32), "b"))
        fused = fused[1:]
    out = b.add(
        "Conv",
        inputs,
        "conv",
        strides=strides[1:3],
        dilations=dil[1:3],
        group=group,
        kernel_shape=list(kernel.shape[2:]),
        **_padding(n),
    )
    return _Value(_activations(b, n, out, fused), True)


def _padding(n: Node) -> dict[str, object]:
    pad = n.attrs.get("padding", "VALID")
    if pad == "SAME":  # TensorFlow puts the odd pixel at the end, as SAME_UPPER does
        return {"auto_pad": "SAME_UPPER"}
    if pad == "VALID":
        return {"auto_pad": "VALID"}
    raise ModelError(_("%(name)s: padding %(pad)s is not supported", name=n.name, pad=pad))


def _activations(b: _Builder, n: Node, out: str, fused: list[str]) -> str:
    for op in fused:
        if op == "Relu":
            out = b.add("Relu", [out], "relu")
        elif op == "Relu6":
            out = b.add(
                "Clip",
                [
                    out,
                    b.const(np.array(0, np.float32), "lo"),
                    b.const(np.array(6, np.float32), "hi"),
                ],
                "relu6",
            )
        else:
            raise ModelError(_("%(name)s: fused op %(op)s is not supported", name=n.name, op=op))
    return out


def _matmul(b: _Builder, n: Node) -> _Value:
    a = b.nhwc(n.inputs[0])
    w = b.weight(n.inputs[1]).astype(np.float32)
    if n.attrs.get("transpose_a"):
        raise ModelError(_("%(name)s: transpose_a is not supported", name=n.name))
    if n.attrs.get("transpose_b"):
        w = w.T
    out = b.add("MatMul", [a, b.const(w, "w")], "matmul")
    fused = list(n.attrs.get("fused_ops", []))
    if fused[:1] == ["BiasAdd"]:
        out = b.add("Add", [out, b.const(b.weight(n.inputs[2]).astype(np.float32), "b")], "bias")
        fused = fused[1:]
    return _Value(_activations(b, n, out, fused), False)


def _laid_out(array: np.ndarray, nchw: bool) -> np.ndarray:
    """A constant broadcast against an NCHW activation, as TensorFlow broadcasts it in NHWC."""
    if not nchw or array.ndim == 0:
        return array
    full = array.reshape((1,) * (4 - array.ndim) + array.shape)
    return full.transpose(_TO_NCHW)


def _binary(b: _Builder, n: Node) -> _Value:
    left, right = n.inputs[0], n.inputs[1]
    consts = [b.is_const(left), b.is_const(right)]
    if all(consts):
        raise ModelError(_("%(name)s: both operands are constants", name=n.name))
    act = b.values[right if consts[0] else left]
    names = []
    for ref, is_const in zip((left, right), consts, strict=True):
        if is_const:
            names.append(b.const(_laid_out(b.weight(ref).astype(np.float32), act.nchw), "k"))
        else:
            v = b.values[ref]
            names.append(v.name if v.nchw == act.nchw else b.nhwc(ref))
    return _Value(b.add(_BINARY[n.op], names, n.op.lower()), act.nchw)


def _reduce(b: _Builder, n: Node) -> _Value:
    axes = [int(a) for a in np.atleast_1d(b.weight(n.inputs[1]))]
    op = "ReduceMean" if n.op == "Mean" else "ReduceSum"
    keep = int(bool(n.attrs.get("keep_dims", False)))
    x = b.nhwc(n.inputs[0])
    if op == "ReduceSum":  # opset 13: axes are an input
        out = b.add(op, [x, b.const(np.array(axes, np.int64), "axes")], "sum", keepdims=keep)
    else:
        out = b.add(op, [x], "mean", axes=axes, keepdims=keep)
    return _Value(out, False)


def _pad(b: _Builder, n: Node) -> _Value:
    x = b.values[n.inputs[0]]
    pads = b.weight(n.inputs[1]).astype(np.int64)  # (rank, 2): before, after per NHWC axis
    if x.nchw:
        pads = pads[list(_TO_NCHW)]
    flat = np.concatenate([pads[:, 0], pads[:, 1]])
    return _Value(b.add("Pad", [x.name, b.const(flat, "pads")], "pad"), x.nchw)


def _maxpool(b: _Builder, n: Node) -> _Value:
    x = b.values[n.inputs[0]]
    k, s = n.attrs["ksize"], n.attrs["strides"]
    out = b.add("MaxPool", [x.name], "pool", kernel_shape=k[1:3], strides=s[1:3], **_padding(n))
    return _Value(out, True)


def _reshape(b: _Builder, n: Node) -> _Value:
    shape = b.weight(n.inputs[1]).astype(np.int64)
    out = b.add("Reshape", [b.nhwc(n.inputs[0]), b.const(shape, "shape")], "reshape")
    return _Value(out, False)


def _squeeze(b: _Builder, n: Node) -> _Value:
    axes = np.array(n.attrs.get("squeeze_dims", []), np.int64)
    return _Value(b.add("Squeeze", [b.nhwc(n.inputs[0]), b.const(axes, "axes")], "squeeze"), False)


def _simple(b: _Builder, n: Node) -> _Value:
    x = b.values[n.inputs[0]]
    if n.op in _UNARY:
        return _Value(b.add(_UNARY[n.op], [x.name], n.op.lower()), x.nchw)
    if n.op == "Square":
        return _Value(b.add("Mul", [x.name, x.name], "square"), x.nchw)
    if n.op == "Rsqrt":
        return _Value(b.add("Reciprocal", [b.add("Sqrt", [x.name], "sqrt")], "rsqrt"), x.nchw)
    if n.op == "Softmax":
        return _Value(b.add("Softmax", [b.nhwc(n.inputs[0])], "softmax", axis=-1), False)
    raise ModelError(_("%(name)s: op %(op)s is not supported", name=n.name, op=n.op))


_HANDLERS: dict[str, Callable[[_Builder, Node], _Value]] = {
    "Conv2D": lambda b, n: _conv(b, n, False),
    "_FusedConv2D": lambda b, n: _conv(b, n, False),
    "DepthwiseConv2dNative": lambda b, n: _conv(b, n, True),
    "FusedDepthwiseConv2dNative": lambda b, n: _conv(b, n, True),
    "MatMul": _matmul,
    "_FusedMatMul": _matmul,
    "Mean": _reduce,
    "Sum": _reduce,
    "Pad": _pad,
    "MaxPool": _maxpool,
    "Reshape": _reshape,
    "Squeeze": _squeeze,
    **dict.fromkeys(_BINARY, _binary),
}


def build_model(graph: TfGraph, name: str) -> onnx.ModelProto:
    """The ONNX model of ``graph``: input ``input`` (N, H, W, C) float32, one output per declared
    output of the graph, named as TensorFlow names them (``/`` kept)."""
    import onnx  # deferred: only a conversion needs onnx
    from onnx import TensorProto, helper

    b = _Builder(graph)
    placeholders = [n for n in graph.nodes if n.op == "Placeholder"]
    if len(placeholders) != 1:
        raise ModelError(
            _(
                "%(name)s: expected one input, found %(n_placeholders)s",
                name=name,
                n_placeholders=len(placeholders),
            )
        )
    shape = placeholders[0].attrs.get("shape", [-1, -1, -1, 3])
    if len(shape) != 4:
        raise ModelError(_("%(name)s: the input must be an image batch (N, H, W, C)", name=name))
    start = b.add("Transpose", [INPUT_NAME], "nchw", perm=list(_TO_NCHW))
    b.values[placeholders[0].name] = _Value(start, True)
    for n in graph.nodes:
        if n.op in ("Const", "Placeholder"):
            continue
        handler = _HANDLERS.get(n.op, _simple)
        b.values[n.name] = handler(b, n)
    outputs = []
    for out in graph.outputs:
        final = b.nhwc(out)
        b.nodes.append(helper.make_node("Identity", [final], [out]))
        outputs.append(helper.make_tensor_value_info(out, TensorProto.FLOAT, None))
    dims = ["N" if d < 0 else d for d in shape]
    model = helper.make_model(
        helper.make_graph(
            b.nodes,
            name,
            [helper.make_tensor_value_info(INPUT_NAME, TensorProto.FLOAT, dims)],
            outputs,
            b.inits,
        ),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="nextofkin-tfjs-onnx",
    )
    model.ir_version = 8
    _output_shapes(model)
    onnx.checker.check_model(model)
    return model


def _output_shapes(model: onnx.ModelProto) -> None:
    """Give every graph output the shape ONNX's shape inference finds for it."""
    import onnx  # deferred: only a conversion needs onnx

    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    names = [o.name for o in probe.graph.output]
    del probe.graph.output[:]  # outputs are only listed in value_info once they are not outputs
    known = {v.name: v for v in onnx.shape_inference.infer_shapes(probe).graph.value_info}
    for out, name in zip(model.graph.output, names, strict=True):
        if name not in known:
            raise ModelError(_("cannot infer the shape of output %(name)r", name=name))
        out.CopyFrom(known[name])
