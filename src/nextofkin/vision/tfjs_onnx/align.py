"""Face crops for the TF.js recognisers, from dlib's five landmarks.

Human (the package that publishes ``faceres`` and ``mobilefacenet``) feeds its recognisers a square
crop around BlazeFace's box, enlarged 1.4 times, turned upright when ``detector.rotation`` is on
(its face-matching demo turns it on), and resized to the model's input (``faceres``: 224 px, RGB
0-255; ``mobilefacenet``: 112 px). Without BlazeFace, the same crop is placed from the eyes: side
``scale`` eye distances, centred ``drop`` eye distances below the eyes' midpoint, rotated so the
eyes are level. ``scale`` and ``drop`` are chosen on LFW's development pairs
(``benchmarks/bench_models_tfjs.py``), never on the pairs reported.

dlib's five points are the outer and inner corners of each eye and the base of the nose.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from nextofkin.vision.types import Points, RGBImage


@dataclass(frozen=True)
class BoxCrop:
    """An upright square crop: side ``scale`` x eye distance, centre ``drop`` x eye distance below
    the eyes' midpoint, resized to ``size`` px."""

    size: int
    scale: float
    drop: float

    def name(self) -> str:
        """A label for the alignment (stored with every vector)."""
        return f"eyebox-{self.size}-s{self.scale:g}-d{self.drop:g}"


def eye_centres(landmarks: Points) -> tuple[np.ndarray, np.ndarray]:
    """(left, right) eye centres in image order from dlib's five points."""
    p = np.asarray(landmarks, dtype=np.float64)
    a, b = (p[0] + p[1]) / 2, (p[2] + p[3]) / 2
    return (a, b) if a[0] <= b[0] else (b, a)


def crop(image: RGBImage, landmarks: Points, spec: BoxCrop) -> RGBImage:
    """The square, upright crop ``spec`` describes, ``spec.size`` px, RGB uint8."""
    left, right = eye_centres(landmarks)
    eyes = right - left
    dist = float(np.hypot(*eyes))
    angle = float(np.arctan2(eyes[1], eyes[0]))
    down = np.array([-np.sin(angle), np.cos(angle)])  # perpendicular to the eye line, downwards
    centre = (left + right) / 2 + spec.drop * dist * down
    side = max(spec.scale * dist, 1.0)
    k = spec.size / side
    cos, sin = np.cos(-angle) * k, np.sin(-angle) * k
    # Rotate by -angle and scale about the crop centre, then move it to the chip's centre.
    matrix = np.array(
        [
            [cos, -sin, spec.size / 2 - (cos * centre[0] - sin * centre[1])],
            [sin, cos, spec.size / 2 - (sin * centre[0] + cos * centre[1])],
        ]
    )
    chip = cv2.warpAffine(
        np.asarray(image),
        matrix,
        (spec.size, spec.size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )
    return np.ascontiguousarray(chip, dtype=np.uint8)
