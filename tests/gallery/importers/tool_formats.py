"""Writers of each collection tool's on-disk format, built in code (no downloaded data).

Each mirrors what the tool writes (paths and field names as in its writer code, cited in
docs/FORMATS.md) so the importers are tested against the layout, not against our own reading.
"""

from __future__ import annotations

import io
import json
import lzma
from pathlib import Path
from typing import Any

from PIL import Image


def jpeg(path: Path, shade: int = 128) -> Path:
    """A small real JPEG (content differs by ``shade``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (shade, shade // 2, 255 - shade)).save(buffer, "JPEG")
    path.write_bytes(buffer.getvalue())
    return path


# --- Telegram Desktop (export_output_json.cpp) -----------------------------------------------


def tg_message(
    number: int,
    user: int,
    name: str,
    photo: str | None = None,
    text: Any = "",
    entities: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A "message" as tdesktop serialises it (date, date_unixtime as a string, from, from_id)."""
    message: dict[str, Any] = {
        "id": number,
        "type": "message",
        "date": "2024-05-01T10:00:00",
        "date_unixtime": "1714557600",
        "from": name,
        "from_id": f"user{user}",
    }
    if photo is not None:
        message.update({"photo": photo, "width": 8, "height": 8})
    message["text"] = text
    message["text_entities"] = (
        entities if entities is not None else ([{"type": "plain", "text": text}] if text else [])
    )
    return message


def tg_service(number: int, user: int) -> dict[str, Any]:
    return {
        "id": number,
        "type": "service",
        "date": "2024-05-01T09:00:00",
        "date_unixtime": "1714554000",
        "actor": "Someone",
        "actor_id": f"user{user}",
        "action": "invite_members",
        "members": ["Olena"],
        "text": "",
        "text_entities": [],
    }


def tg_chat(messages: list[dict[str, Any]], name: str = "Family") -> dict[str, Any]:
    return {"name": name, "type": "private_group", "id": 4242, "messages": messages}


def write_tg_single(folder: Path, messages: list[dict[str, Any]]) -> Path:
    """ChatExport_*/result.json plus the photos its messages name."""
    folder.mkdir(parents=True, exist_ok=True)
    for shade, message in enumerate(messages):
        photo = message.get("photo")
        if isinstance(photo, str) and not photo.startswith("("):
            jpeg(folder / photo, shade * 20 % 256)
    result = folder / "result.json"
    result.write_text(json.dumps(tg_chat(messages), ensure_ascii=False, indent=1), "utf-8")
    return result


def write_tg_full(
    folder: Path, contacts: list[dict[str, Any]], chats: list[dict[str, Any]]
) -> Path:
    """DataExport_*/result.json: personal_information, contacts.list[], chats.list[]."""
    folder.mkdir(parents=True, exist_ok=True)
    for chat in chats:
        for message in chat["messages"]:
            photo = message.get("photo")
            if isinstance(photo, str) and not photo.startswith("("):
                jpeg(folder / photo)
    data = {
        "about": "Here is the data you requested.",
        "personal_information": {
            "user_id": 900,
            "first_name": "Team",
            "last_name": "Phone",
            "phone_number": "+380 44 000 00 00",
            "username": "@team_phone",
        },
        "contacts": {"about": "contacts", "list": contacts},
        "frequent_contacts": {"about": "frequent", "list": []},
        "chats": {"about": "chats", "list": chats},
    }
    result = folder / "result.json"
    result.write_text(json.dumps(data, ensure_ascii=False, indent=1), "utf-8")
    return result


# --- instaloader (structures.py save_structure_to_file; instaloader.py file names) ------------


