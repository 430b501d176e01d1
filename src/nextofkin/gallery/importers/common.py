"""Small helpers the importers share: reading side files safely and naming positions."""

from __future__ import annotations

import json
import lzma
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nextofkin.errors import ManifestError
from nextofkin.i18n import _
from nextofkin.vision.image_io import IMAGE_SUFFIXES

# An Instagram handle after "@": letters, digits, "_" and inner single dots, at most 30 (as the
# platform allows), not inside a word or an e-mail address.
_MENTION = re.compile(
    r"(?<![\w.@])@([A-Za-z0-9_](?:[A-Za-z0-9_]|\.(?!\.)){0,28}[A-Za-z0-9_]?)", re.ASCII
)


def caption_mentions(caption: str | None) -> list[str]:
    """The handles ``@mentioned`` in a caption, lower-cased, in order, once each."""
    found: list[str] = []
    for match in _MENTION.finditer(caption or ""):
        handle = match.group(1).rstrip(".").lower()
        if handle and handle not in found:
            found.append(handle)
    return found


def rel(root: Path, path: Path) -> str:
    """``path`` relative to ``root``, POSIX style (how items and photos are named)."""
    return path.relative_to(root).as_posix()


def is_image(path: Path) -> bool:
    """Whether ``path`` has an image suffix we ingest."""
    return path.suffix.lower() in IMAGE_SUFFIXES


def read_json_file(path: Path) -> Any:
    """A JSON (or xz-compressed JSON) side file, or :class:`ManifestError` saying where it broke.

    A truncated ``.json.xz`` or a cut JSON file names the byte or line and column it ended at.
    """
    try:
        if path.name.endswith(".xz"):
            with lzma.open(path, "rb") as handle:
                raw = handle.read()
        else:
            raw = path.read_bytes()
    except lzma.LZMAError as exc:
        raise ManifestError(_("not a complete xz file (%(exc)s)", exc=exc)) from exc
    except EOFError as exc:
        raise ManifestError(_("xz stream is truncated (ended before its end marker)")) from exc
    except OSError as exc:
        raise ManifestError(_("cannot read (%(strerror)s)", strerror=exc.strerror or exc)) from exc
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ManifestError(_("not UTF-8 text (byte %(start)s)", start=exc.start)) from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(
            _(
                "not valid JSON: %(msg)s at line %(lineno)s, column %(colno)s",
                msg=exc.msg,
                lineno=exc.lineno,
                colno=exc.colno,
            )
        ) from exc


def text_or_none(value: Any) -> str | None:
    """A non-empty string, or None."""
    if isinstance(value, str) and value.strip():
        return value
    return None


def id_text(value: Any) -> str | None:
    """A platform id (number or digit string) as text, or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return value.strip()
    return None


def iso_from_timestamp(value: Any) -> str | None:
    """A UNIX timestamp as an ISO date-time in UTC, or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        seconds = float(value)
        return datetime.fromtimestamp(seconds, UTC).isoformat()
    except (ValueError, OverflowError, OSError):
        return None


def iso_from_text(value: Any) -> str | None:
    """gallery-dl's ``"YYYY-MM-DD HH:MM:SS"`` (or any ISO text) as ISO, or None."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip()).isoformat()
    except ValueError:
        return None


def as_dict(value: Any) -> dict[str, Any]:
    """``value`` when it is a JSON object, else an empty one (a tool wrote null or a list)."""
    return value if isinstance(value, dict) else {}
