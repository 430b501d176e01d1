"""instaloader profile folders, as instaloader writes them.

``instaloader/structures.py`` (``save_structure_to_file``) stores each post and the profile as
``{"node": {...}, "instaloader": {"version", "node_type"}}``, LZMA-compressed (``.json.xz``) by
default; ``instaloader/instaloader.py`` names a post's files ``<date>_UTC`` (``{date_utc}_UTC``,
slides of a sidecar ``_1``, ``_2`` ...), the profile picture ``<date>_UTC_profile_pic.jpg``, the
profile ``<username>_<id>.json.xz``, and writes the profile id to the file ``id``. A post node
has ``owner`` (``id``, ``username``), ``shortcode``, ``taken_at_timestamp``,
``edge_media_to_caption`` and ``edge_media_to_tagged_user`` (``user`` and its ``x``, ``y`` in
0..1), per slide under ``edge_sidecar_to_children``.

ROOT is one profile folder or a folder of them. Captions (``.txt``), comments, videos and the
``id`` file are read or passed over quietly: they are instaloader's side files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nextofkin.errors import ManifestError
from nextofkin.gallery.formats import MAX_NAME, AccountEntry, Export, ItemProblem, PhotoEntry
from nextofkin.gallery.importers.common import (
    as_dict,
    caption_mentions,
    id_text,
    is_image,
    iso_from_timestamp,
    read_json_file,
    rel,
    text_or_none,
)
from nextofkin.gallery.tags import Tag
from nextofkin.i18n import _

PLATFORM = "instagram"
POST_JSON = re.compile(r"^(?P<stem>.+_UTC)\.json(?:\.xz)?$")
PROFILE_JSON = re.compile(r"^(?P<username>.+)_(?P<id>\d+)\.json(?:\.xz)?$")
SLIDE = re.compile(r"^(?P<stem>.+_UTC)(?:_(?P<slide>\d+))?$")


def _profile_folders(root: Path) -> list[Path]:
    """ROOT itself when it is a profile folder, else its subfolders that are."""
    if _is_profile_folder(root):
        return [root]
    return sorted(p for p in root.iterdir() if p.is_dir() and _is_profile_folder(p))


def _is_profile_folder(folder: Path) -> bool:
    try:
        names = [p.name for p in folder.iterdir() if p.is_file()]
    except OSError:
        return False
    return any(
        POST_JSON.match(n) or n.endswith("_UTC_profile_pic.jpg") or PROFILE_JSON.match(n)
        for n in names
    )


def looks_like(root: Path) -> bool:
    """Whether ROOT is an instaloader download (a profile folder or a folder of them)."""
    return bool(_profile_folders(root))


@dataclass
class _Profile:
    id: str | None = None
    username: str | None = None
    name: str | None = None
    biography: str | None = None
    photos: list[PhotoEntry] = field(default_factory=list)


def _edges(node: dict[str, Any], key: str) -> list[dict[str, Any]]:
    edges = node.get(key)
    items = edges.get("edges") if isinstance(edges, dict) else None
    return [
        e["node"] for e in items or () if isinstance(e, dict) and isinstance(e.get("node"), dict)
    ]


def _caption(node: dict[str, Any]) -> str | None:
    for edge in _edges(node, "edge_media_to_caption"):
        text = text_or_none(edge.get("text"))
        if text:
            return text
    caption = node.get("caption")
    return text_or_none(caption.get("text") if isinstance(caption, dict) else caption)


def _tags(node: dict[str, Any], owner: str | None, ids: dict[str, str]) -> list[Tag]:
    """Tagged users with their point; by id, else by a handle this export knows, else @handle."""
    tags: list[Tag] = []
    for edge in _edges(node, "edge_media_to_tagged_user"):
        user = as_dict(edge.get("user"))
        handle = text_or_none(user.get("username"))
        account = id_text(user.get("id")) or (ids.get(handle.lower()) if handle else None)
        account = account or (f"@{handle}" if handle else None)
        if account is None or account == owner:
            continue
        x, y = edge.get("x"), edge.get("y")
        if (
            isinstance(x, int | float)
            and isinstance(y, int | float)
            and 0 <= x <= 1
            and 0 <= y <= 1
        ):
            tags.append(Tag(account, point=(float(x), float(y))))
        else:
            tags.append(Tag(account))
    return tags


def _mentions(
    tags: list[Tag], caption: str | None, owner: str | None, ids: dict[str, str]
) -> list[Tag]:
    """The tags, then each ``@handle`` of the caption not tagged already, as a tag without a
    position (by the id of a profile this export holds, else ``@handle``), as kin counts a
    mention."""
    out = list(tags)
    seen = {t.account for t in tags}
    for handle in caption_mentions(caption):
        account = ids.get(handle) or f"@{handle}"
        if account not in seen and account != owner:
            seen.add(account)
            out.append(Tag(account))
    return out


class _Folder:
    """One profile folder."""

    def __init__(self, root: Path, folder: Path, problems: list[ItemProblem]) -> None:
        self.root, self.folder, self.problems = root, folder, problems
        self.profile = _Profile()
        files = sorted(p for p in folder.iterdir() if p.is_file())
        self.images = {p.stem: p for p in files if is_image(p)}
        self.post_files = [p for p in files if POST_JSON.match(p.name)]
        self.profile_files = [
            p for p in files if PROFILE_JSON.match(p.name) and not POST_JSON.match(p.name)
        ]
        id_file = folder / "id"
        if id_file.is_file():
            try:
                self.profile.id = id_text(id_file.read_text(encoding="utf-8").strip())
            except (OSError, UnicodeDecodeError):
                self.problems.append(ItemProblem(rel(root, id_file), _("unreadable id file")))

    def read_profile(self) -> None:
        for path in self.profile_files:
            match = PROFILE_JSON.match(path.name)
            assert match is not None
            try:
                data = read_json_file(path)
            except ManifestError as exc:
                self.problems.append(ItemProblem(rel(self.root, path), str(exc)))
                self.profile.id = self.profile.id or match["id"]
                self.profile.username = self.profile.username or match["username"]
                continue
            node = data.get("node") if isinstance(data, dict) else None
            if not isinstance(node, dict):
                continue
            self.profile.id = id_text(node.get("id")) or self.profile.id or match["id"]
            self.profile.username = text_or_none(node.get("username")) or match["username"]
            self.profile.name = text_or_none(node.get("full_name"))
            self.profile.biography = text_or_none(node.get("biography"))
        if self.profile.username is None and self.profile.id is not None:
            self.profile.username = self.folder.name

    def read_posts(self, ids: dict[str, str]) -> None:
        used: set[str] = set()
        for path in self.post_files:
            match = POST_JSON.match(path.name)
            assert match is not None
            stem = match["stem"]
            slides = self._slides(stem)
            used.update(p.stem for p in slides.values())
            item = rel(self.root, path)
            node: dict[str, Any] = {}
            try:
                data = read_json_file(path)
                if isinstance(data, dict) and isinstance(data.get("node"), dict):
                    node = data["node"]
            except ManifestError as exc:
                self.problems.append(
                    ItemProblem(
                        item, _("%(exc)s: its photos are ingested without caption or tags", exc=exc)
                    )
                )
            if not slides:
                self.problems.append(
                    ItemProblem(
                        item, _("post metadata without its photo (%(stem)s.jpg)", stem=stem)
                    )
                )
                continue
            self._add_post(node, slides, ids)
        # Photos without a metadata file (instaloader --no-metadata-json): the profile's posts.
        for stem, path in self.images.items():
            if stem in used:
                continue
            kind = "profile" if stem.endswith("_UTC_profile_pic") else "post"
            self._add(path, kind, None, None, None, [], None)

    def _slides(self, stem: str) -> dict[int, Path]:
        found: dict[int, Path] = {}
        for name, path in self.images.items():
            match = SLIDE.match(name)
            if match and match["stem"] == stem:
                found[int(match["slide"] or 0)] = path
        return found

    def _add_post(self, node: dict[str, Any], slides: dict[int, Path], ids: dict[str, str]) -> None:
        owner_node = as_dict(node.get("owner"))
        owner = id_text(owner_node.get("id")) or self.profile.id
        if self.profile.id is None and owner is not None:
            self.profile.id = owner
            self.profile.username = text_or_none(owner_node.get("username")) or self.folder.name
        shortcode = text_or_none(node.get("shortcode"))
        post_url = f"https://www.instagram.com/p/{shortcode}/" if shortcode else None
        caption = _caption(node)
        posted = iso_from_timestamp(node.get("taken_at_timestamp") or node.get("date"))
        children = _edges(node, "edge_sidecar_to_children")
        for number, path in sorted(slides.items()):
            child = children[number - 1] if 0 < number <= len(children) else node
            tags = _tags(child, owner, ids) or (_tags(node, owner, ids) if child is node else [])
            self._add(path, "post", caption, posted, post_url, _mentions(tags, caption, owner,
                      ids), owner)  # fmt: skip

    def _add(
        self,
        path: Path,
        kind: str,
        caption: str | None,
        posted: str | None,
        post_url: str | None,
        tags: list[Tag],
        owner: str | None,
    ) -> None:
        self.profile.photos.append(
            PhotoEntry(
                account=owner or "",
                rel_path=rel(self.root, path),
                kind=kind,
                caption=caption,
                posted_at=posted,
                tagged=tags,
                post_url=post_url,
                platform=PLATFORM,
            )
        )


def read_instaloader(root: Path) -> Export:
    """Read instaloader profile folders under ``root`` (see the module docstring)."""
    problems: list[ItemProblem] = []
    folders = [_Folder(root, f, problems) for f in _profile_folders(root)]
    for folder in folders:
        folder.read_profile()
    ids = {
        f.profile.username.lower(): f.profile.id
        for f in folders
        if f.profile.username and f.profile.id
    }
    accounts: dict[str, AccountEntry] = {}
    photos: list[PhotoEntry] = []
    for folder in folders:
        folder.read_posts(ids)
        profile = folder.profile
        if profile.id is None:
            problems.append(
                ItemProblem(
                    rel(root, folder.folder) or ".",
                    _(
                        "no profile id (no id file, profile .json.xz or readable post): its "
                        "photos are not ingested",
                    ),
                )
            )
            continue
        extra: dict[str, Any] = {"username": profile.username} if profile.username else {}
        if profile.biography:
            extra["biography"] = profile.biography
        accounts.setdefault(
            profile.id,
            AccountEntry(
                external_id=profile.id,
                platform=PLATFORM,
                name=profile.name[:MAX_NAME] if profile.name else None,
                url=f"https://www.instagram.com/{profile.username}/" if profile.username else None,
                extra=extra,
            ),
        )
        for photo in profile.photos:
            account = photo.account or profile.id
            if account != profile.id and account not in accounts:
                accounts[account] = AccountEntry(external_id=account, platform=PLATFORM)
            photos.append(PhotoEntry(**{**photo.__dict__, "account": account}))
    return Export(root, "instaloader", list(accounts.values()), photos, problems)
