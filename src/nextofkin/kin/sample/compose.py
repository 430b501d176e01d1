"""Compositing: several people's face photos become one natural-looking picture.

Each person is cut from their (LFW, deep-funnelled 250x250) photo with a soft person-shaped mask
(head ellipse and shoulders, feathered), extended downward into a torso in the colours of their
clothes, scaled, and placed in one or two rows on a plausible background (a blurred, enlarged
patch of another photo, or a painted outdoor/indoor scene). The whole picture is then graded,
given sensor noise and JPEG-encoded (sometimes twice, as platforms re-encode uploads).

Every random choice comes from the job's own seed, so a job renders to the same bytes wherever
and in whatever order it runs. Faces are kept at least ~62 px wide in pictures whose longer side
is under 800 px (the ingest upsamples those once) and ~90 px in larger ones, so dlib's HOG
detector finds them.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

# Where the face sits in a deep-funnelled LFW image (measured with dlib HOG on 300 images:
# mean box (70, 80, 175, 185), s.d. about 7 px).
SRC_SIZE = 250
FACE_BOX = (70.0, 80.0, 175.0, 185.0)
FACE_W = FACE_BOX[2] - FACE_BOX[0]
FACE_CX = (FACE_BOX[0] + FACE_BOX[2]) / 2
FACE_CY = (FACE_BOX[1] + FACE_BOX[3]) / 2

MIN_FACE_SMALL = 64.0  # pictures under 800 px: the ingest upsamples once
MIN_FACE_LARGE = 92.0  # pictures of 800 px and more: HOG's 80 px window at no upsampling
SMALL_LIMIT = 790
LARGE_LIMIT = 1400


@dataclass(frozen=True)
class Sprite:
    """One person to place: which photo of them, mirrored or not."""

    person: str
    source: str  # absolute path of the face photo
    flip: bool


@dataclass(frozen=True)
class RenderJob:
    """Everything needed to render one picture, deterministically."""

    out: str  # absolute path of the JPEG to write
    kind: str  # "group", "solo", "profile" or "scene"
    sprites: tuple[Sprite, ...]
    background: str  # absolute path of the photo whose patch may give the background
    seed: int
    index: int


@dataclass(frozen=True)
class PlacedFace:
    """Where a person's face ended up in the rendered picture."""

    person: str
    source: str
    flip: bool
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class RenderResult:
    """A rendered picture: its size and the true face boxes."""

    out: str
    width: int
    height: int
    faces: tuple[PlacedFace, ...]


@dataclass(frozen=True)
class _Slot:
    cx: float
    cy: float
    w: float  # face width in the picture


def _rng(job: RenderJob) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence([job.seed, 7, job.index]))


def _load(path: str) -> np.ndarray:
    with Image.open(path) as img:
        rgb = img.convert("RGB")
        if rgb.size != (SRC_SIZE, SRC_SIZE):
            rgb = rgb.resize((SRC_SIZE, SRC_SIZE), Image.Resampling.BICUBIC)
        return np.asarray(rgb, dtype=np.uint8)


def _person_mask(height: int) -> np.ndarray:
    """A feathered head-and-torso mask for a (height x 250) sprite, in [0, 1]."""
    ys, xs = np.mgrid[0:height, 0:SRC_SIZE].astype(np.float32)
    head = ((xs - FACE_CX) / 68.0) ** 2 + ((ys - 117.0) / 86.0) ** 2 <= 1.0
    # Shoulders widen below the chin, then the body tapers gently towards the waist.
    half = 114.0 * np.sqrt(np.clip((ys - 168.0) / 72.0, 0.0, 1.0))
    half -= 0.12 * np.clip(ys - SRC_SIZE, 0.0, None)
    torso = (ys >= 168.0) & (np.abs(xs - FACE_CX) <= half)
    mask = (head | torso).astype(np.float32)
    mask = cv2.GaussianBlur(mask, (0, 0), 4.0)
    # Never a hard edge where the source photo ends.
    ramp = np.clip(np.minimum(xs, SRC_SIZE - 1 - xs) / 8.0, 0.0, 1.0)
    return np.asarray(mask * ramp, dtype=np.float32)


