"""Typed values that flow through the vision pipeline.

Conventions: images are ``uint8`` RGB arrays of shape (H, W, 3); coordinates are pixels in the
original (EXIF-corrected) image, x to the right and y down; boxes are (left, top, right, bottom).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

RGBImage = npt.NDArray[np.uint8]
Points = npt.NDArray[np.float32]
Vector = npt.NDArray[np.float32]


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in pixels: (left, top, right, bottom)."""

    left: float
    top: float
    right: float
    bottom: float

    @property
    def width(self) -> float:
        """Box width in pixels."""
        return self.right - self.left

    @property
    def height(self) -> float:
        """Box height in pixels."""
        return self.bottom - self.top

    def as_list(self) -> list[float]:
        """The box as ``[left, top, right, bottom]`` rounded to 0.1 px."""
        return [round(v, 1) for v in (self.left, self.top, self.right, self.bottom)]

    @classmethod
    def around(cls, points: Points) -> Box:
        """The smallest box containing ``points`` (N, 2)."""
        return cls(
            float(points[:, 0].min()),
            float(points[:, 1].min()),
            float(points[:, 0].max()),
            float(points[:, 1].max()),
        )


@dataclass(frozen=True)
class Detection:
    """One face found by a detector, in the coordinates of the image it was given."""

    box: Box
    score: float
    landmarks: Points | None = None  # some detectors (SCRFD) give 5 points themselves


@dataclass(frozen=True)
class Quality:
    """How usable a face is for recognition, each part in [0, 1]."""

    size: float
    sharpness: float
    pose: float
    overall: float
    eye_distance_px: float


@dataclass
class Face:
    """A detected, aligned and embedded face, in original-image coordinates."""

    box: Box
    landmarks: Points
    detection_score: float
    quality: Quality
    embedding: Vector
    rotation: int = 0  # degrees the image was rotated (counter-clockwise) to find this face
    chip: RGBImage | None = field(default=None, repr=False)


@dataclass
class PhotoFaces:
    """Everything the pipeline found in one photo."""

    width: int
    height: int
    faces: list[Face]
    tried: list[str] = field(default_factory=list)
