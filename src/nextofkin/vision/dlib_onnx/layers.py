"""The layers of dlib's networks as nextofkin reads them, and what the reader returns.

A network's *spec* lists one of these per dlib layer object, outermost (the loss) first, as the
network's C++ type declares it (``specs.py``); the reader (``dat.py``) checks the file against it
and returns a :class:`ParsedNet`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

# ---------------------------------------------------------------------------------------------
# The spec: one entry per dlib layer object, outermost (loss) first.


@dataclass(frozen=True)
class Conv:
    """``con<num_filters, nr, nc, stride_y, stride_x>`` (dlib pads nr/2 when the stride is 1)."""

    filters: int
    size: int
    stride: int

    @property
    def padding(self) -> int:
        return self.size // 2 if self.stride == 1 else 0


@dataclass(frozen=True)
class Affine:
    """``affine`` (or ``bn_con``, which dlib turns into an affine layer for inference)."""


@dataclass(frozen=True)
class Relu:
    """``relu``."""


@dataclass(frozen=True)
class MaxPool:
    """``max_pool<size, size, stride, stride>``."""

    size: int
    stride: int


@dataclass(frozen=True)
class AvgPool:
    """``avg_pool<size, size, stride, stride>``; size 0 is ``avg_pool_everything``."""

    size: int
    stride: int


@dataclass(frozen=True)
class FcNoBias:
    """``fc_no_bias<outputs>``."""

    outputs: int


@dataclass(frozen=True)
class AddPrev:
    """``add_prev<tagN>``: the output plus tag N's output, zero-padded to the larger shape."""

    tag: int


@dataclass(frozen=True)
class Tag:
    """``tagN``: names the output below it."""

    tag: int


@dataclass(frozen=True)
class Skip:
    """``skipN``: continues from tag N's output instead of the layer below."""

    tag: int


@dataclass(frozen=True)
class InputSized:
    """``input_rgb_image_sized<size>``."""

    size: int


@dataclass(frozen=True)
class InputPyramid:
    """``input_rgb_image_pyramid<pyramid_down<N>>``."""


@dataclass(frozen=True)
class LossMetric:
    """``loss_metric``."""


@dataclass(frozen=True)
class LossMmod:
    """``loss_mmod``."""


Layer = (
    Conv
    | Affine
    | Relu
    | MaxPool
    | AvgPool
    | FcNoBias
    | AddPrev
    | Tag
    | Skip
    | InputSized
    | InputPyramid
    | LossMetric
    | LossMmod
)


@dataclass
class ParsedLayer:
    """One layer as read from the file, with its weights (NCHW float32)."""

    spec: Layer
    weights: dict[str, np.ndarray] = field(default_factory=dict)
    # Facts about how the layer was read or changed: ``from_bn``/``eps`` (an affine layer made
    # from batch normalisation), ``folded`` (a convolution with an affine layer folded in).
    values: dict[str, bool | float] = field(default_factory=dict)


@dataclass(frozen=True)
class NetInput:
    """The input layer as saved: the mean it subtracts, and the fixed size
    (``input_rgb_image_sized``) or the pyramid's paddings (``input_rgb_image_pyramid``)."""

    mean: tuple[float, float, float]
    size: tuple[int, int] | None = None
    padding: int | None = None
    outer_padding: int | None = None


@dataclass(frozen=True)
class MetricLoss:
    """``loss_metric_``: its margin and (``loss_metric_2``) distance threshold."""

    margin: float
    distance_threshold: float | None = None


@dataclass(frozen=True)
class MmodLoss:
    """``loss_mmod_``'s options: the detection windows, the training losses and thresholds, and
    the non-maximum suppression the detector applies (``nms_iou``, ``nms_covered``)."""

    windows: list[tuple[int, int]]
    loss_per_false_alarm: float
    loss_per_missed_target: float
    truth_match_iou_threshold: float
    nms_iou: float
    nms_covered: float
    ignore_iou: float
    ignore_covered: float
    assume_image_pyramid: int | None = None  # saved from version 3
    bbr: bool | None = None  # saved from version 4


@dataclass
class ParsedNet:
    """A network read from a .dat file: loss values and layers from the input up."""

    loss: MetricLoss | MmodLoss
    input: NetInput
    layers: list[ParsedLayer]  # innermost (next to the input) first