def _extend(pixels: np.ndarray, extra: int, rng: np.random.Generator) -> np.ndarray:
    """The photo with ``extra`` rows of torso below, in the colours of its last rows."""
    if extra <= 0:
        return pixels
    base = pixels[-20:].astype(np.float32).mean(axis=0, keepdims=True)  # (1, W, 3)
    # Clothes are one or two broad colours: blur across so no stripes run down the body.
    base = cv2.GaussianBlur(base, (0, 0), sigmaX=22.0, sigmaY=0.1)
    rows = np.repeat(base, extra, axis=0)
    # The last real rows fade into the painted body instead of meeting it at a seam.
    blend = np.clip(np.arange(20, dtype=np.float32) / 19.0, 0, 1)[:, None, None]
    pixels = pixels.astype(np.float32)
    pixels[-20:] = pixels[-20:] * (1 - blend) + base * blend
    shade = 1.0 - 0.25 * np.linspace(0.0, 1.0, extra, dtype=np.float32)[:, None, None]
    xs = np.abs(np.arange(SRC_SIZE, dtype=np.float32) - FACE_CX) / FACE_CX
    side = (1.0 - 0.25 * xs**2)[None, :, None]  # a rounded body is darker at its sides
    noise = rng.normal(0.0, 4.0, size=(extra, SRC_SIZE)).astype(np.float32)
    texture = cv2.GaussianBlur(noise, (0, 0), 3.0)[..., None]
    torso = np.clip(rows * shade * side + texture, 0, 255)
    return np.concatenate([pixels, torso], axis=0).astype(np.uint8)


def _layout(
    n: int, kind: str, rng: np.random.Generator, spread: float
) -> tuple[int, int, list[_Slot]]:
    """Picture size and face slots (in paste order: back row first) for ``n`` people."""
    if kind == "profile":
        return _profile_layout(n, rng)
    wbar = float(rng.uniform(70, 130))
    if n == 1:
        height = wbar * float(rng.uniform(3.2, 6.0))
        width = height * float(rng.choice([0.75, 0.8, 1.0, 1.33, 1.5]))
        cy = max(height - wbar * float(rng.uniform(1.6, 3.0)), wbar * 1.2)
        slot = _Slot(width * float(rng.uniform(0.3, 0.7)), cy, wbar)
        return _fit(width, height, [slot], rng)
    return _group_layout(n, rng, spread, wbar)


def _profile_layout(n: int, rng: np.random.Generator) -> tuple[int, int, list[_Slot]]:
    """A square profile picture: one face, or two or three side by side."""
    side = float(rng.uniform(360, 720))
    portrait: list[_Slot] = []
    w = float(rng.uniform(0.2, 0.32)) * side
    if n == 1:
        portrait.append(
            _Slot(side / 2 + rng.uniform(-0.08, 0.08) * side, side * rng.uniform(0.4, 0.5), w)
        )
    else:
        w *= 0.8
        d = w * rng.uniform(1.35, 1.6)
        for i in range(n):
            portrait.append(
                _Slot(
                    side / 2 + (i - (n - 1) / 2) * d,
                    side * rng.uniform(0.42, 0.5),
                    w * rng.uniform(0.93, 1.07),
                )
            )
    return _fit(side, side, portrait, rng)


