"""The parts of dlib's MMOD face detector around the network, reproduced in NumPy.

dlib's ``cnn_face_detection_model_v1`` (``tools/python/src/cnn_face_detector.cpp``) does:

1. ``upsample`` times ``pyramid_up`` with ``pyramid_down<2>``: a bilinear resize to the size of
   ``rect_up(get_rect(img))`` (``dlib/image_transforms/image_pyramid.h``);
2. ``input_rgb_image_pyramid<pyramid_down<6>>::to_tensor`` (``dlib/dnn/input.h``): the image,
   normalised as ``(pixel - mean) / 256``, is tiled with all its 5/6-scaled pyramid levels into
   one zero-filled tensor (``compute_tiled_image_pyramid_details``, padding 10, outer padding 11),
   each level resized bilinearly from the one before it (``tt::resize_bilinear``);
3. the network gives one score per output cell; ``loss_mmod_::to_label`` (``dlib/dnn/loss.h``)
   keeps the cells scoring above 0, maps each through the layers to the tensor point ``8c + 14``,
   centres the 80x80 detector window there, maps that box back to the image
   (``tiled_pyramid_to_image``: nearest pyramid level, then ``point_up`` ``p*6/5 + 0.3`` per level),
   sorts by score and does greedy non-maximum suppression with ``test_box_overlap`` (dlib's IoU
   divides by the area of the *bounding box* of the two rectangles);
4. each box goes back through ``rect_down`` of ``pyramid_down<2>`` for the upsampling.

The network itself runs on ONNX Runtime (``runtime.py``); this module does everything else.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np

PYRAMID_N = 6
MIN_LEVEL_HEIGHT = 5
# The detector network: three stride-2 5x5 convolutions without padding, then padded layers.
OUTPUT_STRIDE = 8
OUTPUT_OFFSET = 14
# How many output cells a padded layer stack looks at on each side (2+2+2+4 for 5,5,5,9 kernels).
CONTEXT_CELLS = 10
RECEPTIVE_EXTRA = (
    21  # cells [c0, c1) read input pixels [8*c0, 8*c1 + 21): the last one 8*(c1-1) + 29
)


@dataclass(frozen=True)
class Rect:
    """dlib's integer rectangle: inclusive corners."""

    left: int
    top: int
    right: int
    bottom: int

    @property
    def width(self) -> int:
        return self.right - self.left + 1

    @property
    def height(self) -> int:
        return self.bottom - self.top + 1


def _round(v: float) -> int:
    """dlib's drectangle -> rectangle conversion: floor(v + 0.5)."""
    return math.floor(v + 0.5)


def pyramid_levels(nr: int, nc: int, padding: int, outer: int) -> tuple[list[Rect], int, int]:
    """``compute_tiled_image_pyramid_details`` for ``pyramid_down<6>``: level rects and size."""
    if nr * nc == 0:
        return [], 0, 0
    sizes = [(nr, nc)]
    rate = (PYRAMID_N - 1.0) / PYRAMID_N
    while True:
        nr = math.floor(rate * nr)
        nc = math.floor(rate * nc)
        if nr * nc == 0 or nr < MIN_LEVEL_HEIGHT:
            break
        sizes.append((nr, nc))

    total_height = sum(h + padding for h, _ in sizes) - padding * 2
    height = 0
    prev_width = 0
    first_h, first_w = sizes[0]
    for h, w in sizes:
        if w <= first_w - prev_width - padding and (height - first_h) * 2 >= total_height - first_h:
            break
        height += h + padding
        prev_width = w
    height -= padding
    width = first_w
    out_nr = height + outer * 2
    out_nc = width + outer * 2

    rects: list[Rect] = []
    y = outer
    i = 0
    while y < height + outer and i < len(sizes):
        h, w = sizes[i]
        rects.append(Rect(outer, y, outer + w - 1, y + h - 1))
        y += h + padding
        i += 1
    y -= padding
    while i < len(sizes):
        h, w = sizes[i]
        p1x, p1y = outer + width - 1, y - 1
        rect = Rect(p1x - (w - 1), p1y - (h - 1), p1x, p1y)
        first = rects[0]
        overlaps = not (
            rect.right < first.left
            or rect.left > first.right
            or rect.bottom < first.top
            or rect.top > first.bottom
        )
        if overlaps:
            break
        rects.append(rect)
        y -= h + padding
        i += 1
    return rects, out_nr, out_nc


