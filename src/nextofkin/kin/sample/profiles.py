"""Account holders' profiles in a sample gallery: handles, display names, cities, contacts and
the exported friend lists (with their gaps and noise).

Drawn from the population's random stream, in the population builder's order (a seed gives the
same gallery as before this code was moved out of ``population``).
"""

from __future__ import annotations

import random
import re

from nextofkin.kin.sample.data import EMAIL_DOMAINS, UA_OPERATORS, City
from nextofkin.kin.sample.people import Person
from nextofkin.kin.translit import transliterate


class Profiles:
    """Builds the manifest's account rows."""

    def __init__(
        self,
        rng: random.Random,
        people: dict[str, Person],
        holders: list[str],
        kin: dict[str, dict[str, str]],
    ) -> None:
        self.rng = rng
        self.people = people
        self.account_holders = holders
        self.kin = kin
        self.dangling = 0

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
        """The manifest's account rows, in holder order, and how many friend-list entries name
        accounts that are not in the export."""
        self._handles()
        accounts: dict[str, dict[str, object]] = {}
        self.dangling = 0
        holder_ids = [self.people[pid].account for pid in self.account_holders]
        for pid in self.account_holders:
            p = self.people[pid]
            assert p.account is not None
            row: dict[str, object] = {"account": p.account, "name": self._display(p)}
            row["url"] = f"https://social.example/{p.account}"
            if self.rng.random() < 0.8:
                row["city"] = self._city_text(p.city, p.lang)
            row["contacts"] = self._contacts(p)
            row["friends"] = self._friend_list(pid, friends, holder_ids)
            accounts[p.account] = row
        return accounts, self.dangling

    def _handles(self) -> None:
        """Each holder's account id: numeric, or built from the name as people choose them."""
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

    def _contacts(self, p: Person) -> dict[str, str]:
        rng = self.rng
        assert p.account is not None
        contacts: dict[str, str] = {}
        local = p.account if not p.account.startswith("id") else f"{p.first.uk_short}{p.born}"
        local = re.sub(r"[^a-z0-9._]", "", transliterate(local).lower()) or "user"
        if rng.random() < 0.7:
            contacts["email"] = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
        if rng.random() < 0.55:
            contacts["phone"] = self._phone(p.city.country)
        if rng.random() < 0.45:
            contacts["telegram"] = "@" + local.replace(".", "_")
        return contacts

    def _friend_list(
        self, pid: str, friends: dict[str, set[str]], holder_ids: list[str | None]
    ) -> list[str]:
        """The exported friend list: gaps (private lists, missed friends), noise (people
        barely known), and ids of accounts that are not in the export."""
        rng = self.rng
        p = self.people[pid]
        listed: list[str] = []
        if rng.random() >= 0.15:
            for other in sorted(friends.get(pid, ())):
                acc = self.people[other].account
                if acc and rng.random() < 0.75:
                    listed.append(acc)
            for other in sorted(self.kin.get(pid, {})):
                acc = self.people[other].account
                if acc and rng.random() < 0.55:
                    listed.append(acc)
            for _ in range(rng.randint(0, 10)):
                acc = rng.choice(holder_ids)
                if acc and acc != p.account:
                    listed.append(acc)
            for _ in range(rng.choice([0, 0, 0, 1, 2])):
                listed.append(f"id{rng.randint(10**8, 10**9 - 1)}")
                self.dangling += 1
            listed = sorted(set(listed))
            rng.shuffle(listed)
        return listed