def _group_layout(
    n: int, rng: np.random.Generator, spread: float, wbar: float
) -> tuple[int, int, list[_Slot]]:
    """Two or more people in one row, or (four and more, sometimes) two rows."""
    two_rows = n >= 4 and rng.random() < 0.45
    n_back = n // 2 if two_rows else 0
    n_front = n - n_back
    d = wbar * float(rng.uniform(1.5, 1.95)) * spread
    left = wbar * float(rng.uniform(0.8, 1.6))
    right = wbar * float(rng.uniform(0.8, 1.6))
    if rng.random() < 0.4:  # people off-centre, with room on one side
        if rng.random() < 0.5:
            left += wbar * float(rng.uniform(0.3, 1.5))
        else:
            right += wbar * float(rng.uniform(0.3, 1.5))
    width = left + right + (n_front - 1) * d
    height = max(width / float(rng.choice([1.33, 1.5, 1.78])), wbar * 3.4)
    # Waist-up: the picture ends a couple of face heights below the front row's faces.
    cy_front = max(height - wbar * float(rng.uniform(1.4, 2.4)), wbar * (2.3 if two_rows else 1.3))
    slots: list[_Slot] = []
    if two_rows:
        cy_back = cy_front - wbar * float(rng.uniform(0.95, 1.15))
        for i in range(n_back):
            # Back-row heads sit between front-row heads.
            cx = left + (i + 0.5 + (n_front - 1 - n_back) / 2) * d
            slots.append(
                _Slot(
                    cx + rng.uniform(-0.06, 0.06) * wbar,
                    cy_back + rng.uniform(-0.1, 0.1) * wbar,
                    wbar * 0.88 * float(rng.uniform(0.93, 1.07)),
                )
            )
    for i in range(n_front):
        slots.append(
            _Slot(
                left + i * d + rng.uniform(-0.08, 0.08) * wbar,
                cy_front + rng.uniform(-0.18, 0.18) * wbar,
                wbar * float(rng.uniform(0.9, 1.1)),
            )
        )
    return _fit(width, height, slots, rng)


def _fit(
    width: float, height: float, slots: list[_Slot], rng: np.random.Generator
) -> tuple[int, int, list[_Slot]]:
    """Scale the whole layout so that faces stay detectable at the picture's size."""
    longest = max(width, height)
    smallest = min(s.w for s in slots)
    small = min(1.0, SMALL_LIMIT / longest) if longest > SMALL_LIMIT else 1.0
    small_ok = smallest * small >= MIN_FACE_SMALL and longest * small <= SMALL_LIMIT
    large = max(MIN_FACE_LARGE / smallest, 800.0 / longest)
    large_ok = longest * large <= LARGE_LIMIT
    # Mostly phone-camera sizes (800 px and up); small pictures cost the ingest an upsampling.
    if large_ok and (not small_ok or rng.random() < 0.8):
        # Just over 800 px: the ingest's detector then runs without upsampling, on few pixels.
        factor = large * float(rng.uniform(1.0, min(1.12, LARGE_LIMIT / (longest * large))))
    elif small_ok:
        factor = small
    else:
        factor = MIN_FACE_SMALL / smallest
    slots = [_Slot(s.cx * factor, s.cy * factor, s.w * factor) for s in slots]
    return round(width * factor), round(height * factor), slots


