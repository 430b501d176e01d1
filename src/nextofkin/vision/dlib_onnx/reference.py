"""A plain NumPy forward pass of a parsed dlib network, used only to verify the ONNX translation.

It follows dlib's layer semantics directly (affine layers unfolded, ``add_prev`` by zero-padding,
``skip`` and tags by name) and shares no code with the graph builder, so an error in either shows
up as a mismatch. It is slow and meant for one small input.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nextofkin.vision.dlib_onnx.layers import (
    AddPrev,
    Affine,
    AvgPool,
    Conv,
    FcNoBias,
    MaxPool,
    ParsedNet,
    Relu,
    Skip,
    Tag,
)


def _windows(x: np.ndarray, size: int, stride: int) -> np.ndarray:
    view: np.ndarray = sliding_window_view(x, (size, size), axis=(1, 2))
    return view[:, ::stride, ::stride]


def _conv(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride: int, pad: int) -> np.ndarray:
    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    win = _windows(xp.astype(np.float64), w.shape[2], stride)
    out: np.ndarray = np.tensordot(w.astype(np.float64), win, axes=([1, 2, 3], [0, 3, 4]))
    out += b[:, None, None]
    return out


def forward(net: ParsedNet, x: np.ndarray) -> np.ndarray:
    """Run ``net`` on one normalised (3, H, W) tensor; float64 output of the last layer."""
    cur = x.astype(np.float64)
    tags: dict[int, np.ndarray] = {}
    for layer in net.layers:
        spec = layer.spec
        if isinstance(spec, Conv):
            cur = _conv(
                cur, layer.weights["weight"], layer.weights["bias"], spec.stride, spec.padding
            )
        elif isinstance(spec, Affine):
            cur = cur * layer.weights["gamma"][:, None, None] + layer.weights["beta"][:, None, None]
        elif isinstance(spec, Relu):
            cur = np.maximum(cur, 0)
        elif isinstance(spec, MaxPool):
            cur = _windows(cur, spec.size, spec.stride).max(axis=(3, 4))
        elif isinstance(spec, AvgPool):
            if spec.size == 0:
                cur = cur.mean(axis=(1, 2), keepdims=True)
            else:
                cur = _windows(cur, spec.size, spec.stride).mean(axis=(3, 4))
        elif isinstance(spec, Tag):
            tags[spec.tag] = cur
        elif isinstance(spec, Skip):
            cur = tags[spec.tag]
        elif isinstance(spec, AddPrev):
            other = tags[spec.tag]
            shape = tuple(max(a, c) for a, c in zip(cur.shape, other.shape, strict=True))
            total = np.zeros(shape)
            total[: cur.shape[0], : cur.shape[1], : cur.shape[2]] += cur
            total[: other.shape[0], : other.shape[1], : other.shape[2]] += other
            cur = total
        elif isinstance(spec, FcNoBias):
            cur = cur.reshape(-1) @ layer.weights["weight"].astype(np.float64)
        else:  # pragma: no cover - the spec types are closed
            raise TypeError(spec)
    return cur


def normalise(net: ParsedNet, rgb: np.ndarray) -> np.ndarray:
    """dlib's input layer: (pixel - mean) / 256, as (3, H, W)."""
    mean = np.array(net.input.mean, dtype=np.float64)
    return ((rgb.astype(np.float64) - mean) / 256.0).transpose(2, 0, 1)


def resnet_forward(net: ParsedNet, chips: np.ndarray) -> np.ndarray:
    """Descriptors (N, 128) for uint8 chips (N, 150, 150, 3)."""
    return np.stack([forward(net, normalise(net, chip)) for chip in chips])


def mmod_forward(net: ParsedNet, x: np.ndarray) -> np.ndarray:
    """Score maps (N, 1, h, w) for normalised inputs (N, 3, H, W)."""
    return np.stack([forward(net, sample) for sample in x])
