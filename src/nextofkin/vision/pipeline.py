"""From decoded pixels to embedded faces: detect, place landmarks, align, assess, embed.

Gallery photos are searched upright (EXIF already applied). Post-mortem probes are harder: the
body can lie at any angle and the light is often poor, so :meth:`FacePipeline.analyse_probe`
tries the upright image first (cheap when it works) and then rotations and a contrast-equalised
copy, and reports everything it tried when nothing is found.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

import cv2
import numpy as np

from nextofkin.errors import ImageNotAnalysable, NextOfKinError, NoFaceFound
from nextofkin.i18n import N_, gettext, ngettext
from nextofkin.i18n import label as label_of
from nextofkin.settings import VisionSettings
from nextofkin.vision import quality
from nextofkin.vision.image_io import require_face_size
from nextofkin.vision.models import Detector, Embedder, LandmarkModel, ModelRegistry, quality_chip
from nextofkin.vision.types import Box, Detection, Face, PhotoFaces, Points, RGBImage

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _View:
    """The image as the detector saw it, and the affine map back to the original frame."""

    pixels: RGBImage
    angle: int
    to_original: np.ndarray  # 2x3 affine: view coordinates -> original coordinates


def rotate_view(image: RGBImage, angle: int) -> _View:
    """The image rotated counter-clockwise by ``angle`` degrees, canvas grown to fit."""
    height, width = image.shape[:2]
    if angle % 360 == 0:
        return _View(image, 0, np.array([[1, 0, 0], [0, 1, 0]], dtype=np.float64))
    centre = (width / 2.0, height / 2.0)
    matrix = cv2.getRotationMatrix2D(centre, float(angle), 1.0)
    cos, sin = abs(matrix[0, 0]), abs(matrix[0, 1])
    new_w = round(height * sin + width * cos)
    new_h = round(height * cos + width * sin)
    matrix[0, 2] += new_w / 2.0 - centre[0]
    matrix[1, 2] += new_h / 2.0 - centre[1]
    if angle % 90 == 0:
        # Exact quarter turns without interpolation. A copy, not ascontiguousarray: numpy calls a
        # view with a length-1 axis contiguous whatever its strides, and dlib refuses those.
        pixels: RGBImage = np.rot90(image, k=(angle // 90) % 4).copy(order="C")
    else:
        pixels = cv2.warpAffine(  # type: ignore[assignment]
            image, matrix, (new_w, new_h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT
        )
    inverse = cv2.invertAffineTransform(matrix)
    return _View(np.ascontiguousarray(pixels), angle, inverse)


def _map_points(points: Points, affine: np.ndarray) -> Points:
    ones = np.ones((points.shape[0], 1), dtype=np.float64)
    mapped: np.ndarray = np.hstack([points.astype(np.float64), ones]) @ affine.T
    return mapped.astype(np.float32)


def _box_corners(box: Box) -> Points:
    return np.array(
        [
            [box.left, box.top],
            [box.right, box.top],
            [box.right, box.bottom],
            [box.left, box.bottom],
        ],
        dtype=np.float32,
    )


def equalise(image: RGBImage) -> RGBImage:
    """Contrast-limited histogram equalisation of the lightness channel (for dark photos)."""
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    clahe = cv2.createCLAHE(clipLimit=3.0, tileGridSize=(8, 8))
    lab[:, :, 0] = clahe.apply(lab[:, :, 0])
    return np.ascontiguousarray(cv2.cvtColor(lab, cv2.COLOR_LAB2RGB))


class FacePipeline:
    """Detector + landmarks + embedder, configured by :class:`VisionSettings`."""

    def __init__(
        self,
        settings: VisionSettings,
        detector: Detector,
        landmarks: LandmarkModel,
        embedder: Embedder,
        fallback_detector: Detector | None = None,
    ) -> None:
        self.settings = settings
        self.detector = detector
        self.landmarks = landmarks
        self.embedder = embedder
        self.fallback_detector = fallback_detector

    @classmethod
    def from_settings(cls, settings: VisionSettings, registry: ModelRegistry) -> FacePipeline:
        """A pipeline with the models that ``settings`` name."""
        fallback = settings.probe_fallback_detector
        return cls(
            settings,
            registry.detector(settings.detector),
            registry.landmarks(settings.landmarks),
            registry.embedder(settings.embedder),
            registry.detector(fallback) if fallback else None,
        )

    def _upsample_for(self, image: RGBImage) -> int:
        return 1 if max(image.shape[:2]) < self.settings.upsample_below else 0

    def _faces_in_view(
        self, view: _View, detections: list[Detection], keep_chips: bool
    ) -> list[Face]:
        prepared: list[tuple[Detection, Points, RGBImage]] = []
        for det in detections:
            if det.box.width < self.settings.min_face_px:
                continue
            points = (
                det.landmarks
                if det.landmarks is not None
                else self.landmarks.locate(view.pixels, det.box)
            )
            chip = self.embedder.align(view.pixels, points)
            prepared.append((det, points, chip))
        if not prepared:
            return []
        vectors = self.embedder.embed([chip for _, _, chip in prepared])
        faces = []
        for (det, points, chip), vector in zip(prepared, vectors, strict=True):
            landmarks = _map_points(points, view.to_original)
            box = Box.around(_map_points(_box_corners(det.box), view.to_original))
            faces.append(
                Face(
                    box=box,
                    landmarks=landmarks,
                    detection_score=det.score,
                    quality=quality.assess(quality_chip(self.embedder, chip), points, det.score),
                    embedding=vector.astype(np.float32),
                    rotation=view.angle,
                    chip=chip if keep_chips else None,
                )
            )
        return faces

    def _check_size(self, image: RGBImage) -> None:
        height, width = image.shape[:2]
        require_face_size(width, height, self.settings.min_face_px)

    def analyse(self, image: RGBImage, *, keep_chips: bool = False) -> PhotoFaces:
        """Every face in an upright photo (gallery ingest).

        Raises :class:`ImageTooSmall` for degenerate images and :class:`ImageNotAnalysable` when a
        model fails on this image, so that one photo's failure stays that photo's.
        """
        self._check_size(image)
        try:
            return self._analyse(image, keep_chips)
        except (NextOfKinError, MemoryError):
            raise
        except Exception as exc:
            raise _not_analysable(exc) from exc

    def _analyse(self, image: RGBImage, keep_chips: bool) -> PhotoFaces:
        upsample = self._upsample_for(image)
        view = rotate_view(image, 0)
        detections = self.detector.detect(view.pixels, upsample)
        faces = self._faces_in_view(view, detections, keep_chips)
        tried = [f"{self.detector.name} upright, upsample {upsample}: {len(faces)} face(s)"]
        return PhotoFaces(width=image.shape[1], height=image.shape[0], faces=faces, tried=tried)

    def _try(
        self,
        pixels: RGBImage,
        label: str,
        angle: int,
        upsample: int,
        keep_chips: bool,
        tried: list[str],
        detector: Detector | None = None,
    ) -> list[Face]:
        detector = detector or self.detector
        view = rotate_view(pixels, angle)
        faces = self._faces_in_view(view, detector.detect(view.pixels, upsample), keep_chips)
        best = max((f.detection_score for f in faces), default=0.0)
        tried.append(
            ngettext(
                "%(detector)s, %(view)s, rotated %(angle)s°, upsample %(upsample)s: %(num)d face",
                "%(detector)s, %(view)s, rotated %(angle)s°, upsample %(upsample)s: %(num)d faces",
                len(faces),
                detector=detector.name,
                view=_view_label(label),
                angle=angle,
                upsample=upsample,
            )
            + (gettext(" (best score %(best).2f)", best=best) if faces else "")
        )
        return faces

    def analyse_probe(self, image: RGBImage, *, keep_chips: bool = False) -> PhotoFaces:
        """Faces in a post-mortem photo, trying rotations and equalisation until one is found.

        A photo larger than ``probe_max_side`` is downscaled first, so that no detector and no
        step of the search below ever sees more pixels than detection needs; faces are reported
        in the original photo's coordinates. An upright face found with a confident detection
        ends the search at once. Otherwise every quarter turn is tried and the turn with the most
        confident face wins: detectors also fire, weakly, on upside-down faces, whose embeddings
        are poor. In-plane tilts come next, then a contrast-equalised copy for dark photos, then
        one more upsampling for small faces. Raises :class:`NoFaceFound` listing every attempt
        when none succeeds, :class:`ImageTooSmall` / :class:`ImageNotAnalysable` as
        :meth:`analyse` does.
        """
        self._check_size(image)
        height, width = image.shape[:2]
        scale = min(1.0, self.settings.probe_max_side / max(height, width))
        work = image
        tried: list[str] = []
        if scale < 1.0:
            size = (max(1, round(width * scale)), max(1, round(height * scale)))
            # INTER_AREA averages the pixels each output pixel covers: no aliasing, no moire.
            work = np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
            tried.append(
                gettext(
                    "downscaled %(width)sx%(height)s to %(to_width)sx%(to_height)s for detection",
                    width=width,
                    height=height,
                    to_width=size[0],
                    to_height=size[1],
                )
            )
        try:
            found = self._analyse_probe(work, keep_chips, tried)
        except (NextOfKinError, MemoryError):
            raise
        except Exception as exc:
            raise _not_analysable(exc) from exc
        if scale < 1.0:
            found = _rescaled(found, work, width, height, image.shape[1] / work.shape[1])
        return found

    def _analyse_probe(self, image: RGBImage, keep_chips: bool, tried: list[str]) -> PhotoFaces:
        settings = self.settings
        height, width = image.shape[:2]
        for label, pixels in (("original", image), ("contrast-equalised", None)):
            if pixels is None:
                pixels = equalise(image)
            upsample = self._upsample_for(pixels)
            best: list[Face] = []
            for angle in settings.probe_quarter_turns:
                faces = self._try(pixels, label, angle, upsample, keep_chips, tried)
                if not faces:
                    continue
                score = max(f.detection_score for f in faces)
                if angle == 0 and score >= settings.upright_confidence:
                    return PhotoFaces(width, height, faces, tried)
                if score > max((f.detection_score for f in best), default=0.0):
                    best = faces
            if not best:
                for angle in settings.probe_tilts:
                    faces = self._try(pixels, label, angle, upsample, keep_chips, tried)
                    if faces and max(f.detection_score for f in faces) > max(
                        (f.detection_score for f in best), default=0.0
                    ):
                        best = faces
            if best:
                return PhotoFaces(width, height, best, tried)
        upsample = self._upsample_for(image) + 1
        if max(height, width) * 2**upsample <= 4000:
            faces = self._try(image, "original", 0, upsample, keep_chips, tried)
            if faces:
                return PhotoFaces(width, height, faces, tried)
        if self.fallback_detector is not None:
            # Last resort, so that it costs nothing on photos the first detector handles: a
            # detector trained differently (the CNN's wider context) finds some faces, such as
            # covered ones, that HOG misses.
            best = []
            upsample = self._upsample_for(image)
            for angle in settings.probe_quarter_turns:
                faces = self._try(
                    image, "original", angle, upsample, keep_chips, tried, self.fallback_detector
                )
                if faces and max(f.detection_score for f in faces) > max(
                    (f.detection_score for f in best), default=0.0
                ):
                    best = faces
            if best:
                return PhotoFaces(width, height, best, tried)
        # One short line: the attempts themselves travel in ``tried`` (listed line by line by the
        # CLI, as a list by the API), not in a message nobody can read on one line.
        second = gettext(", a second detector") if self.fallback_detector is not None else ""
        raise NoFaceFound(
            gettext(
                "no face found after %(n_tried)s attempts (tried: every quarter turn, "
                "tilts, contrast equalisation, more upsampling%(second)s)",
                n_tried=len(tried),
                second=second,
            ),
            tried=tried,
        )


# The views of a probe, as the attempts list names them (the keys stay English in the code).
_VIEWS = {"original": N_("original"), "contrast-equalised": N_("contrast-equalised")}


def _view_label(view: str) -> str:
    """The name of a probe view in the reader's language."""
    return label_of(_VIEWS, view)


def _not_analysable(exc: Exception) -> ImageNotAnalysable:
    """A model's failure on one image, as that image's error (never a bare RuntimeError)."""
    text = str(exc).splitlines()[0][:200] if str(exc) else ""
    return ImageNotAnalysable(
        gettext(
            "the face models failed on this image (%(kind)s: %(text)s)",
            kind=type(exc).__name__,
            text=text,
        )
    )


def _rescaled(
    found: PhotoFaces, work: RGBImage, width: int, height: int, factor: float
) -> PhotoFaces:
    """``found`` (faces in the downscaled ``work`` copy) in the original photo's coordinates."""
    faces = [
        replace(
            face,
            box=Box(
                face.box.left * factor,
                face.box.top * factor,
                face.box.right * factor,
                face.box.bottom * factor,
            ),
            landmarks=(face.landmarks * factor).astype(np.float32),
        )
        for face in found.faces
    ]
    return PhotoFaces(width=width, height=height, faces=faces, tried=found.tried)
