"""Gallery-wide lookups the kin engine keeps warm: accounts, reverse friend lists, declared
relatives in both directions, tags of each account, surname counts and every owner face.

Built once per :class:`nextofkin.kin.engine.KinService` (a few SQL queries over the whole
gallery), so one ``kin`` query needs only the person's own rows.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from nextofkin.gallery.records import Account, Face, FaceRole, FaceRoleRecord, Photo
from nextofkin.gallery.tags import parse_relatives, parse_tags
from nextofkin.kin.surnames import city_key, handle_surname_keys, surname_keys


@dataclass
class AccountInfo:
    """What the engine needs of one account."""

    source_id: int
    platform: str | None
    external_id: str
    name: str | None
    city: str | None
    friends: frozenset[str]
    surnames: frozenset[str]
    city_key: str | None


@dataclass
class Links:
    """Gallery-wide lookups built once per service: reverse friend lists, tags, surname counts."""

    accounts: dict[int, AccountInfo]
    by_external: dict[tuple[int, str], int]
    by_platform: dict[tuple[str, str], int]
    listed_by: dict[int, set[int]]
    # account -> (related account, declared type): on its own profile, and on others' profiles
    declares: dict[int, list[tuple[int, str]]]
    declared_by: dict[int, list[tuple[int, str]]]
    tagged_in: dict[int, list[tuple[int, int]]]  # account -> (photo id, poster account id)
    surname_counts: Counter[str]
    owner_accounts: np.ndarray  # account id of each row of owner_vectors
    owner_vectors: np.ndarray  # every owner face of the gallery, unit rows


def resolve(links: Links, info: AccountInfo, ext: str) -> int | None:
    """The account an id written in ``info``'s export names: same source, else same platform."""
    found = links.by_external.get((info.source_id, ext))
    if found is None and info.platform:
        found = links.by_platform.get((info.platform, ext))
    return found


def load_links(session: Session, model: str) -> Links:
    """Build the gallery-wide lookups from the database (faces of embedder ``model`` only)."""
    links = Links(
        {}, {}, {}, defaultdict(set), defaultdict(list), defaultdict(list), defaultdict(list),
        Counter(), np.zeros(0, np.int64), np.zeros((0, 1), np.float32),
    )  # fmt: skip
    relatives, handles = _load_accounts(session, links)
    for acc_id, info in links.accounts.items():
        links.surname_counts.update(info.surnames)
        for friend in info.friends:
            other = links.by_external.get((info.source_id, friend))
            if other is not None and other != acc_id:
                links.listed_by[other].add(acc_id)
    for acc_id, listed in relatives.items():
        for ext, kind in listed:
            other = resolve(links, links.accounts[acc_id], ext)
            if other is not None and other != acc_id:
                links.declares[acc_id].append((other, kind))
                links.declared_by[other].append((acc_id, kind))
    # Handles often carry the surname a nickname hides ("Tema B." is abondarenko78).
    for acc_id, info in links.accounts.items():
        info.surnames = info.surnames | handle_surname_keys(handles[acc_id], links.surname_counts)
    _load_tags(session, links)
    _load_owner_faces(session, links, model)
    return links


def _load_accounts(
    session: Session, links: Links
) -> tuple[dict[int, list[tuple[str, str]]], dict[int, str]]:
    """Fill ``links.accounts`` and the id lookups; return declared relatives and handles."""
    relatives: dict[int, list[tuple[str, str]]] = {}
    handles: dict[int, str] = {}
    for acc_id, source_id, platform, ext, name, city, friends, declared, extra in session.execute(
        select(
            Account.id, Account.source_id, Account.platform, Account.external_id, Account.name,
            Account.city, Account.friends, Account.relatives, Account.extra,
        )
    ):  # fmt: skip
        info = AccountInfo(
            source_id, platform, ext, name, city, frozenset(friends or ()), surname_keys(name),
            city_key(city),
        )  # fmt: skip
        # Platform accounts are numeric user ids; the handle people chose is an attribute.
        username = _username(extra)
        handles[acc_id] = f"{ext} {username}" if username else ext
        links.accounts[acc_id] = info
        links.by_external[(source_id, ext)] = acc_id
        if platform:
            links.by_platform.setdefault((platform, ext), acc_id)
        if declared:
            relatives[acc_id] = [(r.account, r.type) for r in parse_relatives(declared)]
    return relatives, handles


def _username(extra: Any) -> str | None:
    username = extra.get("username") if isinstance(extra, dict) else None
    return username if isinstance(username, str) and username else None


def _load_tags(session: Session, links: Links) -> None:
    """Who is tagged in which photo, by whom."""
    for photo_id, poster, tagged in session.execute(
        select(Photo.id, Photo.account_id, Photo.tagged).where(
            func.json_array_length(Photo.tagged) > 0
        )
    ):
        poster_info = links.accounts.get(poster)
        if poster_info is None:
            continue
        for tag in parse_tags(tagged):
            other = resolve(links, poster_info, tag.account)
            if other is not None and other != poster:
                links.tagged_in[other].append((photo_id, poster))


def _load_owner_faces(session: Session, links: Links, model: str) -> None:
    """Companions are resolved against owner faces only: a matrix far smaller than the index."""
    owner_rows = session.execute(
        select(FaceRoleRecord.account_id, Face.embedding)
        .join(Face, Face.id == FaceRoleRecord.face_id)
        .where(FaceRoleRecord.role == FaceRole.OWNER.value, Face.model == model)
    ).all()
    links.owner_accounts = np.array([r[0] for r in owner_rows], dtype=np.int64)
    if owner_rows:
        links.owner_vectors = np.stack([r[1] for r in owner_rows]).astype(np.float32)
