"""One hostile or degenerate image is its own clear error, never a crash (issue 12 #6, #7, #16).

Every image is made in code: a PNG whose zTXt chunk inflates to 200 MB, 1-pixel-wide strips, a
blank 6300x6300 photo, a 16-bit greyscale scan.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from bad_images import ztxt_bomb_png
from nextofkin.errors import ImageNotAnalysable, ImageTooSmall, NoFaceFound, UnreadableImage
from nextofkin.settings import VisionSettings
from nextofkin.vision.image_io import decode_image
from nextofkin.vision.models import Detector
from nextofkin.vision.pipeline import FacePipeline
from nextofkin.vision.registry import default_registry
from nextofkin.vision.types import Detection, RGBImage

MAX_PIXELS = 40_000_000


def test_png_with_a_huge_text_chunk_is_an_unreadable_image_naming_the_file() -> None:
    with pytest.raises(UnreadableImage, match=r"^bomb\.png: .*MAX_TEXT_CHUNK"):
        decode_image(ztxt_bomb_png(), max_pixels=MAX_PIXELS, name="bomb.png")


def test_16_bit_greyscale_png_keeps_its_tones() -> None:
    # A left-to-right ramp over the whole 16-bit range; Pillow's convert("RGB") clips it to 255.
    ramp = np.tile(np.linspace(0, 65535, 256).astype(np.uint16), (32, 1))
    buffer = io.BytesIO()
    Image.fromarray(ramp).save(buffer, "PNG")
    loaded = decode_image(buffer.getvalue(), max_pixels=MAX_PIXELS, name="scan.png")
    assert loaded.pixels.dtype == np.uint8 and loaded.pixels.shape == (32, 256, 3)
    row = loaded.pixels[0, :, 0].astype(int)
    assert row[0] == 0 and row[-1] == 255
    assert abs(row[128] - 128) <= 1
    assert np.all(np.diff(row) >= 0)  # the ramp survives: no clipping, no wrap-around
    assert np.array_equal(loaded.pixels[:, :, 0], loaded.pixels[:, :, 2])


@pytest.mark.models
@pytest.mark.parametrize("shape", [(1, 1), (1, 40000), (40000, 1), (19, 300)])
def test_degenerate_images_are_too_small_not_a_runtime_error(shape: tuple[int, int]) -> None:
    pipeline = FacePipeline.from_settings(VisionSettings(), default_registry())
    image = np.full((*shape, 3), 128, dtype=np.uint8)
    with pytest.raises(ImageTooSmall, match="too small to hold a face"):
        pipeline.analyse(image)
    with pytest.raises(ImageTooSmall, match="too small to hold a face"):
        pipeline.analyse_probe(image)


class _Recording:
    """Wraps a detector and remembers the size of every image it was given."""

    def __init__(self, inner: Detector) -> None:
        self.inner = inner
        self.name = inner.name
        self.sides: list[int] = []

    def detect(self, image: RGBImage, upsample: int = 0) -> list[Detection]:
        self.sides.append(max(image.shape[:2]) * 2**upsample)
        return self.inner.detect(image, upsample)


class _Exploding:
    name = "exploding"

    def detect(self, image: RGBImage, upsample: int = 0) -> list[Detection]:
        raise RuntimeError("The stride of the 2nd dimension must be 3")


def _pipeline(
    settings: VisionSettings, detector: Detector, fallback: Detector | None = None
) -> FacePipeline:
    registry = default_registry()
    return FacePipeline(
        settings,
        detector,
        registry.landmarks(settings.landmarks),
        registry.embedder(settings.embedder),
        fallback,
    )


@pytest.mark.models
def test_huge_blank_probe_is_downscaled_before_detection() -> None:
    settings = VisionSettings()
    registry = default_registry()
    first = _Recording(registry.detector(settings.detector))
    fallback = _Recording(registry.detector("mmod-onnx"))
    pipeline = _pipeline(settings, first, fallback)
    blank = np.full((6300, 6300, 3), (90, 120, 150), dtype=np.uint8)
    with pytest.raises(NoFaceFound) as caught:
        pipeline.analyse_probe(blank)
    assert caught.value.tried[0] == "downscaled 6300x6300 to 1600x1600 for detection"
    assert first.sides and fallback.sides  # the whole search ran: every detector, every step
    # Tilted views grow the canvas by at most sqrt(2); the upsampled pass doubles one dimension.
    longest = settings.probe_max_side
    assert max(first.sides + fallback.sides) <= 2 * longest
    assert max(fallback.sides) <= longest


@pytest.mark.models
def test_downscaled_probe_reports_the_face_in_the_original_photos_pixels() -> None:
    astronaut = np.ascontiguousarray(skdata.astronaut())  # 512x512, face near (230, 110)
    big = np.ascontiguousarray(np.kron(astronaut, np.ones((8, 8, 1), dtype=np.uint8)))  # 4096 px
    settings = VisionSettings()
    pipeline = FacePipeline.from_settings(settings, default_registry())
    small = max(pipeline.analyse_probe(astronaut).faces, key=lambda f: f.detection_score)
    found = pipeline.analyse_probe(big)
    assert (found.width, found.height) == (4096, 4096)
    face = max(found.faces, key=lambda f: f.detection_score)
    assert (
        abs((face.box.left + face.box.right) / 2 - 8 * (small.box.left + small.box.right) / 2) < 80
    )
    assert abs(face.box.top - 8 * small.box.top) < 80
    assert face.landmarks[:, 0].min() >= face.box.left - 40
    assert float(face.embedding @ small.embedding) > 0.9


@pytest.mark.models
def test_a_model_failure_on_one_image_is_that_images_error() -> None:
    pipeline = _pipeline(VisionSettings(), _Exploding())
    image = np.full((64, 64, 3), 128, dtype=np.uint8)
    with pytest.raises(ImageNotAnalysable, match="RuntimeError: The stride"):
        pipeline.analyse(image)
    with pytest.raises(ImageNotAnalysable, match="RuntimeError: The stride"):
        pipeline.analyse_probe(image)


def test_the_bomb_png_is_refused_even_after_weasyprint_relaxed_pillow() -> None:
    """WeasyPrint turns Pillow's LOAD_TRUNCATED_IMAGES on at import, which makes Pillow drop
    an oversized text chunk silently: the verdict on a file must not depend on import order."""
    from PIL import ImageFile

    previous = ImageFile.LOAD_TRUNCATED_IMAGES
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(UnreadableImage, match=r"MAX_TEXT_CHUNK|Too Large"):
            decode_image(ztxt_bomb_png(), max_pixels=10_000_000, name="bomb.png")
        assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored for the other library
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = previous
