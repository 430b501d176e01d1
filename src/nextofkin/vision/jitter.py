"""Jittered copies of a probe's aligned face chip, whose embeddings are averaged.

A probe vector from one chip carries the alignment error of five landmarks on a poor photo; the
mean over the chip and slightly shifted, scaled and rotated copies of it averages part of that
error out (dlib's own examples do the same with ``jitter_image``). Only probes are jittered: a
search embeds a handful of faces, a gallery ingest millions. The copies are a fixed set, so a
probe always gives the same vector.
"""

from __future__ import annotations

import cv2
import numpy as np

from nextofkin.vision.types import RGBImage

# (dx px, dy px, scale, degrees) on dlib's 150x150 chip: about 1.5% shifts, 4% scale, 3 degrees.
VARIANTS: tuple[tuple[float, float, float, float], ...] = (
    (2.0, 0.0, 1.0, 0.0),
    (-2.0, 0.0, 1.0, 0.0),
    (0.0, 2.0, 1.0, 0.0),
    (0.0, -2.0, 1.0, 0.0),
    (0.0, 0.0, 1.04, 0.0),
    (0.0, 0.0, 0.96, 0.0),
    (0.0, 0.0, 1.0, 3.0),
    (0.0, 0.0, 1.0, -3.0),
)


def jittered(chip: RGBImage, count: int) -> list[RGBImage]:
    """The first ``count`` fixed variants of ``chip`` (same size; edges replicated)."""
    h, w = chip.shape[:2]
    out: list[RGBImage] = []
    for dx, dy, scale, degrees in VARIANTS[: max(0, count)]:
        matrix = cv2.getRotationMatrix2D((w / 2, h / 2), degrees, scale)
        matrix[:, 2] += np.asarray([dx, dy])
        warped = cv2.warpAffine(chip, matrix, (w, h), borderMode=cv2.BORDER_REPLICATE)
        out.append(np.ascontiguousarray(warped))
    return out
