"""Deterministic, seeded post-mortem degradations of probe photos.

Post-mortem photos differ from profile pictures in predictable ways: the body lies at any angle,
the light is poor, skin turns pale and grey-blue, the camera shakes or misses focus, images are
recompressed as they are passed along, the lower face is injured or covered, and the face is often
small in the frame. Each transform here imitates one of those, by name, and any of them can be
combined with ``+`` (``"rot90+lowlight"``). Randomness (noise, blur direction, cover texture) is
drawn from a generator seeded by the seed, the condition's name and the image's key, so every run
degrades every image identically.

Geometry that needs to know where the face is (the lower-face cover, the small-face scale) assumes
the framing of LFW's deep-funnelled 250x250 images, where the face is centred with about 60 px
between the outer eye corners; the constants below say so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from nextofkin.errors import InputError
from nextofkin.i18n import _
from nextofkin.vision.types import RGBImage

Transform = Callable[[RGBImage, np.random.Generator], RGBImage]

# LFW framing (measured with dlib's 5-point model on the deep-funnelled images): outer eye corners
# about 60 px apart; the face box about x 0.27-0.70 and y 0.32-0.75 of the image.
LFW_EYE_OUTER_PX = 60.0
SMALL_FACE_EYE_PX = 40.0
# The cover over mouth and chin, as fractions of the image (x0, y0, x1, y1).
LOWER_FACE_COVER = (0.26, 0.585, 0.74, 0.82)


def _u8(image: np.ndarray) -> RGBImage:
    return np.ascontiguousarray(np.clip(np.rint(image), 0, 255).astype(np.uint8))


def rotate_quarter(k: int) -> Transform:
    """Rotate by ``k`` quarter turns counter-clockwise (exact, no interpolation)."""

    def apply(image: RGBImage, _rng: np.random.Generator) -> RGBImage:
        return np.ascontiguousarray(np.rot90(image, k=k))

    return apply


def tilt(degrees: float) -> Transform:
    """Rotate in-plane by ``degrees`` counter-clockwise, keeping the canvas (edges replicated)."""

    def apply(image: RGBImage, _rng: np.random.Generator) -> RGBImage:
        h, w = image.shape[:2]
        matrix = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), degrees, 1.0)
        # Replicated edges, not reflected ones: a reflection can mirror part of a face into view.
        out = cv2.warpAffine(
            image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
        return np.ascontiguousarray(out)

    return apply


def low_light(image: RGBImage, rng: np.random.Generator) -> RGBImage:
    """An under-exposed photo: a quarter of the light, then sensor noise at that level."""
    dark = image.astype(np.float32) * 0.25
    # Shot noise grows with the signal; read noise is a floor (both in 8-bit units).
    sigma = np.sqrt(2.0**2 + 0.15 * dark)
    return _u8(dark + rng.normal(0.0, 1.0, size=image.shape).astype(np.float32) * sigma)


def gamma(value: float) -> Transform:
    """Tone curve ``out = in ** value`` (value > 1 darkens the mid-tones, < 1 washes them out)."""

    def apply(image: RGBImage, _rng: np.random.Generator) -> RGBImage:
        table = np.array([255.0 * (i / 255.0) ** value for i in range(256)])
        return np.ascontiguousarray(_u8(table)[image])

    return apply


def desaturate(image: RGBImage, _rng: np.random.Generator) -> RGBImage:
    """Full greyscale (kept as three channels)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def grey_blue(image: RGBImage, _rng: np.random.Generator) -> RGBImage:
    """Post-mortem pallor: most colour gone, a grey-blue cast, flatter contrast."""
    img = image.astype(np.float32)
    grey = img @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    pale = 0.35 * img + 0.65 * grey[:, :, None]
    tinted = pale * np.array([0.86, 0.95, 1.12], dtype=np.float32)
    mean = float(tinted.mean())
    return _u8(mean + 0.8 * (tinted - mean))


def defocus(radius: int) -> Transform:
    """An out-of-focus lens: convolution with a uniform disk of ``radius`` pixels."""

    def apply(image: RGBImage, _rng: np.random.Generator) -> RGBImage:
        size = 2 * radius + 1
        yy, xx = np.mgrid[-radius : radius + 1, -radius : radius + 1]
        kernel = ((xx**2 + yy**2) <= radius**2 + 0.5).astype(np.float32)
        kernel /= kernel.sum()
        assert kernel.shape == (size, size)
        return np.ascontiguousarray(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT))

    return apply


def motion_blur(length: int) -> Transform:
    """Camera shake: a line kernel of ``length`` pixels in a seeded random direction."""

    def apply(image: RGBImage, rng: np.random.Generator) -> RGBImage:
        angle = float(rng.uniform(0.0, 180.0))
        kernel = np.zeros((length, length), dtype=np.float32)
        kernel[length // 2, :] = 1.0
        centre = ((length - 1) / 2.0, (length - 1) / 2.0)
        rot = cv2.getRotationMatrix2D(centre, angle, 1.0)
        kernel = np.asarray(
            cv2.warpAffine(kernel, rot, (length, length), flags=cv2.INTER_LINEAR), np.float32
        )
        kernel /= max(float(kernel.sum()), 1e-6)
        return np.ascontiguousarray(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT))

    return apply


