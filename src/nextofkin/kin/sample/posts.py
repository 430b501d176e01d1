"""The photos account holders post in a sample gallery: who is in each, caption, date, tags.

Drawn from the population's random stream, in the population builder's order (a seed gives the
same gallery as before this code was moved out of ``population``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from nextofkin.kin.sample.data import (
    FRIEND_CAPTIONS,
    KIN_CAPTIONS,
    MISLEADING_SOLO,
    NEUTRAL_CAPTIONS,
    NO_FACE_CAPTIONS,
    SELFIE_CAPTIONS,
    SLANG_CAPTIONS,
)
from nextofkin.kin.sample.people import Person, PhotoPlan, weighted


class Posts:
    """Builds every account holder's photo plans."""

    def __init__(
        self,
        rng: random.Random,
        people: dict[str, Person],
        holders: list[str],
        kin: dict[str, dict[str, str]],
        density: float,
    ) -> None:
        self.rng = rng
        self.people = people
        self.account_holders = holders
        self.kin = kin
        self.density = density
        self.start = datetime(2012, 1, 1)
        self.span_days = (datetime(2024, 12, 31) - self.start).days

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
        """Every account holder's photo plans, holder after holder."""
        self.friends = friends
        self.plans: list[PhotoPlan] = []
        for pid in list(self.account_holders):
            self._holder(pid)
        return self.plans

    def _add(
        self,
        poster: _Poster,
        render: str,
        people: list[str],
        topic: str,
        relation: str | None,
        kind: str = "post",
        date: str | None = None,
    ) -> None:
        """One photo of ``poster``'s, unless density thins it out."""
        rng, pid, acc = self.rng, poster.pid, poster.account
        # Sparser galleries keep each post with probability ``density`` (profiles stay).
        if kind != "profile" and rng.random() >= self.density:
            return
        poster.count += 1
        path = f"photos/{acc}/{'profile' if kind == 'profile' else f'{poster.count:03d}'}.jpg"
        tagged = []
        for other in people:
            other_acc = self.people[other].account
            if other != pid and other_acc and rng.random() < 0.3:
                tagged.append(other_acc)
        if rng.random() < 0.02 and self.friends.get(pid):
            stray = self.people[rng.choice(sorted(self.friends[pid]))].account
            if stray and stray not in tagged:
                tagged.append(stray)  # a tag of someone who is not in the photo
        self.plans.append(PhotoPlan(
            account=acc, path=path, kind=kind, render=render, people=people,
            caption=self._caption(poster.me, topic, relation), posted_at=date or self._date(),
            tagged=tagged, topic=topic,
        ))  # fmt: skip

    def _holder(self, pid: str) -> None:
        """One account holder's photos: profile, selfies, family, friends, events, scenes."""
        rng = self.rng
        me = self.people[pid]
        assert me.account is not None
        poster = _Poster(pid, me.account, me)
        relatives = self.kin.get(pid, {})
        spouse = next((o for o, r in relatives.items() if r in ("wife", "husband")), None)
        children = [o for o, r in relatives.items() if r in ("son", "daughter")]
        roll = rng.random()
        if roll < 0.06:
            self._add(poster, "scene", [], "scene", None, kind="profile")
        elif roll < 0.12 and (spouse or children):
            self._add(poster, "profile", [pid, spouse or children[0]], "family", None,
                      kind="profile")  # fmt: skip
        else:
            self._add(poster, "profile", [pid], "solo", None, kind="profile")
        for _ in range(int(weighted(rng, (0, 1, 2), [0.45, 0.45, 0.1]))):
            self._add(poster, "solo", [pid], "solo", None)
        self._with_family(poster, relatives, children)
        mates = sorted(self.friends.get(pid, ()))
        self._with_friends(poster, mates)
        if rng.random() < 0.12:
            # Someone unrelated at the same event: a colleague, a stranger.
            other = rng.choice(self.account_holders)
            if other != pid and other not in relatives and other not in mates:
                self._add(poster, "group", [pid, other], "event", None)
        if rng.random() < 0.2:
            self._add(poster, "scene", [], "scene", None)

    def _with_family(self, poster: _Poster, relatives: dict[str, str], children: list[str]) -> None:
        """Photos with each relative, a family group, and the children on their own."""
        rng, pid = self.rng, poster.pid
        for other in sorted(relatives):
            relation = relatives[other]
            close = relation in ("wife", "husband")
            weights = [0.15, 0.45, 0.3, 0.1] if close else [0.4, 0.45, 0.15, 0.0]
            for _ in range(int(weighted(rng, (0, 1, 2, 3), weights))):
                people = [pid, other]
                if rng.random() < 0.2:
                    third = [o for o in relatives if o != other] + sorted(self.friends.get(pid, ()))
                    if third:
                        people.append(rng.choice(third))
                rng.shuffle(people)
                self._add(poster, "group", people, "family", relation)
        family = sorted(relatives)
        if len(family) >= 2 and rng.random() < 0.35:
            group = [pid, *rng.sample(family, min(len(family), rng.randint(2, 4)))]
            rng.shuffle(group)
            self._add(poster, "group", group, "group", None)
        for child in children:
            if rng.random() < 0.25:
                self._add(poster, "solo", [child], "child", relatives[child])

    def _with_friends(self, poster: _Poster, mates: list[str]) -> None:
        """Photos with each close friend (clustered in a few years), and a friends' group."""
        rng, pid = self.rng, poster.pid
        for other in mates:
            # Friendships are shorter than families: their photos cluster in a few years.
            for _ in range(int(weighted(rng, (0, 1, 2), [0.62, 0.34, 0.04]))):
                start = rng.randint(0, self.span_days - 900)
                people = [pid, other]
                rng.shuffle(people)
                date = self._date(start, start + 900)
                self._add(poster, "group", people, "friends", None, date=date)
        if len(mates) >= 2 and rng.random() < 0.2:
            group = [pid, *rng.sample(mates, min(len(mates), rng.randint(2, 3)))]
            rng.shuffle(group)
            self._add(poster, "group", group, "friends", None)


@dataclass
class _Poster:
    """The account holder whose photos are being planned, and how many are kept so far."""

    pid: str
    account: str
    me: Person
    count: int = 0
