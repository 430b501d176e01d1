"""Safe image loading: every kind of bad file gets its own clear error."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nextofkin.errors import ImageTooLarge, UnreadableImage, UnsupportedFormat
from nextofkin.vision.image_io import decode_image, load_image

LIMITS = {"max_pixels": 40_000_000, "max_bytes": 50_000_000}


def _encoded(fmt: str, size: tuple[int, int] = (64, 48), **kwargs: object) -> bytes:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format=fmt, **kwargs)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP", "BMP", "TIFF"])
def test_accepted_formats_decode_to_rgb(fmt: str) -> None:
    loaded = decode_image(_encoded(fmt), max_pixels=10_000)
    assert loaded.pixels.shape == (48, 64, 3)
    assert loaded.pixels.dtype == np.uint8
    assert len(loaded.sha256) == 64


def test_exif_orientation_is_applied() -> None:
    image = Image.new("RGB", (80, 40), (200, 10, 10))
    exif = image.getexif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", exif=exif.tobytes())
    loaded = decode_image(buffer.getvalue(), max_pixels=10_000)
    assert loaded.pixels.shape[:2] == (80, 40)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.jpg"
    path.write_bytes(b"")
    with pytest.raises(UnreadableImage, match="zero-byte"):
        load_image(path, **LIMITS)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UnreadableImage, match="cannot read"):
        load_image(tmp_path / "nope.jpg", **LIMITS)


def test_not_an_image(tmp_path: Path) -> None:
    path = tmp_path / "notes.jpg"
    path.write_text("this is not a photo", encoding="utf-8")
    with pytest.raises(UnreadableImage, match="not an image"):
        load_image(path, **LIMITS)


def test_truncated_jpeg() -> None:
    data = _encoded("JPEG", (256, 256), quality=95)
    with pytest.raises(UnreadableImage, match=r"truncated|corrupt|decode"):
        decode_image(data[: len(data) // 2], max_pixels=10**6)


def test_pixel_limit_is_checked_before_decoding() -> None:
    with pytest.raises(ImageTooLarge, match="pixels"):
        decode_image(_encoded("PNG", (200, 200)), max_pixels=10_000)


def test_real_decompression_bomb_header_is_refused() -> None:
    # A 1-bit PNG of 20000x20000 compresses to a few kB but would be 400 M pixels.
    buffer = io.BytesIO()
    Image.new("1", (20000, 20000)).save(buffer, format="PNG")
    assert len(buffer.getvalue()) < 200_000
    with pytest.raises(ImageTooLarge):
        decode_image(buffer.getvalue(), max_pixels=40_000_000)


def test_file_size_limit(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    path.write_bytes(_encoded("PNG", (100, 100)))
    with pytest.raises(ImageTooLarge, match="bytes"):
        load_image(path, max_pixels=10**6, max_bytes=100)


def test_unsupported_format() -> None:
    with pytest.raises(UnsupportedFormat, match="not accepted"):
        decode_image(_encoded("PPM"), max_pixels=10**6)


def test_truncated_jpeg_refused_even_when_another_library_allows_truncation() -> None:
    # WeasyPrint and face_recognition switch Pillow's global on at import.
    from PIL import ImageFile

    data = _encoded("JPEG", (256, 256), quality=95)
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(UnreadableImage, match=r"truncated|corrupt|decode"):
            decode_image(data[: len(data) // 2], max_pixels=10**6)
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored for the other library
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False