def jpeg(quality: int) -> Transform:
    """Recompression at JPEG ``quality`` (heavy blocking and colour bleeding at low values)."""

    def apply(image: RGBImage, _rng: np.random.Generator) -> RGBImage:
        bgr = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:  # pragma: no cover - OpenCV always encodes a valid array
            raise InputError(_("JPEG encoding failed"))
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR)
        if decoded is None:  # pragma: no cover - we just encoded it
            raise InputError(_("JPEG decoding failed"))
        return np.ascontiguousarray(cv2.cvtColor(decoded, cv2.COLOR_BGR2RGB), dtype=np.uint8)

    return apply


def lower_face_cover(image: RGBImage, rng: np.random.Generator) -> RGBImage:
    """Mouth and chin hidden under a dark, textured cover (a sheet, a mask, an injury dressing)."""
    h, w = image.shape[:2]
    x0, y0, x1, y1 = LOWER_FACE_COVER
    top, bottom = round(y0 * h), round(y1 * h)
    left, right = round(x0 * w), round(x1 * w)
    out = image.copy()
    base = rng.uniform(40.0, 90.0, size=3).astype(np.float32)
    texture = rng.normal(0.0, 8.0, size=(bottom - top, right - left, 1)).astype(np.float32)
    out[top:bottom, left:right] = _u8(base[None, None, :] + texture)
    return out


def small_face(eye_px: float = SMALL_FACE_EYE_PX) -> Transform:
    """Scale the photo so the outer eye corners are about ``eye_px`` apart (LFW framing)."""

    def apply(image: RGBImage, _rng: np.random.Generator) -> RGBImage:
        h, w = image.shape[:2]
        scale = eye_px / LFW_EYE_OUTER_PX
        size = (max(8, round(w * scale)), max(8, round(h * scale)))
        return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))

    return apply


@dataclass(frozen=True)
class Condition:
    """A named degradation: one transform or a chain of them."""

    name: str
    description: str
    steps: tuple[Transform, ...]
    single: bool  # one of the single transforms the robustness goal is stated for

    def apply(self, image: RGBImage, *, seed: int, key: str) -> RGBImage:
        """The degraded image, identical on every run for the same seed and key."""
        out = image
        for i, step in enumerate(self.steps):
            out = step(out, rng_for(seed, f"{self.name}#{i}", key))
        return out


def rng_for(seed: int, name: str, key: str) -> np.random.Generator:
    """A generator seeded from (seed, condition, image key), independent of process and order."""
    digest = hashlib.sha256(f"{seed}|{name}|{key}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


_SINGLE: dict[str, tuple[str, Transform]] = {
    "rot90": ("rotated 90° counter-clockwise", rotate_quarter(1)),
    "rot180": ("upside down", rotate_quarter(2)),
    "rot270": ("rotated 90° clockwise", rotate_quarter(3)),
    "tilt30": ("tilted 30° counter-clockwise", tilt(30.0)),
    "tilt-30": ("tilted 30° clockwise", tilt(-30.0)),
    "lowlight": ("a quarter of the light, with sensor noise", low_light),
    "gamma": ("dark mid-tones (gamma 2.2)", gamma(2.2)),
    "desaturate": ("greyscale", desaturate),
    "greyblue": ("pale grey-blue skin, flat contrast", grey_blue),
    "defocus": ("out of focus (disk blur, radius 3 px)", defocus(3)),
    "motion": ("camera shake (9 px line blur)", motion_blur(9)),
    "jpeg": ("heavy recompression (JPEG quality 10)", jpeg(10)),
    "occlusion": ("mouth and chin covered", lower_face_cover),
    "small": (f"small face (about {SMALL_FACE_EYE_PX:.0f} px between eye corners)", small_face()),
}

_COMBINED: dict[str, tuple[str, str]] = {
    "pallor-dark": ("greyblue+lowlight", "pale grey-blue skin in poor light"),
    "blur-jpeg": ("defocus+jpeg", "out of focus and recompressed"),
    "rot90-dark": ("rot90+lowlight", "lying sideways in poor light"),
    "field": ("rot270+greyblue+motion+jpeg", "sideways, pale, shaken and recompressed"),
    "covered-small": ("occlusion+small", "lower face covered and small in the frame"),
}


def single_conditions() -> list[str]:
    """Names of the single transforms (the robustness goal is stated for each)."""
    return list(_SINGLE)


def combined_conditions() -> list[str]:
    """Names of the predefined combinations."""
    return list(_COMBINED)


def condition(name: str) -> Condition:
    """The condition called ``name``: a single transform, a predefined combination, or any
    ``+``-joined chain of single transforms (``"rot90+jpeg"``). ``"clean"`` is the identity.

    Raises :class:`InputError` naming the known conditions for an unknown name.
    """
    if name in ("clean", "none", ""):
        return Condition("clean", "unchanged", (), single=False)
    if name in _COMBINED:
        chain, description = _COMBINED[name]
        return Condition(name, description, _chain(chain), single=False)
    if name in _SINGLE:
        description, step = _SINGLE[name]
        return Condition(name, description, (step,), single=True)
    steps = _chain(name)
    description = ", then ".join(_SINGLE[p][0] for p in name.split("+"))
    return Condition(name, description, steps, single=False)


def _chain(chain: str) -> tuple[Transform, ...]:
    parts = chain.split("+")
    unknown = [p for p in parts if p not in _SINGLE]
    if unknown:
        known = ", ".join([*_SINGLE, *_COMBINED])
        raise InputError(
            _(
                "unknown degradation %(unknown)r; known: %(known)s",
                unknown="+".join(unknown),
                known=known,
            )
        )
    return tuple(_SINGLE[p][1] for p in parts)
