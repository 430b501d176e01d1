"""VK API JSON: the layout for teams that collect with the VK API (docs/FORMATS.md, section 6).

Responses are stored as the API returns them (``{"response": ...}``, or the bare value):

    ROOT/users.json                        users.get (fields relatives, relation, city, domain)
    ROOT/photos/<owner_id>.json            photos.getAll of one user (items with id, album_id,
                                           date, text)
    ROOT/tags/<owner_id>_<photo_id>.json   photos.getTags of one photo (optional)
    ROOT/friends/<user_id>.json            friends.get of one user (optional)
    ROOT/images/<owner_id>_<photo_id>.jpg  the downloaded photo (any image suffix)

VK's ``relatives[]`` and ``relation_partner`` become declared relatives, a tag's rectangle
(``x, y, x2, y2`` in percent of the photo) a tag with that frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nextofkin.errors import ManifestError
from nextofkin.gallery.formats import (
    MAX_CITY,
    MAX_NAME,
    AccountEntry,
    Export,
    ItemProblem,
    PhotoEntry,
)
from nextofkin.gallery.importers.common import (
    id_text,
    is_image,
    iso_from_timestamp,
    read_json_file,
    rel,
    text_or_none,
)
from nextofkin.gallery.tags import RELATIVE_TYPES, Relative, Tag
from nextofkin.i18n import _

PLATFORM = "vk"
PROFILE_ALBUM = -6  # VK's album of profile pictures


def looks_like(root: Path) -> bool:
    """Whether ROOT is a VK API export: users.json beside a photos/ folder."""
    return (root / "users.json").is_file() and (root / "photos").is_dir()


def _response(data: Any) -> Any:
    return data.get("response") if isinstance(data, dict) and "response" in data else data


def _items(data: Any) -> list[Any]:
    value = _response(data)
    if isinstance(value, dict):
        value = value.get("items")
    return value if isinstance(value, list) else []


def _relatives(user: dict[str, Any]) -> list[Relative]:
    relatives: list[Relative] = []
    for relative in user.get("relatives") or ():
        if not isinstance(relative, dict):
            continue
        other = id_text(relative.get("id"))
        if other is None or other.startswith("-") or other == "0":
            continue  # a relative VK knows by name only (no account)
        kind = str(relative.get("type") or "relative")
        relatives.append(Relative(other, kind if kind in RELATIVE_TYPES else "relative"))
    partner = user.get("relation_partner")
    if isinstance(partner, dict):
        other = id_text(partner.get("id"))
        if other and not other.startswith("-"):
            relatives.append(Relative(other, "partner"))
    return relatives


def _account(user: dict[str, Any]) -> AccountEntry | None:
    user_id = id_text(user.get("id"))
    if user_id is None or user_id.startswith("-"):
        return None
    names = [text_or_none(user.get("first_name")), text_or_none(user.get("last_name"))]
    name = " ".join(n for n in names if n) or None
    city = user.get("city")
    contacts = {
        key: str(user[field])
        for key, field in (("phone", "mobile_phone"), ("home_phone", "home_phone"))
        if text_or_none(user.get(field))
    }
    handle = text_or_none(user.get("domain")) or text_or_none(user.get("screen_name"))
    friends_field = user.get("friends")
    return AccountEntry(
        external_id=user_id,
        platform=PLATFORM,
        name=name[:MAX_NAME] if name else None,
        url=f"https://vk.com/{handle or 'id' + user_id}",
        city=(text_or_none(city.get("title")) or "")[:MAX_CITY] or None
        if isinstance(city, dict)
        else None,
        contacts=contacts,
        friends=[f for f in (id_text(v) for v in friends_field or ()) if f]
        if isinstance(friends_field, list)
        else [],
        relatives=_relatives(user),
        extra={"username": handle} if handle else {},
    )


def _tags(path: Path, root: Path, problems: list[ItemProblem]) -> list[Tag]:
    if not path.is_file():
        return []
    try:
        items = _items(read_json_file(path))
    except ManifestError as exc:
        problems.append(ItemProblem(rel(root, path), str(exc)))
        return []
    tags: list[Tag] = []
    for item in items:
        if not isinstance(item, dict):
            continue
        user = id_text(item.get("user_id"))
        if user is None or user == "0":
            continue
        box = [item.get(k) for k in ("x", "y", "x2", "y2")]
        if all(isinstance(v, int | float) and 0 <= v <= 100 for v in box):
            x, y, x2, y2 = (float(v) / 100.0 for v in box)  # type: ignore[arg-type]
            # The rectangle itself, not its centre: a loose one still covers the face.
            tags.append(Tag(user, frame=(x, y, x2, y2)) if x2 > x and y2 > y else Tag(user))
        else:
            tags.append(Tag(user))
    return tags


def _image_files(root: Path) -> dict[str, Path]:
    folder = root / "images"
    if not folder.is_dir():
        return {}
    return {p.stem: p for p in sorted(folder.iterdir()) if p.is_file() and is_image(p)}


def read_vk_api(root: Path) -> Export:
    """Read a VK API export (see the module docstring)."""
    problems: list[ItemProblem] = []
    accounts = _vk_accounts(root, problems)
    images = _image_files(root)
    used: set[str] = set()
    photos: list[PhotoEntry] = []
    for path in sorted((root / "photos").glob("*.json")):
        where = rel(root, path)
        try:
            items = _items(read_json_file(path))
        except ManifestError as exc:
            problems.append(
                ItemProblem(where, _("%(exc)s: none of its photos are ingested", exc=exc))
            )
            continue
        for number, photo in enumerate(items, start=1):
            made = _photo_entry(
                photo, f"{where}:item {number}", path, root, images, accounts, problems
            )
            if made is not None:
                used.add(made[0])
                photos.append(made[1])
    for key, image in images.items():
        if key not in used:
            problems.append(
                ItemProblem(rel(root, image), _("no photos.getAll record names this photo"))
            )
    return Export(root, "vk-api", list(accounts.values()), photos, problems)


def _vk_accounts(root: Path, problems: list[ItemProblem]) -> dict[str, AccountEntry]:
    """The users of ``users.json`` by id, with the friend lists of ``friends/<id>.json``."""
    accounts: dict[str, AccountEntry] = {}
    try:
        users = _items(read_json_file(root / "users.json"))
    except ManifestError as exc:
        problems.append(ItemProblem("users.json", str(exc)))
        users = []
    for number, user in enumerate(users, start=1):
        entry = _account(user) if isinstance(user, dict) else None
        if entry is None:
            problems.append(ItemProblem(f"users.json:user {number}", _("not a VK user record")))
            continue
        accounts.setdefault(entry.external_id, entry)
    for path in sorted((root / "friends").glob("*.json")) if (root / "friends").is_dir() else []:
        listed = accounts.get(path.stem)
        try:
            ids = [f for f in (id_text(v) for v in _items(read_json_file(path))) if f]
        except ManifestError as exc:
            problems.append(ItemProblem(rel(root, path), str(exc)))
            continue
        if listed is not None:
            accounts[path.stem] = AccountEntry(
                **{**listed.__dict__, "friends": list(dict.fromkeys([*listed.friends, *ids]))}
            )
    return accounts


def _photo_entry(
    photo: object,
    item: str,
    path: Path,
    root: Path,
    images: dict[str, Path],
    accounts: dict[str, AccountEntry],
    problems: list[ItemProblem],
) -> tuple[str, PhotoEntry] | None:
    """One ``photos.getAll`` record as (its image key, its posting), or None with a problem."""
    if not isinstance(photo, dict):
        problems.append(ItemProblem(item, _("not a photo record")))
        return None
    owner, photo_id = id_text(photo.get("owner_id")), id_text(photo.get("id"))
    owner = owner or id_text(path.stem)
    if owner is None or photo_id is None or owner.startswith("-"):
        problems.append(ItemProblem(item, _("needs a user's owner_id and the photo id")))
        return None
    key = f"{owner}_{photo_id}"
    image = images.get(key)
    if image is None:
        problems.append(ItemProblem(item, _("photo images/%(key)s.* is not there", key=key)))
        return None
    if owner not in accounts:
        accounts[owner] = AccountEntry(external_id=owner, platform=PLATFORM)
    album = photo.get("album_id")
    return key, PhotoEntry(
        account=owner,
        rel_path=rel(root, image),
        kind="profile" if album == PROFILE_ALBUM else "post",
        caption=text_or_none(photo.get("text")),
        posted_at=iso_from_timestamp(photo.get("date")),
        tagged=[
            t for t in _tags(root / "tags" / f"{key}.json", root, problems) if t.account != owner
        ],
        post_url=f"https://vk.com/photo{key}",
        platform=PLATFORM,
    )
