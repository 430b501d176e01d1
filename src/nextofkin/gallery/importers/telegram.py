"""Telegram Desktop's JSON export: one chat (``ChatExport_*``) or an account (``DataExport_*``).

As tdesktop writes it (Telegram/SourceFiles/export/output/export_output_json.cpp): a single chat
is ``{"name", "type", "id", "messages": [...]}``; a full export has ``personal_information``,
``contacts.list[]`` (``user_id``, names, ``phone_number``) and ``chats.list[]`` (and
``left_chats.list[]``) of the same chat objects. A message has ``type`` ("message" or
"service"), ``from`` / ``from_id`` ("user<id>", "channel<id>"), ``photo`` (a path relative to
the export folder, or a placeholder such as "(File not included. ...)"), ``text`` and
``text_entities`` (``mention_name`` with ``user_id``, ``mention`` "@name").

The file is streamed (``ijson``): memory grows with the number of photos and people kept, never
with the size of result.json.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import ijson

from nextofkin.errors import PathEscapesRoot
from nextofkin.gallery.formats import (
    MAX_NAME,
    AccountEntry,
    Export,
    ItemProblem,
    PhotoEntry,
    safe_relative,
)
from nextofkin.gallery.importers.common import id_text, iso_from_timestamp, rel, text_or_none
from nextofkin.gallery.tags import Tag
from nextofkin.i18n import _, ngettext

PLATFORM = "telegram"
RESULT = "result.json"
MESSAGE_PREFIXES = frozenset(
    {"messages.item", "chats.list.item.messages.item", "left_chats.list.item.messages.item"}
)
CONTACT_PREFIX = "contacts.list.item"
SELF_PREFIX = "personal_information"
CHAT_NAME_PREFIXES = frozenset({"name", "chats.list.item.name", "left_chats.list.item.name"})


def result_files(root: Path) -> list[Path]:
    """``ROOT/result.json``, or the result.json of each export folder directly under ROOT."""
    if (root / RESULT).is_file():
        return [root / RESULT]
    return sorted(p / RESULT for p in root.iterdir() if p.is_dir() and (p / RESULT).is_file())


def looks_like(root: Path) -> bool:
    """Whether ROOT holds a Telegram Desktop JSON export (checked on the file's first bytes)."""
    for path in result_files(root):
        try:
            with path.open("rb") as handle:
                head = handle.read(4096)
        except OSError:
            continue
        if b'"messages"' in head or b'"personal_information"' in head or b'"about"' in head:
            return True
    return False


@dataclass
class _Person:
    name: str | None = None
    contacts: dict[str, str] = field(default_factory=dict)


@dataclass
class _Counts:
    placeholders: int = 0
    not_people: int = 0


def _objects(handle: BinaryIO, wanted: frozenset[str]) -> Iterator[tuple[str, Any]]:
    """(prefix, value) of every object at a wanted prefix, and chat names, in file order."""
    builder: ijson.ObjectBuilder | None = None
    prefix_of_item = ""
    depth = 0
    for prefix, event, value in ijson.parse(handle, use_float=True):
        if builder is None:
            if event == "start_map" and prefix in wanted:
                builder, prefix_of_item, depth = ijson.ObjectBuilder(), prefix, 0
            elif event == "string" and prefix in CHAT_NAME_PREFIXES:
                yield "name", value
                continue
            else:
                continue
        builder.event(event, value)
        if event in ("start_map", "start_array"):
            depth += 1
        elif event in ("end_map", "end_array"):
            depth -= 1
            if depth == 0:
                yield prefix_of_item, builder.value
                builder = None


def _flat_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        parts = [p if isinstance(p, str) else str(p.get("text", "")) for p in value if p]
        return "".join(parts) or None
    return None


def _tags(message: dict[str, Any], sender: str) -> list[Tag]:
    """People named in the message: ``mention_name`` by user id, ``@mentions`` by handle."""
    tags: list[Tag] = []
    entities = message.get("text_entities")
    if not isinstance(entities, list):
        text = message.get("text")
        entities = text if isinstance(text, list) else []
    for entity in entities:
        if not isinstance(entity, dict):
            continue
        kind = entity.get("type")
        if kind == "mention_name":
            user = id_text(entity.get("user_id"))
            if user and user != sender:
                tags.append(Tag(user))
        elif kind == "mention":
            handle = text_or_none(entity.get("text"))
            if handle and handle.startswith("@") and len(handle) > 1:
                tags.append(Tag(handle))
    return list(dict.fromkeys(tags))


def _photo_path(message: dict[str, Any]) -> str | None:
    """The message's photo: ``photo``, or an image sent as a file (not a sticker)."""
    photo = message.get("photo")
    if isinstance(photo, str):
        return photo
    file = message.get("file")
    mime = message.get("mime_type")
    if (
        isinstance(file, str)
        and isinstance(mime, str)
        and mime.startswith("image/")
        and "media_type" not in message
    ):
        return file
    return None


class _Reader:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.people: dict[str, _Person] = {}
        self.photos: list[PhotoEntry] = []
        self.seen: set[tuple[str, str]] = set()
        self.problems: list[ItemProblem] = []
        self.counts = _Counts()

    def person(self, user: str) -> _Person:
        return self.people.setdefault(user, _Person())

    def read(self, result: Path) -> None:
        where = rel(self.root, result)
        base = result.parent
        chat = "?"
        last_id: Any = None
        wanted = MESSAGE_PREFIXES | {CONTACT_PREFIX, SELF_PREFIX}
        with result.open("rb") as handle:
            try:
                for prefix, value in _objects(handle, wanted):
                    if prefix == "name":
                        chat = str(value)
                    elif prefix in (CONTACT_PREFIX, SELF_PREFIX):
                        self.contact(value, self_info=prefix == SELF_PREFIX)
                    elif isinstance(value, dict):
                        last_id = value.get("id", last_id)
                        self.message(value, base, where, chat)
            except (ijson.JSONError, UnicodeDecodeError) as exc:
                after = (
                    _("after message %(id)s", id=last_id)
                    if last_id is not None
                    else _("before any message")
                )
                self.problems.append(
                    ItemProblem(
                        f"{where}:near byte {handle.tell()}",
                        _(
                            "the file ends or breaks %(after)s in chat %(chat)r (%(exc)s): "
                            "everything before it is ingested, nothing after",
                            after=after,
                            chat=chat,
                            exc=str(exc).splitlines()[0],
                        ),
                    )
                )

    def contact(self, data: Any, self_info: bool) -> None:
        if not isinstance(data, dict):
            return
        user = id_text(data.get("user_id"))
        if user is None or user == "0":
            return
        person = self.person(user)
        names = [text_or_none(data.get("first_name")), text_or_none(data.get("last_name"))]
        name = " ".join(n for n in names if n)
        if name:
            person.name = name[:MAX_NAME]
        phone = text_or_none(data.get("phone_number"))
        if phone:
            person.contacts["phone"] = phone
        username = text_or_none(data.get("username"))
        if self_info and username:
            person.contacts["telegram"] = username

    def message(self, message: dict[str, Any], base: Path, where: str, chat: str) -> None:
        if message.get("type") != "message":
            return  # service messages (joins, pins, calls) carry no post
        path = _photo_path(message)
        if path is None:
            return
        if path.startswith("("):
            self.counts.placeholders += 1  # "(File not included. ...)": not downloaded
            return
        sender = str(message.get("from_id") or "")
        if not sender.startswith("user") or id_text(sender[4:]) is None:
            self.counts.not_people += 1  # a channel's or group's own post: not a person
            return
        user = sender[4:]
        item = f"{where}:message {message.get('id')}"
        try:
            rel_path = safe_relative(self.root, rel(self.root, base / path) if path else "")
        except (PathEscapesRoot, ValueError) as exc:
            self.problems.append(
                ItemProblem(item, _("photo path %(path)r: %(exc)s", path=path, exc=exc))
            )
            return
        if not (self.root / rel_path).is_file():
            self.problems.append(
                ItemProblem(
                    item,
                    _(
                        "photo %(rel_path)s named in chat %(chat)r is not there",
                        rel_path=rel_path,
                        chat=chat,
                    ),
                )
            )
            return
        person = self.person(user)
        name = text_or_none(message.get("from"))
        if name and person.name is None:
            person.name = name[:MAX_NAME]
        if (user, rel_path) in self.seen:
            return
        self.seen.add((user, rel_path))
        self.photos.append(
            PhotoEntry(
                account=user,
                rel_path=rel_path,
                caption=_flat_text(message.get("text")),
                posted_at=iso_from_timestamp(message.get("date_unixtime")),
                tagged=_tags(message, user),
                platform=PLATFORM,
            )
        )

    def export(self) -> Export:
        accounts = [
            AccountEntry(
                external_id=user,
                platform=PLATFORM,
                name=person.name,
                contacts=dict(person.contacts),
                extra={"telegram_id": user},
            )
            for user, person in sorted(self.people.items())
        ]
        problems = list(self.problems)
        if self.counts.placeholders:
            problems.append(
                ItemProblem(
                    RESULT,
                    ngettext(
                        "%(num)d photo not in the export (Telegram wrote 'File not "
                        "included' / 'unavailable'): export again with photos to add it",
                        "%(num)d photos not in the export (Telegram wrote 'File not "
                        "included' / 'unavailable'): export again with photos to add them",
                        self.counts.placeholders,
                    ),
                )
            )
        if self.counts.not_people:
            problems.append(
                ItemProblem(
                    f"{RESULT}:channels",
                    ngettext(
                        "%(num)d photo posted by a channel or group itself, not by a "
                        "person: not ingested",
                        "%(num)d photos posted by a channel or group itself, not by a "
                        "person: not ingested",
                        self.counts.not_people,
                    ),
                )
            )
        return Export(self.root, "telegram", accounts, self.photos, problems)


def read_telegram(root: Path) -> Export:
    """Read every Telegram Desktop JSON export under ``root`` (see the module docstring)."""
    reader = _Reader(root)
    for result in result_files(root):
        reader.read(result)
    return reader.export()
