"""An independent NumPy interpreter of a TF.js graph model, to verify the ONNX translation.

It follows TensorFlow's own meaning of each op in NHWC, the axis order the model was written in,
and shares nothing with :mod:`.graph` but the parsed file: padding is computed as TensorFlow
computes it, convolutions are sums over explicit windows. Slow and only for verification.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import _
from nextofkin.vision.tfjs_onnx.tfjs import Node, TfGraph

F64 = np.float64


def _same_pads(size: int, k: int, stride: int, dilation: int) -> tuple[int, int]:
    eff = (k - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + eff - size, 0)
    return total // 2, total - total // 2


def _pad_for(x: np.ndarray, n: Node, kh: int, kw: int, value: float = 0.0) -> np.ndarray:
    strides, dil = n.attrs.get("strides", [1, 1, 1, 1]), n.attrs.get("dilations", [1, 1, 1, 1])
    if n.attrs.get("padding", "VALID") != "SAME":
        return x
    top, bottom = _same_pads(x.shape[1], kh, strides[1], dil[1])
    left, right = _same_pads(x.shape[2], kw, strides[2], dil[2])
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)), constant_values=value)


def _windows(
    x: np.ndarray, kh: int, kw: int, stride: tuple[int, int], dil: tuple[int, int]
) -> np.ndarray:
    """(N, OH, OW, kh, kw, C) views of every window."""
    n, h, w, c = x.shape
    oh = (h - (kh - 1) * dil[0] - 1) // stride[0] + 1
    ow = (w - (kw - 1) * dil[1] - 1) // stride[1] + 1
    s = x.strides
    return np.lib.stride_tricks.as_strided(
        x,
        (n, oh, ow, kh, kw, c),
        (s[0], s[1] * stride[0], s[2] * stride[1], s[1] * dil[0], s[2] * dil[1], s[3]),
        writeable=False,
    )


def _conv(x: np.ndarray, n: Node, w: np.ndarray, depthwise: bool) -> np.ndarray:
    kh, kw = w.shape[:2]
    st, dl = n.attrs.get("strides", [1, 1, 1, 1]), n.attrs.get("dilations", [1, 1, 1, 1])
    win = _windows(_pad_for(x, n, kh, kw), kh, kw, (st[1], st[2]), (dl[1], dl[2]))
    if depthwise:  # w: (kh, kw, C, M)
        out = np.asarray(np.einsum("nyxijc,ijcm->nyxcm", win, w))
        return out.reshape(out.shape[0], out.shape[1], out.shape[2], -1)
    return np.asarray(np.einsum("nyxijc,ijco->nyxo", win, w))


def _fused(y: np.ndarray, n: Node, args: list[np.ndarray]) -> np.ndarray:
    for op in n.attrs.get("fused_ops", []):
        if op == "BiasAdd":
            y = y + args[0]
        elif op == "Relu":
            y = np.maximum(y, 0)
        elif op == "Relu6":
            y = np.clip(y, 0, 6)
        else:
            raise ModelError(_("%(name)s: fused op %(op)s is not supported", name=n.name, op=op))
    return y


def _maxpool(x: np.ndarray, n: Node) -> np.ndarray:
    k, s = n.attrs["ksize"], n.attrs["strides"]
    padded = _pad_for(x, n, k[1], k[2], value=-np.inf)
    return np.asarray(_windows(padded, k[1], k[2], (s[1], s[2]), (1, 1)).max(axis=(3, 4)))


_ELEMENTWISE: dict[str, Callable[[np.ndarray, np.ndarray], np.ndarray]] = {
    "Add": np.add,
    "AddV2": np.add,
    "Sub": np.subtract,
    "Mul": np.multiply,
    "RealDiv": np.divide,
    "Minimum": np.minimum,
    "Maximum": np.maximum,
}


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return np.asarray(e / e.sum(axis=-1, keepdims=True))


def _eval(n: Node, a: list[np.ndarray]) -> np.ndarray:
    op = n.op
    if op in ("Conv2D", "_FusedConv2D"):
        return _fused(_conv(a[0], n, a[1], False), n, a[2:])
    if op in ("DepthwiseConv2dNative", "FusedDepthwiseConv2dNative"):
        return _fused(_conv(a[0], n, a[1], True), n, a[2:])
    if op in ("MatMul", "_FusedMatMul"):
        w = a[1].T if n.attrs.get("transpose_b") else a[1]
        return _fused(a[0] @ w, n, a[2:])
    if op in _ELEMENTWISE:
        return _ELEMENTWISE[op](a[0], a[1])
    if op in ("Mean", "Sum"):
        axes = tuple(int(i) for i in np.atleast_1d(a[1]))
        keep = bool(n.attrs.get("keep_dims", False))
        reduced = a[0].mean(axes, keepdims=keep) if op == "Mean" else a[0].sum(axes, keepdims=keep)
        return np.asarray(reduced)
    if op == "Pad":
        return np.pad(a[0], [tuple(int(v) for v in row) for row in a[1]])
    if op == "MaxPool":
        return _maxpool(a[0], n)
    if op == "Reshape":
        return a[0].reshape([int(v) for v in a[1]])
    if op == "Squeeze":
        return np.squeeze(a[0], axis=tuple(n.attrs.get("squeeze_dims", [])))
    unary: dict[str, Callable[[np.ndarray], np.ndarray]] = {
        "Relu": lambda v: np.maximum(v, 0),
        "Sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
        "Abs": np.abs,
        "Identity": lambda v: v,
        "Square": np.square,
        "Rsqrt": lambda v: 1.0 / np.sqrt(v),
        "Softmax": _softmax,
    }
    if op in unary:
        return unary[op](a[0])
    raise ModelError(_("%(name)s: op %(op)s is not supported by the reference", name=n.name, op=op))


def run(graph: TfGraph, images: np.ndarray) -> dict[str, np.ndarray]:
    """Every declared output of ``graph`` for the NHWC batch ``images`` (float64 inside)."""
    values: dict[str, np.ndarray] = {}
    for n in graph.nodes:
        if n.op == "Const":
            w = graph.weights[n.name]
            values[n.name] = w.astype(F64) if w.dtype.kind == "f" else w
        elif n.op == "Placeholder":
            values[n.name] = np.ascontiguousarray(images, dtype=F64)
        else:
            values[n.name] = np.ascontiguousarray(_eval(n, [values[i] for i in n.inputs]))
    return {name: values[name] for name in graph.outputs}