def _xz(path: Path, data: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with lzma.open(path, "wt", check=lzma.CHECK_NONE) as handle:
        json.dump(data, handle, separators=(",", ":"))
    return path


def insta_profile(folder: Path, username: str, user_id: int, full_name: str) -> None:
    """``<username>_<id>.json.xz`` (node_type Profile) and the ``id`` file."""
    node = {
        "id": str(user_id),
        "username": username,
        "full_name": full_name,
        "biography": "Kharkiv",
        "is_private": False,
    }
    _xz(
        folder / f"{username}_{user_id}.json.xz",
        {"node": node, "instaloader": {"version": "4.13", "node_type": "Profile"}},
    )
    (folder / "id").write_text(str(user_id), "utf-8")


def insta_tag(user_id: int | None, username: str, x: float, y: float) -> dict[str, Any]:
    user: dict[str, Any] = {"username": username, "full_name": username.title()}
    if user_id is not None:
        user["id"] = str(user_id)
    return {"node": {"user": user, "x": x, "y": y}}


def insta_post(
    folder: Path,
    stamp: str,
    owner: tuple[int, str],
    shortcode: str,
    caption: str,
    tags: list[dict[str, Any]],
    slides: list[list[dict[str, Any]]] | None = None,
    write_images: bool = True,
) -> Path:
    """``<stamp>_UTC.json.xz`` (node_type Post), its .jpg (or _1, _2 slides) and .txt caption."""
    node: dict[str, Any] = {
        "__typename": "GraphSidecar" if slides else "GraphImage",
        "id": "3100000000000000001",
        "shortcode": shortcode,
        "owner": {"id": str(owner[0]), "username": owner[1]},
        "taken_at_timestamp": 1714557600,
        "edge_media_to_caption": {"edges": [{"node": {"text": caption}}]},
        "edge_media_to_tagged_user": {"edges": tags},
    }
    if slides:
        node["edge_sidecar_to_children"] = {
            "edges": [
                {"node": {"__typename": "GraphImage", "edge_media_to_tagged_user": {"edges": s}}}
                for s in slides
            ]
        }
    path = _xz(
        folder / f"{stamp}_UTC.json.xz",
        {"node": node, "instaloader": {"version": "4.13", "node_type": "Post"}},
    )
    (folder / f"{stamp}_UTC.txt").write_text(caption, "utf-8")
    if write_images:
        if slides:
            for number in range(1, len(slides) + 1):
                jpeg(folder / f"{stamp}_UTC_{number}.jpg", 30 * number)
        else:
            jpeg(folder / f"{stamp}_UTC.jpg", 77)
    return path


# --- gallery-dl (postprocessor/metadata.py: "<file>.json"; extractor/vk.py, instagram.py) -----


def gdl_file(path: Path, metadata: dict[str, Any], write_image: bool = True) -> Path:
    """An image and its ``<name>.<ext>.json`` metadata, indented as the post-processor writes."""
    if write_image:
        jpeg(path, len(path.name) * 7 % 256)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    meta = path.with_name(path.name + ".json")
    meta.write_text(json.dumps(metadata, indent=4, ensure_ascii=False) + "\n", "utf-8")
    return meta


def gdl_vk(user_id: int, handle: str, nick: str, photo_id: int) -> dict[str, Any]:
    """A VK photo's kwdict: the photo fields, ``user`` merged in, category and subcategory."""
    return {
        "id": str(photo_id),
        "url": f"https://sun9-1.userapi.com/impf/{photo_id}.jpg",
        "width": 8,
        "height": 8,
        "user": {"id": str(user_id), "nick": nick, "info": "", "name": handle, "group": False},
        "category": "vk",
        "subcategory": "photos",
        "filename": str(photo_id),
        "extension": "jpg",
    }


def gdl_instagram(
    owner_id: int, username: str, fullname: str, shortcode: str, tagged: list[dict[str, Any]]
) -> dict[str, Any]:
    return {
        "category": "instagram",
        "subcategory": "posts",
        "owner_id": str(owner_id),
        "username": username,
        "fullname": fullname,
        "post_id": "3100000000000000002",
        "post_shortcode": shortcode,
        "post_url": f"https://www.instagram.com/p/{shortcode}/",
        "description": "at grandma's",
        "date": "2024-05-01 10:00:00",
        "tagged_users": tagged,
        "media_id": "3100000000000000002",
        "num": 1,
        "extension": "jpg",
    }


# --- VK API (our documented layout of the API's own responses) --------------------------------


def vk_user(user_id: int, first: str, last: str, **fields: Any) -> dict[str, Any]:
    return {
        "id": user_id,
        "first_name": first,
        "last_name": last,
        "can_access_closed": True,
        "is_closed": False,
        **fields,
    }


def vk_photo(owner: int, photo_id: int, album: int = -7, text: str = "") -> dict[str, Any]:
    return {
        "id": photo_id,
        "album_id": album,
        "owner_id": owner,
        "date": 1714557600,
        "text": text,
        "sizes": [
            {
                "type": "x",
                "width": 8,
                "height": 8,
                "url": f"https://sun9-1.userapi.com/{photo_id}.jpg",
            }
        ],
    }


def write_vk_api(
    root: Path,
    users: list[dict[str, Any]],
    photos: dict[int, list[dict[str, Any]]],
    tags: dict[str, list[dict[str, Any]]] | None = None,
    skip_images: frozenset[str] = frozenset(),
) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "users.json").write_text(json.dumps({"response": users}), "utf-8")
    (root / "photos").mkdir()
    for owner, items in photos.items():
        body = {"response": {"count": len(items), "items": items}}
        (root / "photos" / f"{owner}.json").write_text(json.dumps(body), "utf-8")
        for item in items:
            key = f"{owner}_{item['id']}"
            if key not in skip_images:
                jpeg(root / "images" / f"{key}.jpg", item["id"] % 256)
    for key, items in (tags or {}).items():
        (root / "tags").mkdir(exist_ok=True)
        (root / "tags" / f"{key}.json").write_text(json.dumps({"response": items}), "utf-8")
    return root
