"""Safe image loading: size limits, format checks, EXIF orientation, one clear error per file."""

from __future__ import annotations

import contextlib
import hashlib
import io
import threading
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from nextofkin.errors import ImageTooLarge, ImageTooSmall, UnreadableImage, UnsupportedFormat
from nextofkin.i18n import _, format_number
from nextofkin.vision.types import RGBImage

ACCEPTED_FORMATS = frozenset({"JPEG", "MPO", "PNG", "WEBP", "BMP", "GIF", "TIFF"})
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})


@dataclass(frozen=True)
class LoadedImage:
    """Decoded, upright RGB pixels and where they came from."""

    pixels: RGBImage
    sha256: str
    size_bytes: int
    format: str

    @property
    def width(self) -> int:
        """Width in pixels after EXIF orientation."""
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        """Height in pixels after EXIF orientation."""
        return int(self.pixels.shape[0])


def read_bytes(path: Path, max_bytes: int) -> bytes:
    """The file's bytes, refusing empty, missing and oversized files with a clear error."""
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise UnreadableImage(
            _("%(path)s: cannot read file (%(strerror)s)", path=path, strerror=exc.strerror or exc)
        ) from exc
    if not path.is_file():
        raise UnreadableImage(_("%(path)s: not a regular file", path=path))
    if size == 0:
        raise UnreadableImage(_("%(path)s: zero-byte file", path=path))
    if size > max_bytes:
        raise ImageTooLarge(
            _(
                "%(path)s: file is %(size)s bytes, the limit is %(limit)s",
                path=path,
                size=format_number(size),
                limit=format_number(max_bytes),
            )
        )
    try:
        return path.read_bytes()
    except OSError as exc:
        raise UnreadableImage(
            _("%(path)s: cannot read file (%(strerror)s)", path=path, strerror=exc.strerror or exc)
        ) from exc


