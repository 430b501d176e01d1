"""Which layout an export root is in, decided from what is on disk (``--format`` overrides).

A root matching no layout is refused with what was expected and what was found: an ingest that
reads nothing must never look like a gallery that was loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from nextofkin.errors import ManifestError
from nextofkin.gallery.formats import Export, read_folders, read_manifest
from nextofkin.gallery.importers import gallery_dl, instaloader, telegram, vk_api
from nextofkin.gallery.importers.common import is_image
from nextofkin.i18n import N_, _, ngettext

FORMATS = ("auto", "folders", "manifest", "telegram", "gallery-dl", "instaloader", "vk-api")

READERS: dict[str, Callable[[Path], Export]] = {
    "manifest": read_manifest,
    "telegram": telegram.read_telegram,
    "vk-api": vk_api.read_vk_api,
    "instaloader": instaloader.read_instaloader,
    "gallery-dl": gallery_dl.read_gallery_dl,
    "folders": read_folders,
}

EXPECTED = N_(
    "expected one of: accounts.jsonl (manifest layout); one folder per account holding its "
    "photos (folder layout); a Telegram Desktop JSON export (result.json); a VK API export "
    "(users.json and photos/); an instaloader download (<date>_UTC.json.xz); a gallery-dl "
    "download with --write-metadata (<file>.json beside each file)"
)


def _has_account_folders(root: Path) -> bool:
    for folder in root.iterdir():
        if not folder.is_dir():
            continue
        if (folder / "account.json").is_file() or any(
            p.is_file() and is_image(p) for p in folder.rglob("*")
        ):
            return True
    return False


def _found(root: Path) -> str:
    """A short description of what ROOT holds, for the refusal."""
    entries = sorted(root.iterdir())
    images = [p.name for p in entries if p.is_file() and is_image(p)]
    files = [p.name for p in entries if p.is_file() and not is_image(p)]
    folders = [p.name + "/" for p in entries if p.is_dir()]
    parts = []
    if images:
        parts.append(
            ngettext(
                "%(num)d photo directly in ROOT (e.g. %(example)s)",
                "%(num)d photos directly in ROOT (e.g. %(example)s)",
                len(images),
                example=images[0],
            )
        )
    if files:
        parts.append(
            ngettext(
                "%(num)d other file (%(names)s)",
                "%(num)d other files (%(names)s)",
                len(files),
                names=", ".join(files[:5]),
            )
        )
    if folders:
        shown = ", ".join(folders[:5])
        parts.append(
            ngettext(
                "%(num)d folder without photos or account.json (%(names)s)",
                "%(num)d folders without photos or account.json (%(names)s)",
                len(folders),
                names=shown,
            )
        )
    return "; ".join(parts) or _("an empty folder")


def detect(root: Path) -> str:
    """The layout of ``root``, or :class:`ManifestError` naming what was expected and found."""
    if (root / "accounts.jsonl").exists():
        return "manifest"
    if (root / "photos.jsonl").exists():
        raise ManifestError(
            _(
                "%(root)s has photos.jsonl but no accounts.jsonl: a manifest export "
                "needs accounts.jsonl (one account per line) beside photos.jsonl",
                root=root,
            )
        )
    if telegram.looks_like(root):
        return "telegram"
    if vk_api.looks_like(root):
        return "vk-api"
    if instaloader.looks_like(root):
        return "instaloader"
    if gallery_dl.looks_like(root):
        return "gallery-dl"
    if _has_account_folders(root):
        return "folders"
    raise ManifestError(
        _(
            "%(root)s: no known export layout; %(expected)s; found %(found)s",
            root=root,
            expected=_(EXPECTED),
            found=_found(root),
        )
    )


def read_export(root: Path, layout: str = "auto") -> Export:
    """Read a gallery export in ``layout`` (``auto``: detected from what is on disk)."""
    if not root.is_dir():
        raise ManifestError(_("%(root)s is not a directory", root=root))
    return read_any(root, layout)


def read_any(root: Path, layout: str = "auto") -> Export:
    """Read ``root`` in ``layout`` (``auto``: detected)."""
    if layout not in FORMATS:
        raise ManifestError(
            _(
                "unknown format %(layout)r; one of %(formats)s",
                layout=layout,
                formats=", ".join(FORMATS),
            )
        )
    chosen = detect(root) if layout == "auto" else layout
    if chosen == "manifest" and not (root / "accounts.jsonl").exists():
        raise ManifestError(_("%(root)s has no accounts.jsonl: not a manifest export", root=root))
    return READERS[chosen](root)
