"""The people of a sample gallery: families, friends, names, accounts and who is in which photo.

Everything here is drawn from one ``random.Random(seed)`` in a fixed order, so a seed gives the
same population every time. Images are rendered separately (``compose``) from per-photo seeds.
"""

from __future__ import annotations

import random
import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TypeVar

from nextofkin.errors import InputError
from nextofkin.i18n import gettext
from nextofkin.kin.sample.data import (
    CITIES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    FRIEND_CAPTIONS,
    KIN_CAPTIONS,
    LFW_FEMALE_FIRST_NAMES,
    MISLEADING_SOLO,
    NEUTRAL_CAPTIONS,
    NO_FACE_CAPTIONS,
    SELFIE_CAPTIONS,
    SLANG_CAPTIONS,
    SURNAMES,
    UA_OPERATORS,
    City,
    FirstName,
    Surname,
)
from nextofkin.kin.translit import transliterate

T = TypeVar("T")

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}

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


def _weighted(rng: random.Random, items: tuple[T, ...], weights: list[float]) -> T:
    return rng.choices(items, weights=weights, k=1)[0]


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
        self.start = datetime(2012, 1, 1)
        self.span_days = (datetime(2024, 12, 31) - self.start).days

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
        parents: list[Person] = []
        born = rng.randint(1950, 1975)
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
        if roll < 0.2:
            return  # a couple without children in the gallery
        n_children = int(_weighted(rng, (1, 2, 3), [0.4, 0.4, 0.2]))
        children: list[Person] = []
        for i in range(n_children):
            gender = "f" if rng.random() < female else "m"
            child_city = city if rng.random() < 0.7 else self._city()
            child_born = min(born + rng.randint(20, 34) + 2 * i, 2006)
            married = child_born < 1996 and rng.random() < 0.35
            child_surname, child_maiden = surname, None
            spouse_surname = self._surname()
            if married and gender == "f" and rng.random() < 0.8:
                child_surname, child_maiden = spouse_surname, surname
            child = self.person(
                gender, fid, child_surname, child_city, child_born, account_p=0.88,
                maiden=child_maiden,
            )  # fmt: skip
            for parent in parents:
                self.relate(parent, child, "parent")
            for sibling in children:
                self.relate(sibling, child, "sibling")
            children.append(child)
            if not married:
                continue
            if gender == "m":
                keeps = rng.random() < 0.15
                spouse = self.person(
                    "f", fid, spouse_surname if keeps else surname, child_city,
                    child_born + rng.randint(-3, 3), account_p=0.8,
                    maiden=None if keeps else spouse_surname,
                )  # fmt: skip
            else:
                spouse = self.person(
                    "m", fid, spouse_surname, child_city, child_born + rng.randint(-2, 5),
                    account_p=0.8,
                )  # fmt: skip
            self.relate(child, spouse, "spouse")
            for parent in parents:
                self.relate(parent, spouse, "in_law")
            if rng.random() < 0.35:
                for _ in range(rng.randint(1, 2)):
                    g_gender = "f" if rng.random() < female else "m"
                    grandchild = self.person(
                        g_gender, fid, child_surname if gender == "m" else spouse_surname,
                        child_city, min(child_born + rng.randint(20, 30), 2010), account_p=0.5,
                    )  # fmt: skip
                    self.relate(child, grandchild, "parent")
                    self.relate(spouse, grandchild, "parent")
                    for parent in parents:
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

    def _display(self, p: Person) -> str:
        rng = self.rng
        lang = "uk" if p.lang == "uk" else "ru"
        first = p.first.uk if lang == "uk" else p.first.ru
        short = p.first.uk_short if lang == "uk" else p.first.ru_short
        last = p.surname.form(p.gender, lang)
        scheme = "uk" if lang == "uk" else str(rng.choice(["ru", "loose"]))
        roll = rng.random()
        if roll < 0.1:  # a nickname: no surname at all, or an initial
            nick = transliterate(short, scheme)  # type: ignore[arg-type]
            if rng.random() < 0.5:
                return f"{nick} {transliterate(last, scheme)[0]}."  # type: ignore[arg-type]
            return f"{nick.lower()}_{p.born % 100:02d}"
        cyrillic = roll < 0.45 if p.lang != "en" else roll < 0.2
        name = f"{first} {last}"
        if cyrillic and rng.random() < 0.12:
            name = f"{last} {first}"
        if not cyrillic:
            name = transliterate(name, scheme)  # type: ignore[arg-type]
        if p.maiden is not None and rng.random() < 0.3:
            maiden = p.maiden.form(p.gender, lang)
            name += f" ({maiden if cyrillic else transliterate(maiden, scheme)})"  # type: ignore[arg-type]
        return name

    def _city_text(self, city: City, lang: str) -> str:
        roll = self.rng.random()
        if roll < 0.35:
            return city.uk if lang == "uk" else city.ru
        if roll < 0.5 and len(city.latin) > 1:
            return city.latin[1]
        return city.latin[0]

    def _phone(self, country: str) -> str:
        r = self.rng
        digits = "".join(str(r.randint(0, 9)) for _ in range(7))
        if country == "UA":
            return f"+380 {r.choice(UA_OPERATORS)} {digits[:3]} {digits[3:5]} {digits[5:]}"
        if country == "BY":
            return f"+375 {r.choice(['29', '33', '44'])} {digits[:3]}-{digits[3:5]}-{digits[5:]}"
        if country == "RU":
            return f"+7 9{r.randint(10, 99)} {digits[:3]}-{digits[3:5]}-{digits[5:]}"
        return f"+48 5{r.randint(0, 9)}{r.randint(0, 9)} {digits[:3]} {digits[3:6]}"

    def build_accounts(
        self, friends: dict[str, set[str]]
    ) -> tuple[dict[str, dict[str, object]], int]:
        rng = self.rng
        used: set[str] = set()
        for pid in self.account_holders:
            p = self.people[pid]
            first = re.sub(
                r"[^a-z]", "", transliterate(p.first.uk if p.lang == "uk" else p.first.ru).lower()
            )
            last = re.sub(
                r"[^a-z]",
                "",
                transliterate(p.surname.form(p.gender, "uk" if p.lang == "uk" else "ru")).lower(),
            )
            while True:
                style = rng.random()
                if style < 0.35:
                    handle = f"id{rng.randint(10**8, 10**9 - 1)}"
                elif style < 0.7:
                    suffix = rng.choice(["", str(p.born % 100), str(rng.randint(1, 999))])
                    handle = f"{first}.{last}{suffix}"
                else:
                    handle = f"{first[0]}{last}{rng.randint(1, 99)}"
                if handle not in used:
                    used.add(handle)
                    break
            p.account = handle
        kin = self.kin_of()
        accounts: dict[str, dict[str, object]] = {}
        dangling = 0
        holder_ids = [self.people[pid].account for pid in self.account_holders]
        for pid in self.account_holders:
            p = self.people[pid]
            assert p.account is not None
            row: dict[str, object] = {"account": p.account, "name": self._display(p)}
            row["url"] = f"https://social.example/{p.account}"
            if rng.random() < 0.8:
                row["city"] = self._city_text(p.city, p.lang)
            contacts: dict[str, str] = {}
            local = p.account if not p.account.startswith("id") else f"{p.first.uk_short}{p.born}"
            local = re.sub(r"[^a-z0-9._]", "", transliterate(local).lower()) or "user"
            if rng.random() < 0.7:
                contacts["email"] = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
            if rng.random() < 0.55:
                contacts["phone"] = self._phone(p.city.country)
            if rng.random() < 0.45:
                contacts["telegram"] = "@" + local.replace(".", "_")
            row["contacts"] = contacts
            # The exported friend list: gaps (private lists, missed friends), noise (people
            # barely known), and ids of accounts that are not in the export.
            listed: list[str] = []
            if rng.random() >= 0.15:
                for other in sorted(friends.get(pid, ())):
                    acc = self.people[other].account
                    if acc and rng.random() < 0.75:
                        listed.append(acc)
                for other in sorted(kin.get(pid, {})):
                    acc = self.people[other].account
                    if acc and rng.random() < 0.55:
                        listed.append(acc)
                for _ in range(rng.randint(0, 10)):
                    acc = rng.choice(holder_ids)
                    if acc and acc != p.account:
                        listed.append(acc)
                for _ in range(rng.choice([0, 0, 0, 1, 2])):
                    listed.append(f"id{rng.randint(10**8, 10**9 - 1)}")
                    dangling += 1
                listed = sorted(set(listed))
                rng.shuffle(listed)
            row["friends"] = listed
            accounts[p.account] = row
        return accounts, dangling

    # -- photos -----------------------------------------------------------------------------

    def _date(self, lo: int = 0, hi: int | None = None) -> str:
        day = self.rng.randint(lo, self.span_days if hi is None else hi)
        moment = self.start + timedelta(days=day, seconds=self.rng.randint(8 * 3600, 23 * 3600))
        return moment.isoformat()

    def _lang_of(self, p: Person) -> str:
        if self.rng.random() < 0.85:
            return p.lang
        return str(self.rng.choice(["ru", "uk", "en"]))

    def _caption(self, poster: Person, topic: str, relation: str | None) -> str:
        rng = self.rng
        lang = self._lang_of(poster)
        roll = rng.random()
        if topic == "family" and relation:
            if roll < 0.5:
                return str(rng.choice(KIN_CAPTIONS[relation][lang]))
        elif topic == "group":
            if roll < 0.45:
                return str(rng.choice(KIN_CAPTIONS["family"][lang]))
        elif topic == "child" and relation:
            if roll < 0.6:
                return str(rng.choice(KIN_CAPTIONS[relation][lang]))
        elif topic == "friends":
            if roll < 0.35:
                return str(rng.choice(FRIEND_CAPTIONS[lang]))
            if roll < 0.42:
                return str(rng.choice(SLANG_CAPTIONS[lang]))
        elif topic == "solo":
            if roll < 0.04:
                return str(rng.choice(MISLEADING_SOLO[lang]))
            if roll < 0.5:
                return str(rng.choice(SELFIE_CAPTIONS[lang]))
        elif topic == "scene":
            return str(rng.choice(NO_FACE_CAPTIONS[lang])) if roll < 0.7 else ""
        if rng.random() < 0.5:
            return str(rng.choice(NEUTRAL_CAPTIONS[lang]))
        return ""

    def build_photos(self, friends: dict[str, set[str]]) -> list[PhotoPlan]:
        rng = self.rng
        kin = self.kin_of()
        plans: list[PhotoPlan] = []
        holders = list(self.account_holders)
        for pid in holders:
            me = self.people[pid]
            acc = me.account
            assert acc is not None
            count = 0

            def add(
                render: str,
                people: list[str],
                topic: str,
                relation: str | None,
                kind: str = "post",
                date: str | None = None,
                *,
                acc: str = acc,
                pid: str = pid,
                me: Person = me,
            ) -> None:
                nonlocal count
                # Sparser galleries keep each post with probability ``density`` (profiles stay).
                if kind != "profile" and rng.random() >= self.density:
                    return
                count += 1
                path = f"photos/{acc}/{'profile' if kind == 'profile' else f'{count:03d}'}.jpg"
                tagged = []
                for other in people:
                    other_acc = self.people[other].account
                    if other != pid and other_acc and rng.random() < 0.3:
                        tagged.append(other_acc)
                if rng.random() < 0.02 and friends.get(pid):
                    stray = self.people[rng.choice(sorted(friends[pid]))].account
                    if stray and stray not in tagged:
                        tagged.append(stray)  # a tag of someone who is not in the photo
                plans.append(PhotoPlan(
                    account=acc, path=path, kind=kind, render=render, people=people,
                    caption=self._caption(me, topic, relation), posted_at=date or self._date(),
                    tagged=tagged, topic=topic,
                ))  # fmt: skip

            relatives = kin.get(pid, {})
            spouse = next((o for o, r in relatives.items() if r in ("wife", "husband")), None)
            children = [o for o, r in relatives.items() if r in ("son", "daughter")]
            roll = rng.random()
            if roll < 0.06:
                add("scene", [], "scene", None, kind="profile")
            elif roll < 0.12 and (spouse or children):
                add("profile", [pid, spouse or children[0]], "family", None, kind="profile")
            else:
                add("profile", [pid], "solo", None, kind="profile")
            for _ in range(int(_weighted(rng, (0, 1, 2), [0.45, 0.45, 0.1]))):
                add("solo", [pid], "solo", None)
            for other in sorted(relatives):
                relation = relatives[other]
                close = relation in ("wife", "husband")
                weights = [0.15, 0.45, 0.3, 0.1] if close else [0.4, 0.45, 0.15, 0.0]
                for _ in range(int(_weighted(rng, (0, 1, 2, 3), weights))):
                    people = [pid, other]
                    if rng.random() < 0.2:
                        third = [o for o in relatives if o != other] + sorted(friends.get(pid, ()))
                        if third:
                            people.append(rng.choice(third))
                    rng.shuffle(people)
                    add("group", people, "family", relation)
            family = sorted(relatives)
            if len(family) >= 2 and rng.random() < 0.35:
                group = [pid, *rng.sample(family, min(len(family), rng.randint(2, 4)))]
                rng.shuffle(group)
                add("group", group, "group", None)
            for child in children:
                if rng.random() < 0.25:
                    add("solo", [child], "child", relatives[child])
            mates = sorted(friends.get(pid, ()))
            for other in mates:
                # Friendships are shorter than families: their photos cluster in a few years.
                for _ in range(int(_weighted(rng, (0, 1, 2), [0.62, 0.34, 0.04]))):
                    start = rng.randint(0, self.span_days - 900)
                    people = [pid, other]
                    rng.shuffle(people)
                    add("group", people, "friends", None, date=self._date(start, start + 900))
            if len(mates) >= 2 and rng.random() < 0.2:
                group = [pid, *rng.sample(mates, min(len(mates), rng.randint(2, 3)))]
                rng.shuffle(group)
                add("group", group, "friends", None)
            if rng.random() < 0.12:
                # Someone unrelated at the same event: a colleague, a stranger.
                other = rng.choice(holders)
                if other != pid and other not in relatives and other not in mates:
                    add("group", [pid, other], "event", None)
            if rng.random() < 0.2:
                add("scene", [], "scene", None)
        return plans


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
    accounts, dangling = builder.build_accounts(friends)
    photos = builder.build_photos(friends)
    return Population(
        people=builder.people,
        relations=builder.relations,
        friends=friends,
        accounts=accounts,
        photos=photos,
        dangling=dangling,
    )