def _bilinear_axes(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dlib's resize_image sampling: ``x = c * (n_in-1)/(n_out-1)``, clamped right neighbour."""
    scale = (n_in - 1) / max(n_out - 1, 1)
    pos = np.arange(n_out, dtype=np.float64) * scale
    lo = np.floor(pos).astype(np.intp)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, pos - lo


def resize_bilinear(src: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """Resize (..., H, W) float32 planes the way dlib's ``tt::resize_bilinear`` does.

    The same align-corners sampling, done separably (rows, then columns): equal to dlib's
    four-tap sum up to float32 rounding (about 1e-7), and twice as fast as gathering four taps.
    """
    t, b, fy = _bilinear_axes(src.shape[-2], rows)
    left, right, fx = _bilinear_axes(src.shape[-1], cols)
    wy = fy.astype(np.float32)[:, None]
    wx = fx.astype(np.float32)
    tmp = np.take(src, t, axis=-2)
    tmp *= 1 - wy
    tmp += np.take(src, b, axis=-2) * wy
    out = np.take(tmp, left, axis=-1)
    out *= 1 - wx
    out += np.take(tmp, right, axis=-1) * wx
    return out


def pyramid_up(image: np.ndarray) -> np.ndarray:
    """``pyramid_up(img, pyramid_down<2>)`` on an RGB uint8 image: (2H+1, 2W+2) pixels.

    The size is ``rect_up(get_rect(img))`` with ``point_up(p) = (p + (1.25, 0.75)) * 2`` rounded.
    The pixels follow dlib's SSE ``resize_image`` for RGB images bit for bit: columns are taken
    four at a time with float32 positions accumulated in float32, truncated to indices and to
    the output value; the last few columns take the scalar double-precision path.
    """
    nr, nc = image.shape[:2]
    cols = _round((nc - 1 + 1.25) * 2) + 1
    rows = _round((nr - 1 + 0.75) * 2) + 1
    x_scale = (nc - 1) / max(cols - 1, 1)
    y_scale = (nr - 1) / max(rows - 1, 1)

    # Row positions: y accumulates in double.
    ys = np.cumsum(np.concatenate([[-y_scale], np.full(rows, y_scale)]))[1:]
    top = np.floor(ys).astype(np.intp)
    rows_at = _Rows(top, np.minimum(top + 1, nr - 1), ys - top)

    pos, left = _simd_columns(nc, cols, x_scale)
    simd_cols = pos.shape[0]
    out = np.empty((rows, cols, 3), dtype=np.uint8)
    if simd_cols:
        out[:, :simd_cols] = _simd_pixels(image, rows_at, pos, left)
    if simd_cols < cols:
        # The scalar tail, in double precision.
        start = -x_scale + simd_cols * x_scale
        xs = np.cumsum(np.concatenate([[start], np.full(cols - simd_cols, x_scale)]))[1:]
        out[:, simd_cols:] = _scalar_pixels(image, rows_at, xs)
    return out


@dataclass(frozen=True)
class _Rows:
    """For each output row: the source rows above and below it and the weight of the lower."""

    top: np.ndarray
    bottom: np.ndarray
    weight: np.ndarray  # float64


def _simd_columns(nc: int, cols: int, x_scale: float) -> tuple[np.ndarray, np.ndarray]:
    """Positions and left indices of the columns dlib's SSE loop makes.

    Four lanes start at x, x+s, x+2s, x+3s (x = -4s), each step adding 4s in float32, until a
    lane's right neighbour would fall outside the image.
    """
    f32 = np.float32
    x0 = -4 * x_scale
    lanes = np.array([x0, x0 + x_scale, x0 + 2 * x_scale, x0 + 3 * x_scale], dtype=f32)
    steps = max(0, (cols + 3) // 4 + 1)
    seq = np.empty((steps + 1, 4), dtype=f32)
    seq[0] = lanes
    seq[1:] = f32(4 * x_scale)
    pos = np.cumsum(seq, axis=0, dtype=f32)[1:]
    left = np.trunc(pos).astype(np.intp)
    ok = (left[:, 3] + 1 < nc) & (np.arange(steps) * 4 + 4 <= cols)
    n_simd = int(np.argmin(ok)) if not ok.all() else steps
    return pos[:n_simd].reshape(-1), left[:n_simd].reshape(-1)


def _simd_pixels(image: np.ndarray, rows: _Rows, pos: np.ndarray, left: np.ndarray) -> np.ndarray:
    """The SSE columns' pixels (rows, len(pos), 3), weights and sums in float32, truncated."""
    f32 = np.float32
    # Channel-first planes keep the gathers and the per-pixel weights contiguous.
    planes = np.ascontiguousarray(image.transpose(2, 0, 1), dtype=f32)
    tbv = rows.weight.astype(f32)[:, None]
    itbv = (1.0 - rows.weight).astype(f32)[:, None]
    fr = (pos - left.astype(f32)).astype(f32)
    ifr = f32(1) - fr
    top_rows = np.take(planes, rows.top, axis=1)
    bottom_rows = np.take(planes, rows.bottom, axis=1)
    val = np.take(top_rows, left, axis=2)
    val *= itbv * ifr
    val += np.take(top_rows, left + 1, axis=2) * (itbv * fr)
    val += np.take(bottom_rows, left, axis=2) * (tbv * ifr)
    val += np.take(bottom_rows, left + 1, axis=2) * (tbv * fr)
    return np.trunc(val).astype(np.uint8).transpose(1, 2, 0)


def _scalar_pixels(image: np.ndarray, rows: _Rows, xs: np.ndarray) -> np.ndarray:
    """The scalar path's pixels (rows, len(xs), 3) at column positions ``xs``, in float64."""
    nc = image.shape[1]
    lft = np.floor(xs).astype(np.intp)
    rgt = np.minimum(lft + 1, nc - 1)
    lr = (xs - lft)[None, :, None]
    tb64 = rows.weight[:, None, None]
    dimg = image.astype(np.float64)
    top, bottom = rows.top, rows.bottom
    val64 = (1 - tb64) * ((1 - lr) * dimg[top][:, lft] + lr * dimg[top][:, rgt]) + tb64 * (
        (1 - lr) * dimg[bottom][:, lft] + lr * dimg[bottom][:, rgt]
    )
    pixels: np.ndarray = np.clip(np.trunc(val64), 0, 255).astype(np.uint8)
    return pixels


def build_pyramid(
    images: np.ndarray, mean: tuple[float, float, float], padding: int, outer: int
) -> tuple[np.ndarray, list[Rect]]:
    """The tiled pyramid tensor (N, 3, NR, NC) float32 for same-sized RGB images (N, H, W, 3)."""
    n, nr, nc = images.shape[:3]
    rects, out_nr, out_nc = pyramid_levels(nr, nc, padding, outer)
    data = np.zeros((n, 3, out_nr, out_nc), dtype=np.float32)
    if not rects:
        return data, rects
    m = np.array(mean, dtype=np.float32)[None, :, None, None]
    first = rects[0]
    data[:, :, first.top : first.bottom + 1, first.left : first.right + 1] = (
        images.transpose(0, 3, 1, 2).astype(np.float32) - m
    ) / np.float32(256.0)
    for prev, cur in itertools.pairwise(rects):
        src = data[:, :, prev.top : prev.bottom + 1, prev.left : prev.right + 1]
        data[:, :, cur.top : cur.bottom + 1, cur.left : cur.right + 1] = resize_bilinear(
            src, cur.height, cur.width
        )
    return data, rects


def _nearest_rect(rects: list[Rect], x: int, y: int) -> int:
    best, best_dist = 0, math.inf
    for i, r in enumerate(rects):
        if r.left <= x <= r.right and r.top <= y <= r.bottom:
            return i
        nx = min(max(x, r.left), r.right)
        ny = min(max(y, r.top), r.bottom)
        dist = math.hypot(nx - x, ny - y)
        if dist < best_dist:
            best, best_dist = i, dist
    return best


def _point_up(x: float, y: float, levels: int) -> tuple[float, float]:
    ratio = PYRAMID_N / (PYRAMID_N - 1.0)
    for _ in range(levels):
        x = x * ratio + 0.3
        y = y * ratio + 0.3
    return x, y


def _area(r: Rect) -> int:
    return max(r.width, 0) * max(r.height, 0) if r.right >= r.left and r.bottom >= r.top else 0


def _overlaps(a: Rect, b: Rect, iou: float, covered: float) -> bool:
    """dlib's ``test_box_overlap``: IoU against the bounding box of both, or coverage."""
    inter = Rect(
        max(a.left, b.left), max(a.top, b.top), min(a.right, b.right), min(a.bottom, b.bottom)
    )
    inner = _area(inter)
    if inner == 0:
        return False
    outer = _area(
        Rect(min(a.left, b.left), min(a.top, b.top), max(a.right, b.right), max(a.bottom, b.bottom))
    )
    return inner / outer > iou or inner / _area(a) > covered or inner / _area(b) > covered


def detections(
    scores: np.ndarray,
    rects: list[Rect],
    window: tuple[int, int],
    nms_iou: float,
    nms_covered: float,
    threshold: float = 0.0,
) -> list[tuple[Rect, float]]:
    """``loss_mmod_::to_label`` for one (h, w) score map: boxes in pyramid-input coordinates."""
    ys, xs = np.nonzero(scores > threshold)
    found = []
    win_w, win_h = window
    for r, c in zip(ys.tolist(), xs.tolist(), strict=True):
        px, py = c * OUTPUT_STRIDE + OUTPUT_OFFSET, r * OUTPUT_STRIDE + OUTPUT_OFFSET
        # centered_drect(p, w, h) spans (w-1)/2 either side of p.
        hw, hh = (win_w - 1) / 2.0, (win_h - 1) / 2.0
        level = _nearest_rect(rects, px, py)
        origin = rects[level]
        x0, y0 = _point_up(px - hw - origin.left, py - hh - origin.top, level)
        x1, y1 = _point_up(px + hw - origin.left, py + hh - origin.top, level)
        found.append((float(scores[r, c]), Rect(_round(x0), _round(y0), _round(x1), _round(y1))))
    found.sort(key=lambda item: item[0], reverse=True)
    kept: list[tuple[Rect, float]] = []
    for score, rect in found:
        if any(_overlaps(k, rect, nms_iou, nms_covered) for k, _ in kept):
            continue
        kept.append((rect, score))
    return kept


def rect_down_2(rect: Rect, levels: int) -> Rect:
    """``pyramid_down<2>::rect_down(rect, levels)`` rounded back to integers."""
    if levels == 0:
        return rect
    corners = []
    for x, y in ((rect.left, rect.top), (rect.right, rect.bottom)):
        fx, fy = float(x), float(y)
        for _ in range(levels):
            fx, fy = fx / 2.0 - 1.25, fy / 2.0 - 0.75
        corners.append((fx, fy))
    (x0, y0), (x1, y1) = corners
    return Rect(_round(x0), _round(y0), _round(x1), _round(y1))


def tiles(total: int, tile: int) -> list[tuple[int, int, int, int]]:
    """Split ``total`` output cells into tiles: (cell0, cell1, ctx0, ctx1) with 10 cells context."""
    out = []
    for start in range(0, total, tile):
        stop = min(start + tile, total)
        out.append((start, stop, max(0, start - CONTEXT_CELLS), min(total, stop + CONTEXT_CELLS)))
    return out


def output_cells(size: int) -> int:
    """Output cells along one axis for an input of ``size`` pixels (three valid 5x5/2 convs)."""
    for _ in range(3):
        size = (size - 5) // 2 + 1
    return max(size, 0)
