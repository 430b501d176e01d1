"""What sources declare in a sample gallery: relatives on profiles, tags with a position.

VK profiles carry ``relatives`` (child, sibling, parent, grandparent, grandchild) and
``relation_partner``; few people fill them, and those who do list some relatives only, sometimes
with the wrong type or a close friend as a "sister". Instagram tags carry the point where the
poster tapped (on the face or the body below it); VK photo tags carry a box around the person.

Everything here draws from its own random stream (seeded from the gallery's seed), so adding
declared links leaves the people, photos, captions and pictures of a seed as they were: the same
gallery can be scored with and without them.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from nextofkin.kin.sample.compose import PlacedFace
from nextofkin.kin.sample.population import Population

# Share of account holders who fill their relatives list, and who name their partner.
FILLS_RELATIVES = 0.3
NAMES_PARTNER = 0.45
LISTS_EACH_RELATIVE = 0.7  # those who fill the list name some relatives only
WRONG_TYPE = 0.05  # a grandparent listed as a parent, a grandchild as a child, ...
FRIEND_AS_SIBLING = 0.08  # of those who fill it: a close friend listed as a sibling
DANGLING = 0.05  # of those who fill it: a relative whose account is not in the export
TAG_POSITIONED = 0.8  # tags of people in the photo that carry a position
TAG_BOX = 0.3  # of positioned tags: a box (VK) rather than a point (Instagram)

# The VK type of B on A's list, from the truth's relation of A to B.
_MIXED_UP = {"parent": "grandparent", "grandparent": "parent", "child": "grandchild",
             "grandchild": "child", "sibling": "sibling", "partner": "partner"}  # fmt: skip


@dataclass(frozen=True)
class DeclaredRelative:
    """One entry of an account's declared relatives, with what is true of it."""

    account: str  # who declares
    relative: str  # the declared account (may be outside the export)
    type: str  # as declared: child, sibling, parent, grandparent, grandchild, partner
    truth: str  # the true type ("friend" or "none" for noise)


def _true_types(population: Population) -> dict[str, dict[str, str]]:
    """For each person: relative -> what the relative is to them, in VK's vocabulary."""
    out: dict[str, dict[str, str]] = {}
    for a, b, kind in population.relations:
        if kind == "parent":
            out.setdefault(a, {})[b] = "child"
            out.setdefault(b, {})[a] = "parent"
        elif kind == "grandparent":
            out.setdefault(a, {})[b] = "grandchild"
            out.setdefault(b, {})[a] = "grandparent"
        elif kind == "sibling":
            out.setdefault(a, {})[b] = out.setdefault(b, {})[a] = "sibling"
        elif kind == "spouse":
            out.setdefault(a, {})[b] = out.setdefault(b, {})[a] = "partner"
        # In-laws: VK has no type for them, nobody lists them.
    return out


def declare_relatives(population: Population, seed: int) -> list[DeclaredRelative]:
    """Declared relatives of every account, in account order (noise included)."""
    rng = random.Random(seed * 104_729 + 13)
    true_types = _true_types(population)
    people = population.people
    pid_of = {p.account: p.pid for p in people.values() if p.account}
    out: list[DeclaredRelative] = []
    for account in population.accounts:
        pid = pid_of[account]
        fills = rng.random() < FILLS_RELATIVES
        names_partner = rng.random() < NAMES_PARTNER
        for other, kind in sorted(true_types.get(pid, {}).items()):
            acc = people[other].account
            if acc is None:
                continue
            listed = names_partner if kind == "partner" else fills
            if not listed or (kind != "partner" and rng.random() >= LISTS_EACH_RELATIVE):
                continue
            said = _MIXED_UP[kind] if rng.random() < WRONG_TYPE else kind
            out.append(DeclaredRelative(account, acc, said, kind))
        if not fills:
            continue
        mates = sorted(m for m in population.friends.get(pid, ()) if people[m].account)
        if mates and rng.random() < FRIEND_AS_SIBLING:
            friend = people[rng.choice(mates)].account
            assert friend is not None
            out.append(DeclaredRelative(account, friend, "sibling", "friend"))
        if rng.random() < DANGLING:
            out.append(
                DeclaredRelative(account, f"id{rng.randint(10**8, 10**9 - 1)}", "sibling", "none")
            )
    return out


def position_tags(
    tagged: list[str],
    faces: tuple[PlacedFace, ...],
    people_accounts: dict[str, str | None],
    size: tuple[int, int],
    rng: random.Random,
) -> tuple[list[str | dict[str, Any]], list[dict[str, Any]]]:
    """The manifest's ``tagged`` for one photo, most tags of people in it given a position.

    Returns the manifest entries and their truth (``account``, the ``person`` under the tag or
    None for a tag of someone not in the photo, and the form). A point falls on the face or on the
    body below it, as people tap; a box covers head and shoulders, loosely.
    """
    width, height = size
    by_account = {people_accounts[f.person]: f for f in faces if people_accounts[f.person]}
    entries: list[str | dict[str, Any]] = []
    truth: list[dict[str, Any]] = []
    for account in tagged:
        face = by_account.get(account)
        if face is None or rng.random() >= TAG_POSITIONED:
            entries.append(account)
            truth.append({"account": account, "person": face.person if face else None,
                          "form": "plain"})  # fmt: skip
            continue
        left, top, right, bottom = face.box
        w, h = right - left, bottom - top
        if rng.random() < TAG_BOX:
            box = [
                max(0, round(left - w * rng.uniform(0.1, 0.6))),
                max(0, round(top - h * rng.uniform(0.1, 0.4))),
                min(width, round(right + w * rng.uniform(0.1, 0.6))),
                min(height, round(bottom + h * rng.uniform(0.3, 1.2))),
            ]
            entries.append({"account": account, "box": box})
            form = "box"
        else:
            cx = (left + right) / 2 + w * rng.uniform(-0.3, 0.3)
            on_face = rng.random() < 0.4
            cy = (
                (top + bottom) / 2 + h * rng.uniform(-0.3, 0.3)
                if on_face
                else bottom + h * rng.uniform(0.2, 1.2)
            )
            x = min(0.999, max(0.0, cx / width))
            y = min(0.999, max(0.0, cy / height))
            entries.append({"account": account, "x": round(x, 4), "y": round(y, 4)})
            form = "point"
        truth.append({"account": account, "person": face.person, "form": form})
    return entries, truth
