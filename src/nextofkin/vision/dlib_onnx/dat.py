"""A reader for dlib's serialisation format, enough for the two networks we convert.

dlib writes a network as nested C++ objects, each with its own ``serialize`` function (``dlib/
serialize.h``, ``dlib/dnn/core.h``, ``layers.h``, ``input.h``, ``loss.h``). The stream carries no
type information beyond version strings, so it is read against a *spec*: the network's template
written out as a list of layers from the loss down to the input, exactly as dlib's C++ type
declares it. Every version number, layer name and shape read from the file is checked against the
spec, and the whole file must be consumed, so a file from another network fails loudly instead of
being misread.

Primitive encodings (``dlib/serialize.h``):

* integers: one byte holding the byte count (low nibble) and the sign (bit 7), then that many
  little-endian bytes of the magnitude;
* ``bool``: one ASCII character, ``'0'`` or ``'1'``;
* ``float``/``double``: two integers, a mantissa and a binary exponent (``m * 2**e``);
* ``std::string``: its length as an integer, then the bytes;
* ``resizable_tensor``: version 2, four dimension integers (n, k, nr, nc), then n*k*nr*nc raw
  little-endian IEEE float32 values;
* ``alias_tensor``: version 1 and its four dimensions (no data).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from nextofkin.errors import ModelError
from nextofkin.i18n import gettext
from nextofkin.vision.dlib_onnx.layers import (
    AddPrev,
    Affine,
    AvgPool,
    Conv,
    FcNoBias,
    InputPyramid,
    InputSized,
    Layer,
    LossMetric,
    LossMmod,
    MaxPool,
    MetricLoss,
    MmodLoss,
    NetInput,
    ParsedLayer,
    ParsedNet,
    Relu,
    Skip,
    Tag,
)

# dlib's float_details uses these exponents for the special values.
_INF_EXP = 32000
_NINF_EXP = 32001
_NAN_EXP = 32002


class DatFormatError(ModelError):
    """The .dat file does not hold the network its spec describes."""


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def _take(self, n: int) -> bytes:
        if self.pos + n > len(self.data):
            raise DatFormatError(gettext("unexpected end of file at byte %(pos)s", pos=self.pos))
        out = self.data[self.pos : self.pos + n]
        self.pos += n
        return out

    def integer(self) -> int:
        head = self._take(1)[0]
        size = head & 0x0F
        if size > 8:
            raise DatFormatError(
                gettext(
                    "bad integer header %(head)s at byte %(at)s", head=hex(head), at=self.pos - 1
                )
            )
        value = int.from_bytes(self._take(size), "little") if size else 0
        return -value if head & 0x80 else value

    def boolean(self) -> bool:
        ch = self._take(1)
        if ch not in (b"0", b"1"):
            raise DatFormatError(
                gettext("bad bool %(ch)r at byte %(value)s", ch=ch, value=self.pos - 1)
            )
        return ch == b"1"

    def real(self) -> float:
        mantissa = self.integer()
        exponent = self.integer()
        if exponent == _INF_EXP:
            return float("inf")
        if exponent == _NINF_EXP:
            return float("-inf")
        if exponent == _NAN_EXP:
            return float("nan")
        return float(mantissa) * 2.0**exponent

    def string(self) -> str:
        n = self.integer()
        return self._take(n).decode("latin-1")

    def expect_string(self, *allowed: str) -> str:
        at = self.pos
        s = self.string()
        if s not in allowed:
            raise DatFormatError(
                gettext(
                    "expected %(allowed)s at byte %(at)s, found %(s)r",
                    allowed=" or ".join(allowed),
                    at=at,
                    s=s,
                )
            )
        return s

    def expect_int(self, *allowed: int, what: str = "version") -> int:
        at = self.pos
        v = self.integer()
        if v not in allowed:
            raise DatFormatError(
                gettext(
                    "expected %(what)s in %(allowed)s at byte %(at)s, found %(v)s",
                    what=what,
                    allowed=allowed,
                    at=at,
                    v=v,
                )
            )
        return v

    def tensor(self) -> np.ndarray:
        self.expect_int(2, what="tensor version")
        n, k, nr, nc = (self.integer() for _ in range(4))
        count = n * k * nr * nc
        raw = self._take(4 * count)
        return np.frombuffer(raw, dtype="<f4").astype(np.float32).reshape(n, k, nr, nc)

    def alias(self) -> tuple[int, int, int, int]:
        self.expect_int(1, what="alias_tensor version")
        n, k, nr, nc = (self.integer() for _ in range(4))
        return (n, k, nr, nc)


def _read_con(r: _Reader, spec: Conv) -> ParsedLayer:
    r.expect_string("con_4")
    params = r.tensor().reshape(-1)
    filters, nr, nc = r.integer(), r.integer(), r.integer()
    stride_y, stride_x, pad_y, pad_x = r.integer(), r.integer(), r.integer(), r.integer()
    shape_f = r.alias()
    shape_b = r.alias()
    for _ in range(4):
        r.real()  # learning-rate and weight-decay multipliers
    if (filters, nr, nc, stride_y, stride_x) != (
        spec.filters,
        spec.size,
        spec.size,
        spec.stride,
        spec.stride,
    ):
        raise DatFormatError(
            gettext(
                "conv %(filters)sx%(nr)sx%(nc)s/%(stride_y)s where %(spec)s was expected",
                filters=filters,
                nr=nr,
                nc=nc,
                stride_y=stride_y,
                spec=spec,
            )
        )
    if (pad_y, pad_x) != (spec.padding, spec.padding):
        raise DatFormatError(
            gettext(
                "conv padding %(pad_y)s,%(pad_x)s where %(padding)s was expected",
                pad_y=pad_y,
                pad_x=pad_x,
                padding=spec.padding,
            )
        )
    count_w = int(np.prod(shape_f))
    weight = params[:count_w].reshape(shape_f)
    bias = params[count_w : count_w + int(np.prod(shape_b))].reshape(-1)
    if bias.shape[0] != filters:
        raise DatFormatError(gettext("conv bias size does not match its filters"))
    return ParsedLayer(spec, {"weight": weight.copy(), "bias": bias.copy()})


def _read_affine(r: _Reader, spec: Affine) -> ParsedLayer:
    kind = r.expect_string("affine_", "bn_con2")
    if kind == "affine_":
        params = r.tensor().reshape(-1)
        shape_g = r.alias()
        r.alias()
        mode = r.integer()
        if mode != 0:
            raise DatFormatError(gettext("affine layer is not in convolutional mode"))
        n = int(np.prod(shape_g))
        gamma, beta = params[:n], params[n : 2 * n]
        return ParsedLayer(spec, {"gamma": gamma.copy(), "beta": beta.copy()})
    # bn_con2: dlib's affine_(const bn_&) folds the running statistics in:
    # g = gamma / sqrt(running_var + eps), b = beta - g * running_mean (float32 arithmetic).
    params = r.tensor().reshape(-1)
    shape_g = r.alias()
    r.alias()
    r.tensor()  # means (training batch)
    r.tensor()  # invstds (training batch)
    running_means = r.tensor().reshape(-1)
    running_vars = r.tensor().reshape(-1)
    r.integer()  # num_updates
    r.integer()  # running_stats_window_size
    for _ in range(4):
        r.real()
    eps = r.real()
    n = int(np.prod(shape_g))
    gamma, beta = params[:n], params[n : 2 * n]
    g = (gamma * (np.float32(1.0) / np.sqrt(running_vars + np.float32(eps)))).astype(np.float32)
    b = (beta - g * running_means).astype(np.float32)
    return ParsedLayer(spec, {"gamma": g, "beta": b}, {"from_bn": True, "eps": eps})


def _read_pool(r: _Reader, spec: MaxPool | AvgPool) -> ParsedLayer:
    r.expect_string("max_pool_2" if isinstance(spec, MaxPool) else "avg_pool_2")
    nr, nc, sy, sx, py, px = (r.integer() for _ in range(6))
    want_pad = spec.size // 2 if spec.stride == 1 and spec.size else 0
    if (nr, nc, sy, sx, py, px) != (
        spec.size,
        spec.size,
        spec.stride,
        spec.stride,
        want_pad,
        want_pad,
    ):
        raise DatFormatError(
            gettext(
                "pooling %(nr)sx%(nc)s/%(sy)s pad %(py)s where %(spec)s was expected",
                nr=nr,
                nc=nc,
                sy=sy,
                py=py,
                spec=spec,
            )
        )
    return ParsedLayer(spec)


def _read_fc(r: _Reader, spec: FcNoBias) -> ParsedLayer:
    r.expect_string("fc_2")
    outputs, inputs = r.integer(), r.integer()
    params = r.tensor().reshape(-1)
    r.alias()
    r.alias()
    bias_mode = r.integer()
    for _ in range(4):
        r.real()
    if outputs != spec.outputs or bias_mode != 1:
        raise DatFormatError(
            gettext(
                "fc with %(outputs)s outputs, bias mode %(bias_mode)s; wanted %(spec)s",
                outputs=outputs,
                bias_mode=bias_mode,
                spec=spec,
            )
        )
    weight = params[: inputs * outputs].reshape(inputs, outputs)
    return ParsedLayer(spec, {"weight": weight.copy()})


def _read_details(r: _Reader, spec: Layer) -> ParsedLayer:
    if isinstance(spec, Conv):
        return _read_con(r, spec)
    if isinstance(spec, Affine):
        return _read_affine(r, spec)
    if isinstance(spec, Relu):
        r.expect_string("relu_")
        return ParsedLayer(spec)
    if isinstance(spec, MaxPool | AvgPool):
        return _read_pool(r, spec)
    if isinstance(spec, FcNoBias):
        return _read_fc(r, spec)
    if isinstance(spec, AddPrev):
        r.expect_string("add_prev_")
        return ParsedLayer(spec)
    raise DatFormatError(gettext("no reader for %(spec)s", spec=spec))


def _read_input(r: _Reader, spec: Layer) -> NetInput:
    if isinstance(spec, InputSized):
        r.expect_string("input_rgb_image_sized")
        mean = (r.real(), r.real(), r.real())
        nr, nc = r.integer(), r.integer()
        if (nr, nc) != (spec.size, spec.size):
            raise DatFormatError(
                gettext("input size %(nr)sx%(nc)s, wanted %(size)s", nr=nr, nc=nc, size=spec.size)
            )
        return NetInput(mean, size=(nr, nc))
    if isinstance(spec, InputPyramid):
        kind = r.expect_string("input_rgb_image_pyramid", "input_rgb_image_pyramid2")
        mean = (r.real(), r.real(), r.real())
        padding, outer = 10, 11  # dlib's defaults for files written before the padding was saved
        if kind == "input_rgb_image_pyramid2":
            padding, outer = r.integer(), r.integer()
        return NetInput(mean, padding=padding, outer_padding=outer)
    raise DatFormatError(gettext("no reader for input %(spec)s", spec=spec))


def _read_loss(r: _Reader, spec: Layer) -> MetricLoss | MmodLoss:
    if isinstance(spec, LossMetric):
        kind = r.expect_string("loss_metric_", "loss_metric_2")
        margin = r.real()
        return MetricLoss(margin, r.real() if kind == "loss_metric_2" else None)
    if isinstance(spec, LossMmod):
        r.expect_string("loss_mmod_")
        version = r.expect_int(1, 2, 3, 4, what="mmod_options version")
        windows: list[tuple[int, int]] = []
        if version == 1:
            windows.append((r.integer(), r.integer()))
        else:
            for _ in range(r.integer()):
                width, height = r.integer(), r.integer()
                r.string()  # label
                windows.append((width, height))
        # Keyword arguments are evaluated in order: the file's order.
        out = MmodLoss(
            windows=windows,
            loss_per_false_alarm=r.real(),
            loss_per_missed_target=r.real(),
            truth_match_iou_threshold=r.real(),
            nms_iou=r.real(),
            nms_covered=r.real(),
            ignore_iou=r.real(),
            ignore_covered=r.real(),
        )
        if version >= 3:
            out = replace(out, assume_image_pyramid=r.integer())
        if version >= 4:
            out = replace(out, bbr=r.boolean())
            r.real()
            if out.bbr:
                raise DatFormatError(gettext("bounding-box regression is not supported"))
        return out
    raise DatFormatError(gettext("no reader for loss %(spec)s", spec=spec))


def parse(data: bytes, spec: list[Layer]) -> ParsedNet:
    """Read ``data`` (a whole .dat file) as the network ``spec`` describes (loss first)."""
    r = _Reader(data)
    r.expect_int(1, what="add_loss_layer version")
    loss = _read_loss(r, spec[0])
    layers: list[ParsedLayer] = []
    input_info: NetInput | None = None

    # The recursion is unrolled: every wrapper writes its version, then its subnetwork, then (for
    # an add_layer) its own details and state. So the versions come outermost-first and the
    # details innermost-first.
    body = spec[1:]
    pending: list[tuple[Layer, int]] = []
    for i, layer in enumerate(body):
        if isinstance(layer, InputSized | InputPyramid):
            if i != len(body) - 1:
                raise DatFormatError(gettext("the input layer must come last in the spec"))
            input_info = _read_input(r, layer)
            break
        if isinstance(layer, Tag | Skip):
            r.expect_int(1, what=f"{type(layer).__name__.lower()} version")
            pending.append((layer, 0))
            continue
        next_is_input = isinstance(body[i + 1], InputSized | InputPyramid)
        version = (
            r.expect_int(2, 3, what="add_layer version")
            if next_is_input
            else r.expect_int(1, 2, what="add_layer version")
        )
        pending.append((layer, version))
    else:
        raise DatFormatError(gettext("the spec has no input layer"))

    for layer, version in reversed(pending):
        if isinstance(layer, Tag | Skip):
            layers.append(ParsedLayer(layer))
            continue
        parsed = _read_details(r, layer)
        r.boolean()  # this_layer_setup_called
        r.boolean()  # gradient_input_is_stale
        r.boolean()  # get_output_and_gradient_input_disabled
        r.tensor()  # x_grad
        r.tensor()  # cached_output
        if version in (2, 3):
            r.tensor()  # params_grad, or grad_final next to the input
        if version == 3:
            r.integer()  # _sample_expansion_factor
        layers.append(parsed)

    if r.pos != len(data):
        raise DatFormatError(
            gettext("%(value)s bytes left over after the network", value=len(data) - r.pos)
        )
    if input_info is None:  # pragma: no cover - the spec's loop above ends on the input or raises
        raise DatFormatError(gettext("the spec has no input layer"))
    return ParsedNet(loss=loss, input=input_info, layers=layers)
