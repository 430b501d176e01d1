"""People tagged in a photo and relatives an account declares: typed, and their stored JSON.

``photos.tagged`` holds a JSON list whose items are an account id (the old form, still valid), a
point ``{"account", "x", "y"}`` in 0..1 of the image width and height (as instaloader's tagged
users), a box ``{"account", "box": [left, top, right, bottom]}`` in pixels, or a frame
``{"account", "frame": [left, top, right, bottom]}`` in 0..1 of the width and height (VK's
``photos.getTags`` rectangle, given in percent: the importer does not open the image to learn its
size). ``accounts.relatives`` holds ``[{"account", "type"}]``. Readers go through
:func:`parse_tags` and :func:`parse_relatives`, which skip malformed items instead of failing:
a stored row written by an older or a newer version must never stop a search or a kin view.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

# VK's relative types (users.get "relatives[].type") plus the partner of relation_partner.
RELATIVE_TYPES = frozenset(
    {"parent", "child", "sibling", "grandparent", "grandchild", "partner", "relative"}
)


@dataclass(frozen=True)
class Tag:
    """One person tagged in a photo; ``point`` (x, y in 0..1), ``box`` (pixels) or ``frame`` (a
    box in 0..1) when known."""

    account: str
    point: tuple[float, float] | None = None
    box: tuple[float, float, float, float] | None = None
    frame: tuple[float, float, float, float] | None = None

    @property
    def positioned(self) -> bool:
        """Whether the tag says where in the photo the person is."""
        return self.point is not None or self.box is not None or self.frame is not None

    def to_json(self) -> str | dict[str, Any]:
        """The stored form: a bare id when there is no position (the pre-issue-13 form)."""
        if self.point is not None:
            return {"account": self.account, "x": self.point[0], "y": self.point[1]}
        if self.box is not None:
            return {"account": self.account, "box": list(self.box)}
        if self.frame is not None:
            return {"account": self.account, "frame": list(self.frame)}
        return self.account


@dataclass(frozen=True)
class Relative:
    """A relative the platform declares: their account id on the same platform and the type."""

    account: str
    type: str

    def to_json(self) -> dict[str, str]:
        """The stored form."""
        return {"account": self.account, "type": self.type}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def parse_tag(value: Any) -> Tag | None:
    """One stored or exported tag, or None when it is not one of the three forms."""
    if isinstance(value, str | int) and not isinstance(value, bool):
        text = str(value).strip()
        return Tag(text) if text else None
    if not isinstance(value, dict):
        return None
    account = value.get("account")
    if not isinstance(account, str | int) or isinstance(account, bool) or str(account) == "":
        return None
    x, y = _number(value.get("x")), _number(value.get("y"))
    if x is not None and y is not None and 0.0 <= x <= 1.0 and 0.0 <= y <= 1.0:
        return Tag(str(account), point=(x, y))
    box = _rectangle(value.get("box"))
    if box is not None:
        return Tag(str(account), box=box)
    frame = _rectangle(value.get("frame"))
    if frame is not None and min(frame) >= 0.0 and max(frame) <= 1.0:
        return Tag(str(account), frame=frame)
    return Tag(str(account))


def _rectangle(value: Any) -> tuple[float, float, float, float] | None:
    """[left, top, right, bottom] with right > left and bottom > top, else None."""
    if not isinstance(value, list) or len(value) != 4:
        return None
    numbers = [_number(v) for v in value]
    if any(n is None for n in numbers):
        return None
    left, top, right, bottom = (float(n or 0.0) for n in numbers)
    return (left, top, right, bottom) if right > left and bottom > top else None


def parse_tags(values: Iterable[Any] | None) -> list[Tag]:
    """Every readable tag of a stored or exported list, in order, one per account."""
    seen: set[str] = set()
    tags: list[Tag] = []
    for value in values or ():
        tag = parse_tag(value)
        if tag is not None and tag.account not in seen:
            seen.add(tag.account)
            tags.append(tag)
    return tags


def tagged_accounts(values: Iterable[Any] | None) -> list[str]:
    """Only the account ids of a stored ``tagged`` list (old and new forms alike)."""
    return [tag.account for tag in parse_tags(values)]


def parse_relatives(values: Iterable[Any] | None) -> list[Relative]:
    """Every readable relative of a stored or exported list, one per (account, type)."""
    seen: set[tuple[str, str]] = set()
    relatives: list[Relative] = []
    for value in values or ():
        if not isinstance(value, dict):
            continue
        account, kind = value.get("account"), value.get("type")
        if not isinstance(account, str | int) or isinstance(account, bool) or str(account) == "":
            continue
        kind_text = str(kind) if isinstance(kind, str) and kind else "relative"
        key = (str(account), kind_text)
        if key not in seen:
            seen.add(key)
            relatives.append(Relative(*key))
    return relatives