def _background(width: int, height: int, patch_source: str, rng: np.random.Generator) -> np.ndarray:
    """A plausible, face-free backdrop of the given size (float32 RGB).

    It is painted at an eighth of the size and enlarged: it is out of focus anyway, and blurring
    a full-size canvas with a wide kernel would dominate the generator's run time.
    """
    mode = rng.choice(["photo", "outdoor", "indoor"], p=[0.45, 0.3, 0.25])
    sw, sh = max(8, width // 8), max(8, height // 8)
    longest = max(sw, sh)
    if mode == "photo":
        src = _load(patch_source)
        size = int(rng.integers(36, 80))
        # Upper corners of a portrait are background (or hair): never a whole face.
        x0 = int(
            rng.choice([rng.integers(0, 30), rng.integers(SRC_SIZE - 30 - size, SRC_SIZE - size)])
        )
        y0 = int(rng.integers(0, 30))
        patch = src[y0 : y0 + size, x0 : x0 + size].astype(np.float32)
        bg = cv2.resize(patch, (sw, sh), interpolation=cv2.INTER_AREA)
        bg = cv2.GaussianBlur(bg, (0, 0), float(rng.uniform(0.012, 0.03)) * longest)
    else:
        ys = np.linspace(0.0, 1.0, sh, dtype=np.float32)[:, None, None]
        if mode == "outdoor":
            sky_top = rng.uniform([90, 130, 180], [170, 200, 250])
            sky_low = rng.uniform([170, 180, 190], [235, 225, 235])
            ground = rng.uniform([60, 80, 40], [140, 140, 110])
            horizon = float(rng.uniform(0.45, 0.75))
            t = np.clip(ys / horizon, 0, 1)
            sky = sky_top * (1 - t) + sky_low * t
            bg = np.where(ys < horizon, sky, ground * (1.1 - 0.3 * (ys - horizon)))
        else:
            wall = rng.uniform([120, 110, 100], [235, 225, 215])
            floor = wall * rng.uniform(0.45, 0.75)
            line = float(rng.uniform(0.7, 0.9))
            bg = np.where(ys < line, wall * (0.85 + 0.2 * ys), floor)
        bg = np.broadcast_to(bg, (sh, sw, 3)).astype(np.float32).copy()
        for _ in range(int(rng.integers(2, 7))):  # trees, windows, lamps: out-of-focus shapes
            colour = rng.uniform(30, 250, size=3)
            cx, cy = rng.uniform(0, sw), rng.uniform(0, sh * 0.8)
            rx, ry = rng.uniform(0.05, 0.25) * sw, rng.uniform(0.05, 0.3) * sh
            shape = np.zeros((sh, sw), np.float32)
            if rng.random() < 0.5:
                cv2.ellipse(shape, (int(cx), int(cy)), (int(rx), int(ry)), 0, 0, 360, 1.0, -1)
            else:
                cv2.rectangle(
                    shape, (int(cx - rx), int(cy - ry)), (int(cx + rx), int(cy + ry)), 1.0, -1
                )
            alpha = float(rng.uniform(0.3, 0.8))
            bg = bg * (1 - alpha * shape[..., None]) + colour * alpha * shape[..., None]
        bg = cv2.GaussianBlur(bg, (0, 0), max(0.6, float(rng.uniform(0.01, 0.025)) * longest))
    bg = cv2.resize(bg, (width, height), interpolation=cv2.INTER_CUBIC)
    noise = 2.0 * rng.standard_normal((height, width, 1), dtype=np.float32)
    return np.asarray(bg + noise, dtype=np.float32)


@dataclass
class _Layer:
    rgb: np.ndarray  # float32, canvas-sized crop region
    alpha: np.ndarray
    x0: int
    y0: int
    face: PlacedFace


def _make_layer(
    sprite: Sprite, slot: _Slot, height: int, width: int, rng: np.random.Generator
) -> _Layer:
    scale = slot.w / FACE_W
    # Rows of torso needed below the photo for the body to reach the picture's bottom edge.
    bottom_in_src = FACE_CY + (height - slot.cy) / scale
    extra = max(0, math.ceil(bottom_in_src - SRC_SIZE) + 4)
    pixels: np.ndarray = _extend(_load(sprite.source), extra, rng).astype(np.float32)
    pixels *= float(rng.uniform(0.88, 1.12))  # each person was lit differently
    mask = _person_mask(pixels.shape[0])
    if sprite.flip:
        pixels = pixels[:, ::-1]
        mask = mask[:, ::-1]
    face_cx = SRC_SIZE - FACE_CX if sprite.flip else FACE_CX
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    size = (max(1, round(SRC_SIZE * scale)), max(1, round(pixels.shape[0] * scale)))
    pixels = cv2.resize(np.ascontiguousarray(pixels), size, interpolation=interp)
    mask = cv2.resize(np.ascontiguousarray(mask), size, interpolation=interp)
    x0 = round(slot.cx - face_cx * scale)
    y0 = round(slot.cy - FACE_CY * scale)
    left = FACE_BOX[0] if not sprite.flip else SRC_SIZE - FACE_BOX[2]
    box = (
        x0 + left * scale,
        y0 + FACE_BOX[1] * scale,
        x0 + (left + FACE_W) * scale,
        y0 + FACE_BOX[3] * scale,
    )
    rounded = (round(box[0], 1), round(box[1], 1), round(box[2], 1), round(box[3], 1))
    face = PlacedFace(sprite.person, Path(sprite.source).name, sprite.flip, rounded)
    return _Layer(pixels, np.clip(mask, 0, 1), x0, y0, face)


def _paste(canvas: np.ndarray, cover: np.ndarray | None, layer: _Layer) -> None:
    height, width = canvas.shape[:2]
    h, w = layer.alpha.shape
    cx0, cy0 = max(0, layer.x0), max(0, layer.y0)
    cx1, cy1 = min(width, layer.x0 + w), min(height, layer.y0 + h)
    if cx0 >= cx1 or cy0 >= cy1:
        return
    sx0, sy0 = cx0 - layer.x0, cy0 - layer.y0
    alpha = layer.alpha[sy0 : sy0 + cy1 - cy0, sx0 : sx0 + cx1 - cx0, None]
    region = canvas[cy0:cy1, cx0:cx1]
    region[:] = (
        region * (1 - alpha) + layer.rgb[sy0 : sy0 + cy1 - cy0, sx0 : sx0 + cx1 - cx0] * alpha
    )
    if cover is not None:
        cover[cy0:cy1, cx0:cx1] = 1 - (1 - cover[cy0:cy1, cx0:cx1]) * (1 - alpha[..., 0])


def _alpha_over(layer: _Layer, x0: int, y0: int, x1: int, y1: int) -> np.ndarray:
    """The layer's alpha over the canvas window [x0, x1) x [y0, y1) (zero outside the layer)."""
    out = np.zeros((y1 - y0, x1 - x0), np.float32)
    h, w = layer.alpha.shape
    ax0, ay0 = max(x0, layer.x0), max(y0, layer.y0)
    ax1, ay1 = min(x1, layer.x0 + w), min(y1, layer.y0 + h)
    if ax0 < ax1 and ay0 < ay1:
        out[ay0 - y0 : ay1 - y0, ax0 - x0 : ax1 - x0] = layer.alpha[
            ay0 - layer.y0 : ay1 - layer.y0, ax0 - layer.x0 : ax1 - layer.x0
        ]
    return out


def _occluded(layers: list[_Layer], height: int, width: int) -> bool:
    """Whether a later-pasted person hides part of an earlier person's face."""
    for i, layer in enumerate(layers[:-1]):
        left, top, right, bottom = layer.face.box
        inset_x, inset_y = 0.12 * (right - left), 0.1 * (bottom - top)
        x0, x1 = max(0, int(left + inset_x)), min(width, int(right - inset_x))
        y0, y1 = max(0, int(top - inset_y)), min(height, int(bottom - inset_y))
        if x1 <= x0 or y1 <= y0:
            return True
        clear = np.ones((y1 - y0, x1 - x0), np.float32)
        for later in layers[i + 1 :]:
            clear *= 1 - _alpha_over(later, x0, y0, x1, y1)
        if float(1 - clear.mean()) > 0.06:
            return True
    return False


def _inside(face: PlacedFace, width: int, height: int) -> bool:
    left, top, right, bottom = face.box
    return left >= 2 and top >= 2 and right <= width - 2 and bottom <= height - 2


def render(job: RenderJob) -> RenderResult:
    """Render ``job`` to its JPEG file and return where every face is."""
    rng = _rng(job)
    canvas, layers = _compose(job, rng)
    image = _camera(canvas, rng)
    data, image, faces = _encode(image, tuple(layer.face for layer in layers), rng)
    out = Path(job.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    return RenderResult(job.out, image.width, image.height, faces)


def _compose(job: RenderJob, rng: np.random.Generator) -> tuple[np.ndarray, list[_Layer]]:
    """The background with every person pasted on it (float32 RGB), and their layers."""
    n = len(job.sprites)
    if job.kind == "scene" or n == 0:
        width = int(rng.choice([800, 960, 1024, 1080]))
        height = int(width / float(rng.choice([1.33, 1.5, 1.0, 0.75])))
        return _background(width, height, job.background, rng), []
    spread = 1.0
    for _attempt in range(8):
        width, height, slots = _layout(n, job.kind, rng, spread)
        order = list(job.sprites)
        if len(slots) > len(order):  # pragma: no cover - layout returns one slot per person
            slots = slots[: len(order)]
        layers = [
            _make_layer(s, slot, height, width, rng) for s, slot in zip(order, slots, strict=True)
        ]
        if all(_inside(layer.face, width, height) for layer in layers) and not _occluded(
            layers, height, width
        ):
            break
        spread *= 1.15
    canvas = _background(width, height, job.background, rng)
    for layer in layers:
        _paste(canvas, None, layer)
    return canvas, layers


def _camera(canvas: np.ndarray, rng: np.random.Generator) -> Image.Image:
    """One camera for the whole picture: colour cast and gamma (one lookup table), sensor
    noise, sometimes a touch of softness."""
    cast = rng.uniform(0.94, 1.06, size=3)
    gamma = float(rng.uniform(0.9, 1.1))
    levels = np.arange(256, dtype=np.float64)[:, None]
    lut = np.clip(255.0 * (np.clip(levels * cast, 0, 255) / 255.0) ** gamma + 0.5, 0, 255)
    pixels = cv2.LUT(
        np.clip(canvas + 0.5, 0, 255).astype(np.uint8), lut.astype(np.uint8).reshape(1, 256, 3)
    )
    sigma = float(rng.uniform(0.8, 3.5))
    noise = np.asarray(rng.standard_normal(pixels.shape, dtype=np.float32) * sigma)
    pixels = cv2.add(pixels, noise.astype(np.int16), dtype=cv2.CV_8U)
    if rng.random() < 0.3:
        pixels = cv2.GaussianBlur(pixels, (0, 0), 0.6)
    return Image.fromarray(pixels)


def _encode(
    image: Image.Image, faces: tuple[PlacedFace, ...], rng: np.random.Generator
) -> tuple[bytes, Image.Image, tuple[PlacedFace, ...]]:
    """The JPEG bytes, sometimes re-uploaded (decoded, shrunk and encoded again by a
    platform), with the picture and face boxes as they end up."""
    quality = int(rng.integers(72, 95))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    if rng.random() < 0.2:
        shrink = float(rng.uniform(0.85, 0.95))
        small_w, small_h = round(image.width * shrink), round(image.height * shrink)
        min_face = min((f.box[2] - f.box[0] for f in faces), default=1e9) * shrink
        limit = MIN_FACE_SMALL if max(small_w, small_h) < 800 else MIN_FACE_LARGE
        if min_face >= limit:
            with Image.open(io.BytesIO(buffer.getvalue())) as again:
                image = again.convert("RGB").resize((small_w, small_h), Image.Resampling.BILINEAR)
            faces = tuple(
                PlacedFace(f.person, f.source, f.flip, tuple(round(v * shrink, 1) for v in f.box))  # type: ignore[arg-type]
                for f in faces
            )
            buffer = io.BytesIO()
            image.save(buffer, "JPEG", quality=int(rng.integers(70, 86)))
    return buffer.getvalue(), image, faces