def sha256_of(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


_TRUNCATION_FLAG_LOCK = threading.Lock()


@contextlib.contextmanager
def _truncated_images_refused() -> Iterator[None]:
    """Make Pillow raise on truncated data while decoding, whatever another library set.

    Pillow's switch is a process-wide global, and some libraries (WeasyPrint, face_recognition)
    turn it on at import; a half-decoded photo padded with grey would then pass as a face photo.
    """
    with _TRUNCATION_FLAG_LOCK:
        previous = ImageFile.LOAD_TRUNCATED_IMAGES
        ImageFile.LOAD_TRUNCATED_IMAGES = False
        try:
            yield
        finally:
            ImageFile.LOAD_TRUNCATED_IMAGES = previous


def _why(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text if len(text) <= 200 else text[:200] + "..."


def _to_rgb8(image: Image.Image) -> RGBImage:
    """8-bit RGB pixels of ``image``, with deep greyscale scaled rather than clipped.

    Pillow's ``convert("RGB")`` clips 16-bit and 32-bit greyscale values to 255, so a 16-bit
    scan (common from forensic cameras and X-ray/CT exports) would come out blank white.
    """
    if image.mode not in _DEEP_GREY_MODES:
        return np.ascontiguousarray(np.asarray(image.convert("RGB"), dtype=np.uint8))
    values = np.asarray(image).astype(np.float64)
    if image.mode.startswith("I;16"):
        grey = values / 257.0  # the full 16-bit range, as the file declares it
    else:
        low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
        if image.mode == "F" and low >= 0.0 and high <= 1.0:
            grey = values * 255.0
        elif low >= 0.0 and high <= 255.0:
            grey = values
        elif low >= 0.0 and high <= 65535.0:
            grey = values / 257.0
        else:  # no declared range: stretch what is there
            grey = (values - low) * (255.0 / max(high - low, 1e-9))
    grey8 = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(np.repeat(grey8[:, :, None], 3, axis=2))


_DEEP_GREY_MODES = frozenset({"I;16", "I;16L", "I;16B", "I;16N", "I", "F"})


def _open(data: bytes, name: str) -> Image.Image:
    """The opened (not yet decoded) image, or an ImageError saying why it cannot be."""
    try:
        # Opening parses PNG text chunks, where the same global decides whether an oversized
        # (bomb) chunk is refused or silently dropped: refused, whatever was imported before.
        with warnings.catch_warnings(), _truncated_images_refused():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageTooLarge(_("%(name)s: %(exc)s", name=name, exc=exc)) from exc
    except UnidentifiedImageError as exc:
        raise UnreadableImage(
            _("%(name)s: not an image file (unrecognised content)", name=name)
        ) from exc
    except MemoryError:
        raise  # not the file's fault: the caller's memory budget decides what it means
    except Exception as exc:
        # Pillow's plugins raise more than OSError on hostile headers (ValueError for a PNG
        # text chunk over MAX_TEXT_CHUNK, SyntaxError, struct.error ...): each is this file's
        # problem, never the caller's crash.
        raise UnreadableImage(
            _("%(name)s: truncated or corrupt image data (%(why)s)", name=name, why=_why(exc))
        ) from exc
    return image


def _check_header(image: Image.Image, name: str, max_pixels: int) -> str:
    """The image's format, once its format and pixel count (read from the header) are allowed."""
    fmt = image.format or "unknown"
    if fmt not in ACCEPTED_FORMATS:
        raise UnsupportedFormat(
            _(
                "%(name)s: format %(fmt)s is not accepted (use JPEG, PNG, WebP, BMP, GIF or TIFF)",
                name=name,
                fmt=fmt,
            )
        )
    width, height = image.size
    if width <= 0 or height <= 0:
        raise UnreadableImage(_("%(name)s: image has no pixels", name=name))
    if width * height > max_pixels:
        raise ImageTooLarge(
            _(
                "%(name)s: %(width)sx%(height)s = %(pixels)s pixels, the limit is %(limit)s",
                name=name,
                width=width,
                height=height,
                pixels=format_number(width * height),
                limit=format_number(max_pixels),
            )
        )
    return fmt


def decode_image(data: bytes, *, max_pixels: int, name: str = "image") -> LoadedImage:
    """Decode ``data`` into upright RGB pixels, or raise an ImageError saying why not.

    The pixel count is checked from the header before any pixel is decoded, so a
    decompression bomb costs nothing. EXIF orientation is applied.
    """
    if not data:
        raise UnreadableImage(_("%(name)s: zero-byte file", name=name))
    image = _open(data, name)
    with image:
        fmt = _check_header(image, name, max_pixels)
        try:
            with _truncated_images_refused():
                image.load()
            upright = ImageOps.exif_transpose(image)
            pixels = _to_rgb8(upright)
        except MemoryError:
            raise
        except Exception as exc:  # as in _open: any decoder failure is this file's failure
            raise UnreadableImage(
                _("%(name)s: truncated or corrupt image data (%(why)s)", name=name, why=_why(exc))
            ) from exc
    return LoadedImage(pixels=pixels, sha256=sha256_of(data), size_bytes=len(data), format=fmt)


def load_image(path: Path, *, max_pixels: int, max_bytes: int) -> LoadedImage:
    """Read and decode one image file safely (see :func:`decode_image`)."""
    return decode_image(read_bytes(path, max_bytes), max_pixels=max_pixels, name=str(path))


def require_face_size(width: int, height: int, least: int, name: str | None = None) -> None:
    """Refuse an image too narrow or too flat to hold a face (1x1, 40000x1, ...)."""
    if min(height, width) < least:
        says = _(
            "image is %(width)sx%(height)s px: too small to hold a face "
            "(at least %(least)s px each way)",
            width=width,
            height=height,
            least=least,
        )
        raise ImageTooSmall(_("%(name)s: %(message)s", name=name, message=says) if name else says)
