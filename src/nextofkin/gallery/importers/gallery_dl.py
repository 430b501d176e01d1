"""gallery-dl downloads with ``--write-metadata`` (and ``--write-info-json``).

gallery-dl's metadata post-processor (``gallery_dl/postprocessor/metadata.py``) writes each
file's metadata as JSON to ``<file name>.<ext>.json`` beside it, and ``--write-info-json`` the
directory's metadata to ``info.json``; every record carries ``category`` (the site). Files lie in
``gallery-dl/<category>/<user>/`` (each extractor's ``directory_fmt``). Read fields, per site:

* ``vk`` (``gallery_dl/extractor/vk.py``): ``user.id`` (the account), ``user.nick`` (the page
  title: the person's name), ``user.name`` (the handle), ``id`` (the photo id), ``date``,
  ``description``; the post URL is ``https://vk.com/photo<user id>_<id>``.
* ``instagram`` (``gallery_dl/extractor/instagram.py``): ``owner_id`` (the account),
  ``username``, ``fullname``, ``description``, ``date``, ``post_url`` / ``post_shortcode``,
  ``tagged_users[]`` (``id``, ``username``); subcategory ``avatar`` is the profile picture.

ROOT may be the tool root or any folder below it: the metadata, not the folder, says whose a
photo is. Other sites, ``info.json``, ``data.jsonl`` and files without an image suffix are the
tool's side files and are not reported one by one.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from nextofkin.errors import ManifestError
from nextofkin.gallery.formats import MAX_NAME, AccountEntry, Export, ItemProblem, PhotoEntry
from nextofkin.gallery.importers.common import (
    as_dict,
    caption_mentions,
    id_text,
    is_image,
    iso_from_text,
    iso_from_timestamp,
    read_json_file,
    rel,
    text_or_none,
)
from nextofkin.gallery.tags import Tag
from nextofkin.i18n import _, ngettext

SITES = {"vk": "vk", "instagram": "instagram"}
SIDE_FILES = frozenset({"info.json", "data.jsonl"})
SCAN_LIMIT = 2000  # files looked at to recognise the layout


def _metadata_target(path: Path) -> Path | None:
    """The file a ``<file>.json`` describes, when its name says it describes an image."""
    if path.suffix != ".json" or path.name in SIDE_FILES:
        return None
    target = path.with_suffix("")
    return target if is_image(target) else None


def looks_like(root: Path) -> bool:
    """Whether ROOT holds gallery-dl metadata files (``<image>.json`` with a ``category``)."""
    for count, path in enumerate(root.rglob("*.json")):
        if count > SCAN_LIMIT:
            break
        if _metadata_target(path) is None:
            continue
        try:
            data = read_json_file(path)
        except ManifestError:
            continue
        if isinstance(data, dict) and "category" in data:
            return True
    return False


def _date(data: dict[str, Any]) -> str | None:
    value = data.get("date") or data.get("post_date")
    if isinstance(value, int | float):
        return iso_from_timestamp(value)
    return iso_from_text(value)


def _vk(data: dict[str, Any], rel_path: str) -> tuple[AccountEntry, PhotoEntry] | None:
    user = as_dict(data.get("user"))
    account = id_text(user.get("id"))
    if account is None or account.startswith("-") or user.get("group") is True:
        return None
    handle = text_or_none(user.get("name"))
    name = text_or_none(user.get("nick"))
    photo_id = id_text(data.get("id"))
    entry = AccountEntry(
        external_id=account,
        platform="vk",
        name=name[:MAX_NAME] if name else None,
        url=f"https://vk.com/{handle or 'id' + account}",
        extra={"username": handle} if handle else {},
    )
    photo = PhotoEntry(
        account=account,
        rel_path=rel_path,
        caption=text_or_none(data.get("description")) or text_or_none(data.get("desc")),
        posted_at=_date(data),
        post_url=f"https://vk.com/photo{account}_{photo_id}" if photo_id else None,
        platform="vk",
    )
    return entry, photo


def _instagram(data: dict[str, Any], rel_path: str) -> tuple[AccountEntry, PhotoEntry] | None:
    account = id_text(data.get("owner_id"))
    if account is None:
        return None
    handle = text_or_none(data.get("username"))
    name = text_or_none(data.get("fullname"))
    shortcode = text_or_none(data.get("post_shortcode"))
    post_url = text_or_none(data.get("post_url")) or (
        f"https://www.instagram.com/p/{shortcode}/" if shortcode else None
    )
    tags: list[Tag] = []
    known: set[str] = set()
    handle_of_owner = handle.lower() if handle else None
    for user in data.get("tagged_users") or ():
        if not isinstance(user, dict):
            continue
        other = id_text(user.get("id"))
        other_handle = text_or_none(user.get("username"))
        tagged = other or (f"@{other_handle}" if other_handle else None)
        if tagged and tagged != account:
            tags.append(Tag(tagged))
        if other_handle:
            known.add(other_handle.lower())
    # An @handle in the description names someone too (kin counts a mention like a tag).
    for handle in caption_mentions(text_or_none(data.get("description"))):
        if handle not in known and handle != (handle_of_owner or ""):
            tags.append(Tag(f"@{handle}"))
    entry = AccountEntry(
        external_id=account,
        platform="instagram",
        name=name[:MAX_NAME] if name else None,
        url=f"https://www.instagram.com/{handle}/" if handle else None,
        extra={"username": handle} if handle else {},
    )
    photo = PhotoEntry(
        account=account,
        rel_path=rel_path,
        kind="profile" if data.get("subcategory") == "avatar" else "post",
        caption=text_or_none(data.get("description")),
        posted_at=_date(data),
        tagged=tags,
        post_url=post_url,
        platform="instagram",
    )
    return entry, photo


def _merge(old: AccountEntry, new: AccountEntry) -> AccountEntry:
    return AccountEntry(
        **{
            **old.__dict__,
            "name": old.name or new.name,
            "url": old.url or new.url,
            "extra": {**new.extra, **old.extra},
        }
    )


def read_gallery_dl(root: Path) -> Export:
    """Read a gallery-dl download under ``root`` (see the module docstring)."""
    problems: list[ItemProblem] = []
    accounts: dict[tuple[str, str], AccountEntry] = {}
    photos: list[PhotoEntry] = []
    described: set[Path] = set()
    other_sites: Counter[str] = Counter()
    files = sorted(p for p in root.rglob("*") if p.is_file())
    for path in files:
        target = _metadata_target(path)
        if target is None:
            continue
        described.add(target)
        item = rel(root, path)
        try:
            data = read_json_file(path)
        except ManifestError as exc:
            problems.append(ItemProblem(item, _("%(exc)s: its photo is not ingested", exc=exc)))
            continue
        if not isinstance(data, dict):
            problems.append(ItemProblem(item, _("not a gallery-dl metadata object")))
            continue
        site = str(data.get("category") or "")
        if site not in SITES:
            other_sites[site or "?"] += 1
            continue
        if not target.is_file():
            problems.append(
                ItemProblem(item, _("metadata without its file (%(name)s)", name=target.name))
            )
            continue
        read = (_vk if site == "vk" else _instagram)(data, rel(root, target))
        if read is None:
            problems.append(
                ItemProblem(
                    item,
                    _("no %(site)s user id in the metadata: the photo is not ingested", site=site),
                )
            )
            continue
        entry, photo = read
        key = (SITES[site], entry.external_id)
        accounts[key] = _merge(accounts[key], entry) if key in accounts else entry
        photos.append(photo)
    problems += _left_out(root, files, described, other_sites)
    return Export(root, "gallery-dl", list(accounts.values()), photos, problems)


def _left_out(
    root: Path, files: list[Path], described: set[Path], other_sites: Counter[str]
) -> list[ItemProblem]:
    """Photos no metadata describes, and one line per site gallery-dl read that we do not."""
    problems: list[ItemProblem] = []
    for path in files:
        if is_image(path) and path not in described:
            problems.append(
                ItemProblem(
                    rel(root, path),
                    _(
                        "no gallery-dl metadata beside it (<file>.json; run gallery-dl with "
                        "--write-metadata): not ingested",
                    ),
                )
            )
    for site, count in sorted(other_sites.items()):
        problems.append(
            ItemProblem(
                f"gallery-dl:{site}",
                ngettext(
                    "%(num)d file from site %(site)r: only vk and instagram are read",
                    "%(num)d files from site %(site)r: only vk and instagram are read",
                    count,
                    site=site,
                ),
            )
        )
    return problems
