"""The records of a sample gallery's population: face-set identities, people, photo plans."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from nextofkin.kin.sample.data import City, FirstName, Surname

T = TypeVar("T")

# Family relation types in the ground truth (directed "parent": a is b's parent).
FAMILY_TYPES = ("parent", "sibling", "spouse", "grandparent", "in_law")


@dataclass
class Identity:
    """One folder of the face set: a real person's photos, used for one synthetic person."""

    name: str
    photos: list[Path]
    gender: str


@dataclass
class Person:
    """A synthetic person, shown by the photos of one identity."""

    pid: str
    identity: Identity
    gender: str
    lang: str
    first: FirstName
    surname: Surname
    maiden: Surname | None
    city: City
    born: int
    family: int
    account: str | None = None
    next_photo: int = 0
    photo_order: list[int] = field(default_factory=list)

    def take_photo(self, rng: random.Random) -> tuple[Path, bool]:
        """The next of this person's photos, disjoint from earlier picks until they run out.

        After the photos run out they are reused, mirrored the other way than last time.
        """
        photos = self.identity.photos
        if not self.photo_order:
            self.photo_order = list(range(len(photos)))
            rng.shuffle(self.photo_order)
        turn, slot = divmod(self.next_photo, len(photos))
        self.next_photo += 1
        flip = (turn % 2 == 1) != (self.photo_order[slot] % 2 == 1)
        return photos[self.photo_order[slot]], flip


@dataclass
class PhotoPlan:
    """One photo to post: who posts it, who is in it (in paste order), caption, date, tags."""

    account: str
    path: str
    kind: str  # "profile" or "post"
    render: str  # "group", "solo", "profile" or "scene"
    people: list[str]
    caption: str
    posted_at: str
    tagged: list[str]
    topic: str  # why the photo exists: "family", "friends", "solo", "child", "scene", ...


@dataclass
class Population:
    """Everyone, every relation, every account and every photo plan."""

    people: dict[str, Person]
    relations: list[tuple[str, str, str]]  # (a, b, type); "parent": a is b's parent
    friends: dict[str, set[str]]
    accounts: dict[str, dict[str, object]]  # manifest rows, in order
    photos: list[PhotoPlan]
    dangling: int


def weighted(rng: random.Random, items: tuple[T, ...], weights: list[float]) -> T:
    """One of ``items``, drawn with ``weights``."""
    return rng.choices(items, weights=weights, k=1)[0]
