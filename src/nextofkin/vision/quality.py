"""A per-face quality score from size, sharpness and landmark geometry.

Each part is in [0, 1]; the overall score is their geometric mean with the detector's confidence,
so one bad part (a tiny, blurred or implausibly posed face) pulls the whole score down.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from nextofkin.vision.types import Points, Quality, RGBImage

# Eye distance (outer corners) at which a face stops gaining from more pixels, and below which
# dlib's ResNet loses most of its accuracy. Chosen from the chip geometry, not tuned on data.
_EYE_PX_USELESS = 12.0
_EYE_PX_FULL = 60.0
# Variance of the Laplacian of a 150x150 grey chip at which sharpness counts as half good.
_SHARPNESS_HALF = 60.0


def _size_part(eye_distance: float) -> float:
    span = (eye_distance - _EYE_PX_USELESS) / (_EYE_PX_FULL - _EYE_PX_USELESS)
    return float(np.clip(span, 0.0, 1.0))


def _sharpness_part(chip: RGBImage) -> float:
    grey = cv2.cvtColor(chip, cv2.COLOR_RGB2GRAY)
    variance = float(cv2.Laplacian(grey, cv2.CV_64F).var())
    return variance / (variance + _SHARPNESS_HALF)


def _pose_part(points: Points) -> float:
    """Plausibility of dlib's 5 points (eye corners, nose base) for a usable, near-frontal face."""
    right_outer, right_inner, left_outer, left_inner, nose = (points[i] for i in range(5))
    eye_vec = left_outer - right_outer
    eye_distance = float(np.linalg.norm(eye_vec))
    if eye_distance < 1e-3:
        return 0.0
    # Work in a frame where the eye line is horizontal, so roll does not count against the face.
    ux = eye_vec / eye_distance
    # Perpendicular pointing from the eyes towards the nose side of an upright face.
    uy = np.array([ux[1], -ux[0]], dtype=np.float32)
    mid = (right_outer + left_outer) / 2
    nose_x = float(np.dot(nose - mid, ux)) / eye_distance
    nose_y = float(np.dot(nose - mid, uy)) / eye_distance
    right_eye = float(np.linalg.norm(right_outer - right_inner))
    left_eye = float(np.linalg.norm(left_outer - left_inner))
    eye_ratio = min(right_eye, left_eye) / max(right_eye, left_eye, 1e-3)
    # Frontal faces: nose centred (x≈0), below the eyes by about 0.4-0.9 eye distances,
    # both eyes about equally wide. Yaw moves the nose sideways and shrinks one eye.
    yaw = math.exp(-((nose_x / 0.25) ** 2))
    pitch = math.exp(-(((abs(nose_y) - 0.65) / 0.35) ** 2)) if nose_y > 0 else 0.0
    return float(yaw * pitch * eye_ratio)


def assess(chip: RGBImage, landmarks: Points, detection_score: float) -> Quality:
    """Quality of one face from its aligned chip and its landmarks in the photo."""
    eye_distance = float(np.linalg.norm(landmarks[2] - landmarks[0]))
    size = _size_part(eye_distance)
    sharpness = _sharpness_part(chip)
    pose = _pose_part(landmarks)
    parts = [max(size, 1e-3), max(sharpness, 1e-3), max(pose, 1e-3), max(detection_score, 1e-3)]
    overall = float(np.exp(np.mean(np.log(parts))))
    return Quality(
        size=round(size, 4),
        sharpness=round(sharpness, 4),
        pose=round(pose, 4),
        overall=round(overall, 4),
        eye_distance_px=round(eye_distance, 2),
    )
