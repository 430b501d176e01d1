"""Who the demo's dead person is: an account holder of a sample gallery with a relative to tell.

The sample gallery's ``truth.json`` says who is whose relative and which face-set photos it
used; a photo of the person that no gallery image used becomes the post-mortem probe, so the
search finds the person only by their face.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nextofkin.errors import InputError
from nextofkin.i18n import gettext


@dataclass(frozen=True)
class Casting:
    """The demo's person and the relative the family message goes to."""

    account: str  # external id in the sample gallery
    name: str
    photo: Path  # a face-set photo of the person that no gallery image used
    relative: str | None  # account of the relative to notify (a mother first), if any
    relative_is: str | None  # what the relative is to the person ("mother", "father", ...)


def choose_person(root: Path, faces: Path, seed: int) -> Casting:
    """An account holder with a held-out photo, preferring one whose mother has an account."""
    truth: dict[str, Any] = json.loads((root / "truth.json").read_text(encoding="utf-8"))
    people: dict[str, dict[str, Any]] = truth["people"]
    used = {f["source"] for photo in truth["photos"] for f in photo["faces"]}
    parents: dict[str, list[str]] = {}
    for relation in truth["relations"]:
        if relation["type"] == "parent" and people[relation["a"]].get("account"):
            parents.setdefault(relation["b"], []).append(relation["a"])
    options: list[tuple[int, str, Path]] = []
    for pid, person in sorted(people.items()):
        if not person.get("account"):
            continue
        # photos[0] of every identity may be a background patch: never the probe.
        spare = [
            p for p in sorted((faces / person["identity"]).iterdir())[1:] if p.name not in used
        ]
        if spare:
            mother = any(people[p]["gender"] == "f" for p in parents.get(pid, []))
            options.append((2 if mother else 1 if pid in parents else 0, pid, spare[0]))
    if not options:
        raise InputError(
            gettext("no account holder in %(root)s has a photo the gallery did not use", root=root)
        )
    best = max(rank for rank, _, _ in options)
    _, pid, photo = random.Random(seed).choice([o for o in options if o[0] == best])
    relative, relative_is = _relative(people, parents.get(pid, []))
    person = people[pid]
    return Casting(person["account"], person["name"], photo, relative, relative_is)


def _relative(
    people: dict[str, dict[str, Any]], parents: list[str]
) -> tuple[str | None, str | None]:
    for gender, word in (("f", "mother"), ("m", "father")):
        for pid in parents:
            if people[pid]["gender"] == gender:
                return str(people[pid]["account"]), word
    return None, None
