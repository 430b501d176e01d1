"""The people of a sample gallery: families, friends, names, accounts and who is in which photo.

Everything here is drawn from one ``random.Random(seed)`` in a fixed order, so a seed gives the
same population every time. Images are rendered separately (``compose``) from per-photo seeds.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from nextofkin.errors import InputError
from nextofkin.i18n import gettext
from nextofkin.kin.sample.data import (
    CITIES,
    FIRST_NAMES,
    LFW_FEMALE_FIRST_NAMES,
    SURNAMES,
    City,
    Surname,
)
from nextofkin.kin.sample.people import (
    FAMILY_TYPES,
    Identity,
    Person,
    PhotoPlan,
    Population,
)
from nextofkin.kin.sample.people import weighted as _weighted
from nextofkin.kin.sample.posts import Posts
from nextofkin.kin.sample.profiles import Profiles

__all__ = [
    "FAMILY_TYPES",
    "Identity",
    "Person",
    "PhotoPlan",
    "Population",
    "build_population",
    "load_identities",
]

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


def load_identities(faces: Path) -> list[Identity]:
    """Identity folders of a face set (``DIR/<Name>/<photos>``), sorted by name."""
    if not faces.is_dir():
        raise InputError(gettext("face set folder not found: %(faces)s", faces=faces))
    out = []
    for folder in sorted(p for p in faces.iterdir() if p.is_dir()):
        photos = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        if photos:
            first = folder.name.split("_")[0]
            gender = "f" if first in LFW_FEMALE_FIRST_NAMES else "m"
            out.append(Identity(folder.name, photos, gender))
    if not out:
        raise InputError(gettext("no identity folders with images under %(faces)s", faces=faces))
    return out


class _Pools:
    """Identities by gender; people with accounts get those with several photos first."""

    def __init__(self, identities: list[Identity], rng: random.Random) -> None:
        self.multi: dict[str, list[Identity]] = {"m": [], "f": []}
        self.single: dict[str, list[Identity]] = {"m": [], "f": []}
        for identity in identities:
            by_gender = self.multi if len(identity.photos) >= 2 else self.single
            by_gender[identity.gender].append(identity)
        for pool in (*self.multi.values(), *self.single.values()):
            rng.shuffle(pool)
        self.backgrounds = list(identities)

    def female_share(self) -> float:
        f = len(self.multi["f"]) + len(self.single["f"])
        m = len(self.multi["m"]) + len(self.single["m"])
        return f / max(1, f + m)

    def take(self, gender: str, with_account: bool) -> Identity:
        order = (self.multi, self.single) if with_account else (self.single, self.multi)
        for pool in order:
            if pool[gender]:
                return pool[gender].pop()
        other = "m" if gender == "f" else "f"
        for pool in order:
            if pool[other]:
                return pool[other].pop()
        raise InputError(gettext("the face set has too few identities for this many accounts"))


@dataclass
class _Household:
    """The family being drawn: its parents, the children so far, and what they share."""

    parents: list[Person]
    children: list[Person]
    surname: Surname
    city: City
    born: int
    female: float  # share of women among the face set's identities


class _Builder:
    def __init__(
        self, identities: list[Identity], n_accounts: int, seed: int, density: float = 1.0
    ) -> None:
        self.rng = random.Random(seed)
        self.density = density
        self.n_accounts = n_accounts
        self.pools = _Pools(identities, self.rng)
        self.people: dict[str, Person] = {}
        self.relations: list[tuple[str, str, str]] = []
        self.account_holders: list[str] = []

    # -- people -----------------------------------------------------------------------------

    def _lang(self, city: City) -> str:
        if city.country == "UA":
            return str(_weighted(self.rng, ("uk", "ru", "en"), [0.5, 0.32, 0.18]))
        if city.country == "PL":
            return str(_weighted(self.rng, ("uk", "en"), [0.5, 0.5]))
        return str(_weighted(self.rng, ("ru", "en"), [0.82, 0.18]))

    def _city(self) -> City:
        return _weighted(self.rng, CITIES, [c.weight for c in CITIES])

    def _surname(self) -> Surname:
        return _weighted(self.rng, SURNAMES, [s.weight for s in SURNAMES])

    def person(
        self,
        gender: str,
        family: int,
        surname: Surname,
        city: City,
        born: int,
        *,
        account_p: float,
        maiden: Surname | None = None,
    ) -> Person:
        wants_account = (
            len(self.account_holders) < self.n_accounts and self.rng.random() < account_p
        )
        identity = self.pools.take(gender, wants_account)
        names = [n for n in FIRST_NAMES if n.gender == identity.gender]
        person = Person(
            pid=f"p{len(self.people) + 1:05d}",
            identity=identity,
            gender=identity.gender,
            lang=self._lang(city),
            first=self.rng.choice(names),
            surname=surname,
            maiden=maiden,
            city=city,
            born=born,
            family=family,
        )
        self.people[person.pid] = person
        if wants_account:
            self.account_holders.append(person.pid)
        return person

    def relate(self, a: Person, b: Person, kind: str) -> None:
        self.relations.append((a.pid, b.pid, kind))

    def family(self, fid: int) -> None:
        """One family: a single person, a couple, or parents with children (and theirs)."""
        rng = self.rng
        city = self._city()
        surname = self._surname()
        roll = rng.random()
        female = self.pools.female_share()
        if roll < 0.1:
            gender = "f" if rng.random() < female else "m"
            self.person(gender, fid, surname, city, rng.randint(1955, 2000), account_p=1.0)
            return
        born = rng.randint(1950, 1975)
        parents = self._parents(fid, surname, city, born, roll)
        if roll < 0.2:
            return  # a couple without children in the gallery
        n_children = int(_weighted(rng, (1, 2, 3), [0.4, 0.4, 0.2]))
        children: list[Person] = []
        for i in range(n_children):
            self._child(fid, i, _Household(parents, children, surname, city, born, female))

    def _parents(
        self, fid: int, surname: Surname, city: City, born: int, roll: float
    ) -> list[Person]:
        """A father, a mother or both (married: she usually takes his surname)."""
        rng = self.rng
        parents: list[Person] = []
        two = roll < 0.2 or rng.random() < 0.7
        if two or rng.random() < 0.5:
            parents.append(self.person("m", fid, surname, city, born, account_p=0.8))
        if two or not parents:
            keeps = rng.random() < 0.15
            maiden = self._surname()
            mother = self.person(
                "f", fid, maiden if keeps else surname, city, born + rng.randint(-4, 3),
                account_p=0.8, maiden=None if keeps else maiden,
            )  # fmt: skip
            if parents:
                self.relate(parents[0], mother, "spouse")
            parents.append(mother)
        return parents

    def _child(self, fid: int, i: int, home: _Household) -> None:
        """The ``i``-th child, related to the parents and earlier children; perhaps married."""
        rng = self.rng
        gender = "f" if rng.random() < home.female else "m"
        child_city = home.city if rng.random() < 0.7 else self._city()
        child_born = min(home.born + rng.randint(20, 34) + 2 * i, 2006)
        married = child_born < 1996 and rng.random() < 0.35
        child_surname, child_maiden = home.surname, None
        spouse_surname = self._surname()
        if married and gender == "f" and rng.random() < 0.8:
            child_surname, child_maiden = spouse_surname, home.surname
        child = self.person(
            gender, fid, child_surname, child_city, child_born, account_p=0.88,
            maiden=child_maiden,
        )  # fmt: skip
        for parent in home.parents:
            self.relate(parent, child, "parent")
        for sibling in home.children:
            self.relate(sibling, child, "sibling")
        home.children.append(child)
        if married:
            self._marry(fid, child, gender, spouse_surname, home)

    def _marry(
        self, fid: int, child: Person, gender: str, spouse_surname: Surname, home: _Household
    ) -> None:
        """A married child's spouse (an in-law of the parents) and perhaps their children;
        ``gender`` is the one the child was drawn with (the identity's may differ)."""
        rng = self.rng
        child_city, child_born = child.city, child.born
        if gender == "m":
            keeps = rng.random() < 0.15
            spouse = self.person(
                "f", fid, spouse_surname if keeps else home.surname, child_city,
                child_born + rng.randint(-3, 3), account_p=0.8,
                maiden=None if keeps else spouse_surname,
            )  # fmt: skip
        else:
            spouse = self.person(
                "m", fid, spouse_surname, child_city, child_born + rng.randint(-2, 5),
                account_p=0.8,
            )  # fmt: skip
        self.relate(child, spouse, "spouse")
        for parent in home.parents:
            self.relate(parent, spouse, "in_law")
        if rng.random() < 0.35:
            for _ in range(rng.randint(1, 2)):
                g_gender = "f" if rng.random() < home.female else "m"
                grandchild = self.person(
                    g_gender, fid, child.surname if gender == "m" else spouse_surname,
                    child_city, min(child_born + rng.randint(20, 30), 2010), account_p=0.5,
                )  # fmt: skip
                self.relate(child, grandchild, "parent")
                self.relate(spouse, grandchild, "parent")
                for parent in home.parents:
                    self.relate(parent, grandchild, "grandparent")

    def build_people(self) -> None:
        fid = 0
        while len(self.account_holders) < self.n_accounts:
            fid += 1
            self.family(fid)

    # -- relations seen from one person -----------------------------------------------------

    def kin_of(self) -> dict[str, dict[str, str]]:
        """For each person: relative -> what the relative is to them ("mother", "son", …)."""
        out: dict[str, dict[str, str]] = defaultdict(dict)
        for a, b, kind in self.relations:
            pa, pb = self.people[a], self.people[b]
            if kind == "parent":
                out[b][a] = "mother" if pa.gender == "f" else "father"
                out[a][b] = "daughter" if pb.gender == "f" else "son"
            elif kind == "grandparent":
                out[b][a] = "grandmother" if pa.gender == "f" else "grandfather"
                out[a][b] = "granddaughter" if pb.gender == "f" else "grandson"
            elif kind == "sibling":
                out[b][a] = "sister" if pa.gender == "f" else "brother"
                out[a][b] = "sister" if pb.gender == "f" else "brother"
            elif kind == "spouse":
                out[b][a] = "wife" if pa.gender == "f" else "husband"
                out[a][b] = "wife" if pb.gender == "f" else "husband"
            else:
                out[a][b] = out[b][a] = "in_law"
        return out

    def build_friends(self) -> dict[str, set[str]]:
        """Close friends (symmetric), mostly in the same city and of a similar age."""
        rng = self.rng
        friends: dict[str, set[str]] = defaultdict(set)
        holders = list(self.account_holders)
        by_city: dict[str, list[str]] = defaultdict(list)
        for pid in holders:
            by_city[self.people[pid].city.latin[0]].append(pid)
        target = {pid: rng.randint(1, 4) for pid in holders}
        for pid in holders:
            me = self.people[pid]
            tries = 0
            while len(friends[pid]) < target[pid] and tries < 40:
                tries += 1
                pool = by_city[me.city.latin[0]] if rng.random() < 0.7 else holders
                other = rng.choice(pool)
                them = self.people[other]
                if (
                    other == pid
                    or them.family == me.family
                    or abs(them.born - me.born) > 14
                    or len(friends[other]) > target[other] + 1
                ):
                    continue
                friends[pid].add(other)
                friends[other].add(pid)
        # A few friends without accounts: they appear in photos and resolve to nobody.
        for pid in holders:
            if rng.random() < 0.3:
                me = self.people[pid]
                gender = "f" if rng.random() < 0.3 else "m"
                extra = self.person(gender, -1, self._surname(), me.city, me.born, account_p=0.0)
                friends[pid].add(extra.pid)
                friends[extra.pid].add(pid)
        return friends

    # -- accounts ---------------------------------------------------------------------------

    # -- photos -----------------------------------------------------------------------------


def build_population(
    identities: list[Identity], n_accounts: int, seed: int, density: float = 1.0
) -> Population:
    """Families, friends, accounts and photo plans for ``n_accounts`` accounts.

    ``density`` (0, 1] thins the posts (not the profile photos): 1.0 gives about 7 posts per
    account, 0.5 about half as many, for galleries that must ingest quickly.
    """
    usable = sum(1 for i in identities if len(i.photos) >= 2)
    if n_accounts < 1 or n_accounts > len(identities) * 0.8:
        raise InputError(
            gettext(
                "cannot make %(n_accounts)s accounts from %(n_identities)s identities "
                "(%(usable)s with several photos): use at most %(value)s",
                n_accounts=n_accounts,
                n_identities=len(identities),
                usable=usable,
                value=int(len(identities) * 0.8),
            )
        )
    if not 0 < density <= 1:
        raise InputError(gettext("density must be in (0, 1], not %(density)s", density=density))
    builder = _Builder(identities, n_accounts, seed, density)
    builder.build_people()
    friends = builder.build_friends()
    holders = builder.account_holders
    profiles = Profiles(builder.rng, builder.people, holders, builder.kin_of())
    accounts, dangling = profiles.build_accounts(friends)
    posts = Posts(builder.rng, builder.people, holders, builder.kin_of(), density)
    photos = posts.build_photos(friends)
    return Population(
        people=builder.people,
        relations=builder.relations,
        friends=friends,
        accounts=accounts,
        photos=photos,
        dangling=dangling,
    )
