"""Small, seeded gallery exports built from LFW for end-to-end tests (written under tmp dirs)."""

from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image


@dataclass
class BuiltGallery:
    """A gallery export plus what the test knows to be true about it."""

    root: Path
    owners: dict[str, str]  # account -> LFW identity
    held_out: dict[str, Path]  # account -> an unseen photo of its owner
    strangers: list[Path]  # photos of people with no account
    group_photos: dict[str, str] = field(default_factory=dict)  # account -> companion identity
    duplicate_of: tuple[str, str] | None = None  # (account a, account b) sharing one file
    bad_items: list[str] = field(default_factory=list)


def _people(lfw: Path, min_photos: int) -> list[tuple[str, list[Path]]]:
    names = sorted(p.name for p in (lfw / "images").iterdir() if p.is_dir())
    out = []
    for name in names:
        photos = sorted((lfw / "images" / name).glob("*.jpg"))
        if len(photos) >= min_photos:
            out.append((name, photos))
    return out


def side_by_side(left: Path, right: Path, out: Path) -> None:
    """A joint photo: two portraits next to each other."""
    a = np.asarray(Image.open(left).convert("RGB"))
    b = np.asarray(Image.open(right).convert("RGB"))
    Image.fromarray(np.hstack([a, b])).save(out, quality=92)


def build(
    lfw: Path, out: Path, *, owners: int = 12, distractors: int = 40, seed: int = 1
) -> BuiltGallery:
    """A manifest-layout gallery: owners with 3 photos (one a joint photo for some),
    single-photo distractors, a shared file, and a few bad items."""
    rng = random.Random(seed)
    many = _people(lfw, 5)
    rng.shuffle(many)
    singles = [p for p in _people(lfw, 1) if len(p[1]) == 1]
    rng.shuffle(singles)
    out.mkdir(parents=True)
    (out / "p").mkdir()
    accounts, photos = [], []
    built = BuiltGallery(out, {}, {}, [])
    chosen = many[:owners]
    companions = many[owners : owners + 4]
    for i, (name, paths) in enumerate(chosen):
        account = f"acc{i:02d}"
        built.owners[account] = name
        built.held_out[account] = paths[4]
        accounts.append(
            {
                "account": account,
                "name": name.replace("_", " "),
                "contacts": {"email": f"{account}@example.org"},
            }
        )
        for j, path in enumerate(paths[:3]):
            target = out / "p" / f"{account}_{j}.jpg"
            if i < len(companions) and j == 2:
                companion = companions[i]
                side_by_side(path, companion[1][0], target)
                built.group_photos[account] = companion[0]
            else:
                shutil.copyfile(path, target)
            photos.append(
                {
                    "account": account,
                    "path": f"p/{target.name}",
                    "kind": "profile" if j == 0 else "post",
                }
            )
    for k, (name, paths) in enumerate(singles[:distractors]):
        account = f"d{k:03d}"
        built.owners[account] = name
        shutil.copyfile(paths[0], out / "p" / f"{account}.jpg")
        accounts.append({"account": account})
        photos.append({"account": account, "path": f"p/{account}.jpg"})
    # The same file posted by a second account: stored and processed once.
    shutil.copyfile(out / "p" / "acc00_0.jpg", out / "p" / "repost.jpg")
    photos.append({"account": "d000", "path": "p/repost.jpg", "caption": "repost"})
    photos.append({"account": "d001", "path": "p/acc00_0.jpg", "caption": "same path"})
    built.duplicate_of = ("acc00", "d000")
    built.strangers = [paths[0] for _, paths in many[owners + 4 : owners + 9]]
    (out / "p" / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    photos.append({"account": "acc01", "path": "p/corrupt.jpg"})
    photos.append({"account": "acc01", "path": "../outside.jpg"})
    built.bad_items = ["p/corrupt.jpg", "photos.jsonl"]
    lines = [json.dumps(a) for a in accounts]
    (out / "accounts.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    photo_lines = [json.dumps(p) for p in photos] + ["{broken json"]
    (out / "photos.jsonl").write_text("\n".join(photo_lines) + "\n", encoding="utf-8")
    return built
