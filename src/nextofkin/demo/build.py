"""Build a demo gallery (folder layout) from an identity-folder face set such as LFW.

Every identity with at least ``min_photos`` photos becomes an account holding all but one of its
photos; the held-out photo is the person "found" later. Single-photo identities become distractor
accounts. The choice is seeded, so the same seed gives the same gallery.
"""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from nextofkin.errors import InputError
from nextofkin.i18n import _
from nextofkin.vision.image_io import IMAGE_SUFFIXES, load_image


@dataclass(frozen=True)
class DemoGallery:
    """Where the demo gallery is and which photos were held out for probing."""

    root: Path
    accounts: int
    photos: int
    held_out: dict[str, Path]  # account id -> a photo of that person not in the gallery


def _identities(faces: Path) -> list[tuple[str, list[Path]]]:
    out = []
    for folder in sorted(p for p in faces.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            out.append((folder.name, photos))
    return out


def build_demo_gallery(
    faces: Path, out: Path, *, max_photos: int = 1200, seed: int = 7, per_account: int = 3
) -> DemoGallery:
    """Copy a seeded subset of ``faces`` into ``out`` in the folder layout (see module doc)."""
    if not faces.is_dir():
        raise InputError(_("face set %(faces)s is not a directory", faces=faces))
    identities = _identities(faces)
    if not identities:
        raise InputError(_("no identity folders with images under %(faces)s", faces=faces))
    rng = random.Random(seed)
    multi = [(n, p) for n, p in identities if len(p) >= 2]
    single = [(n, p) for n, p in identities if len(p) == 1]
    rng.shuffle(multi)
    rng.shuffle(single)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    held_out: dict[str, Path] = {}
    photos = 0
    accounts = 0
    # Two thirds of the budget to people who can be found, one third to distractors.
    for name, paths in multi:
        if photos >= max_photos * 2 // 3:
            break
        chosen = paths[: per_account + 1]
        held_out[name] = chosen[-1]
        _write_account(out / name, name, chosen[:-1])
        photos += len(chosen) - 1
        accounts += 1
    for name, paths in single:
        if photos >= max_photos:
            break
        _write_account(out / name, name, paths[:1])
        photos += 1
        accounts += 1
    return DemoGallery(out, accounts, photos, held_out)


def _write_account(folder: Path, name: str, photos: list[Path]) -> None:
    folder.mkdir(parents=True)
    for photo in photos:
        shutil.copyfile(photo, folder / photo.name)
    display = name.replace("_", " ")
    slug = name.lower()
    meta = {
        "name": display,
        "url": f"https://social.example/{slug}",
        "contacts": {"email": f"{slug}@example.org"},
    }
    (folder / "account.json").write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")


def post_mortem_probe(photo: Path, out: Path, *, angle: int = 90, gamma: float = 2.2) -> Path:
    """A probe made hard the way post-mortem photos are: lying at ``angle`` and dark."""
    loaded = load_image(photo, max_pixels=50_000_000, max_bytes=50_000_000)
    pixels = np.rot90(loaded.pixels, k=(angle // 90) % 4)
    dark = (255.0 * (pixels.astype(np.float32) / 255.0) ** gamma * 0.8).clip(0, 255)
    out.parent.mkdir(parents=True, exist_ok=True)
    bgr = cv2.cvtColor(np.ascontiguousarray(dark.astype(np.uint8)), cv2.COLOR_RGB2BGR)
    cv2.imwrite(str(out), bgr, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return out
