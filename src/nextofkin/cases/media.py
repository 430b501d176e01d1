"""Pictures made from case and gallery photos: upright face crops and clean photo copies.

Everything here decodes through :mod:`nextofkin.vision.image_io` (EXIF orientation applied, size
limits enforced) and writes JPEGs without metadata, so no location or camera data leaves with a
picture.
"""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from nextofkin.vision.image_io import load_image

LIMIT_PIXELS = 80_000_000
LIMIT_BYTES = 100_000_000


def _open(path: Path) -> Image.Image:
    loaded = load_image(path, max_pixels=LIMIT_PIXELS, max_bytes=LIMIT_BYTES)
    return Image.fromarray(loaded.pixels)


def face_crop(
    path: Path,
    box: list[float],
    *,
    rotation: int = 0,
    margin: float = 0.45,
    min_side: int = 240,
    max_side: int = 480,
) -> Image.Image:
    """The face in ``box`` with ``margin`` around it, turned upright by ``rotation`` degrees.

    ``box`` is (left, top, right, bottom) in the upright-EXIF image; ``rotation`` is the angle
    (counter-clockwise) the detector turned the image to find the face, so turning the crop by it
    shows the face upright, as a person would recognise it.
    """
    image = _open(path)
    left, top, right, bottom = box
    w, h = right - left, bottom - top
    pad = margin * max(w, h)
    region = (
        max(0, int(left - pad)),
        max(0, int(top - pad)),
        min(image.width, int(right + pad)),
        min(image.height, int(bottom + pad)),
    )
    crop = image.crop(region)
    if rotation % 360:
        crop = crop.rotate(rotation, expand=True, resample=Image.Resampling.BICUBIC)
    side = max(crop.width, crop.height)
    if side < min_side or side > max_side:
        scale = (min_side if side < min_side else max_side) / side
        size = (max(1, round(crop.width * scale)), max(1, round(crop.height * scale)))
        crop = crop.resize(size, Image.Resampling.LANCZOS)
    return crop


def clean_photo(path: Path, max_side: int = 1600) -> Image.Image:
    """The whole photo, upright, at most ``max_side`` pixels on its longer side."""
    image = _open(path)
    if max(image.size) > max_side:
        image.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
    return image


def jpeg_bytes(image: Image.Image, quality: int = 88) -> bytes:
    """``image`` as JPEG bytes without metadata."""
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, format="JPEG", quality=quality)
    return buffer.getvalue()
