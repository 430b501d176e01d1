"""Reading gallery exports (folder layout and manifest layout, see docs/FORMATS.md).

Reading never stops at a bad item: every problem becomes an :class:`ItemProblem` with the file and
line it came from, and the rest of the export is still read.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from nextofkin.addresses import normalise_email
from nextofkin.errors import InputError, ManifestError, PathEscapesRoot
from nextofkin.gallery.tags import Relative, Tag, parse_relatives, parse_tags
from nextofkin.i18n import _
from nextofkin.vision.image_io import IMAGE_SUFFIXES

ACCOUNT_FIELDS = (
    "name",
    "url",
    "city",
    "contacts",
    "friends",
    "profile_photo",
    "platform",
    "relatives",
)
# The column sizes of gallery/records.py. SQLite ignores VARCHAR lengths but PostgreSQL refuses
# longer values (and a refused row would abort the whole registration), so they are enforced here.
MAX_ACCOUNT_ID = 300
MAX_NAME = 300
MAX_CITY = 200
MAX_POSTED_AT = 40
MAX_PLATFORM = 40
# A platform name is also the name of the source that holds its accounts ("vk/12345").
PLATFORM_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,39}")
# Folders that tools and file systems put in a tree; every other folder is an account, whatever
# its name ("..dotdot" and ".anna" are legal account ids: only a real ".." component escapes).
SYSTEM_FOLDERS = frozenset(
    {
        ".git",
        ".svn",
        ".hg",
        ".Trash",
        ".Trashes",
        ".Spotlight-V100",
        ".fseventsd",
        ".TemporaryItems",
        ".thumbnails",
        "__MACOSX",
        "@eaDir",
        "lost+found",
    }
)


@dataclass(frozen=True)
class AccountEntry:
    """One account as the export describes it.

    ``platform`` set: the account is the platform's user ``external_id`` (its stable user id),
    one account however many exports reach it; unset: an account of this export only.
    """

    external_id: str
    platform: str | None = None
    name: str | None = None
    url: str | None = None
    city: str | None = None
    contacts: dict[str, str] = field(default_factory=dict)
    friends: list[str] = field(default_factory=list)
    profile_photo: str | None = None
    relatives: list[Relative] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class PhotoEntry:
    """One posting of a photo by an account (``account`` on ``platform``, when it has one)."""

    account: str
    rel_path: str
    kind: str = "post"
    caption: str | None = None
    posted_at: str | None = None
    tagged: list[Tag] = field(default_factory=list)
    post_url: str | None = None
    platform: str | None = None


@dataclass(frozen=True)
class ItemProblem:
    """A per-item problem: where it is and what is wrong."""

    item: str
    message: str


@dataclass
class Export:
    """Everything read from one export root.

    Photos name their account by ``(platform, account)``: ``platform`` None means an account of
    this export (folder and manifest layouts without a platform).
    """

    root: Path
    layout: str
    accounts: list[AccountEntry]
    photos: list[PhotoEntry]
    problems: list[ItemProblem]


def safe_relative(root: Path, rel: str) -> str:
    """``rel`` normalised, or :class:`PathEscapesRoot` when it would leave ``root``.

    Absolute paths, ``..`` segments that climb out, and symlinks that resolve outside the root
    are all refused.
    """
    if not rel or "\x00" in rel:
        raise PathEscapesRoot(_("empty or invalid path %(rel)r", rel=rel))
    pure = PurePosixPath(rel.replace("\\", "/"))
    if pure.is_absolute() or (pure.parts and pure.parts[0].endswith(":")):
        raise PathEscapesRoot(
            _("absolute path %(rel)r is not allowed; paths are relative to ROOT", rel=rel)
        )
    depth = 0
    for part in pure.parts:
        depth = depth - 1 if part == ".." else depth + (part != ".")
        if depth < 0:
            raise PathEscapesRoot(_("path %(rel)r escapes the gallery root", rel=rel))
    resolved_root = root.resolve()
    target = (root / pure).resolve()
    if not target.is_relative_to(resolved_root):
        raise PathEscapesRoot(_("path %(rel)r resolves outside the gallery root", rel=rel))
    return target.relative_to(resolved_root).as_posix()


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


def _clipped(value: Any, limit: int) -> str | None:
    text = _str_or_none(value)
    return text[:limit] if text is not None else None


def _posted_at(value: Any, item: str, problems: list[ItemProblem]) -> str | None:
    """``value`` if it is a real ISO date or date-time, else None and a per-item problem.

    The photo itself is still ingested: a wrong date must not cost a face, and an impossible one
    ("2024-02-30") must not be stored as if it were true.
    """
    if value is None or value == "":
        return None
    text = str(value).strip()
    problem = None
    if not isinstance(value, str) or len(text) > MAX_POSTED_AT:
        problem = _("is not an ISO date or date-time")
    else:
        try:
            if len(text) == 10:
                date.fromisoformat(text)
            else:
                datetime.fromisoformat(text)
        except ValueError as exc:
            problem = _("is not a valid ISO date or date-time (%(exc)s)", exc=exc)
    if problem is None:
        return text
    shown = text if len(text) <= 60 else text[:60] + "..."
    problems.append(
        ItemProblem(
            item,
            _(
                "posted_at %(shown)r %(problem)s: stored without a date",
                shown=shown,
                problem=problem,
            ),
        )
    )
    return None


def _check_account_id(external_id: str) -> None:
    if len(external_id) > MAX_ACCOUNT_ID:
        raise ManifestError(
            _(
                "account id of %(n_external_id)s characters; at most "
                "%(max_account_id)s are accepted",
                n_external_id=len(external_id),
                max_account_id=MAX_ACCOUNT_ID,
            )
        )


def _contacts(raw: dict[Any, Any], item: str, problems: list[ItemProblem]) -> dict[str, str]:
    """Contact channels as strings; an e-mail that is not one address is dropped and reported
    (it would reach a mail header: ``a@b.org\\r\\nBcc: ...`` must never be stored)."""
    contacts = {str(k): str(v) for k, v in raw.items() if v is not None}
    email = contacts.get("email")
    if email is not None:
        try:
            contacts["email"] = normalise_email(email)
        except InputError as exc:
            del contacts["email"]
            problems.append(ItemProblem(item, _("contacts.email dropped: %(exc)s", exc=exc)))
    return contacts


def _account_from(
    data: dict[str, Any], external_id: str, item: str, problems: list[ItemProblem]
) -> AccountEntry:
    contacts = data.get("contacts") or {}
    friends = data.get("friends") or []
    if not isinstance(contacts, dict):
        raise ManifestError(_("'contacts' must be an object"))
    if not isinstance(friends, list):
        raise ManifestError(_("'friends' must be a list of account ids"))
    relatives = data.get("relatives") or []
    if not isinstance(relatives, list):
        raise ManifestError(_("'relatives' must be a list of {account, type} objects"))
    _check_account_id(external_id)
    return AccountEntry(
        external_id=external_id,
        platform=check_platform(data.get("platform")),
        relatives=parse_relatives(relatives),
        name=_clipped(data.get("name"), MAX_NAME),
        url=_str_or_none(data.get("url")),
        city=_clipped(data.get("city"), MAX_CITY),
        contacts=_contacts(contacts, item, problems),
        friends=[str(f) for f in friends],
        profile_photo=_str_or_none(data.get("profile_photo")),
        extra={k: v for k, v in data.items() if k not in (*ACCOUNT_FIELDS, "account", "id")},
    )


def check_platform(value: Any) -> str | None:
    """A platform name ("vk", "instagram", ...), or :class:`ManifestError` if it cannot be one."""
    if value is None or value == "":
        return None
    text = str(value).strip().lower()
    if not isinstance(value, str) or not PLATFORM_NAME.fullmatch(text):
        raise ManifestError(
            _(
                "platform %(value)r is not a platform name (lower-case letters, "
                "digits, '-' or '_', at most %(max_platform)s characters)",
                value=str(value)[:60],
                max_platform=MAX_PLATFORM,
            )
        )
    return text


def _inside(root: Path, path: Path) -> bool:
    """Whether ``path``, symlinks followed, lies inside ``root``."""
    try:
        return path.resolve().is_relative_to(root.resolve())
    except (OSError, RuntimeError):  # a symlink loop
        return False


def _jsonl(path: Path, root: Path) -> Iterator[tuple[int, dict[str, Any] | ItemProblem]]:
    name = path.name
    if not _inside(root, path):
        yield 0, ItemProblem(name, _("ignored: it is a symlink to a file outside the export root"))
        return
    try:
        handle = path.open("rb")
    except OSError as exc:
        yield 0, ItemProblem(name, _("cannot open: %(exc)s", exc=exc))
        return
    with handle:
        for number, raw in enumerate(handle, start=1):
            item = f"{name}:{number}"
            if not raw.strip():
                continue
            try:
                data = json.loads(raw.decode("utf-8"))
            except UnicodeDecodeError:
                yield number, ItemProblem(item, _("line is not valid UTF-8"))
                continue
            except json.JSONDecodeError as exc:
                yield number, ItemProblem(item, _("not valid JSON (%(msg)s)", msg=exc.msg))
                continue
            if not isinstance(data, dict):
                yield number, ItemProblem(item, _("line is not a JSON object"))
                continue
            yield number, data


def read_manifest(root: Path) -> Export:
    """Read ``accounts.jsonl`` and ``photos.jsonl`` under ``root``."""
    problems: list[ItemProblem] = []
    accounts = _manifest_accounts(root, problems)
    photos: list[PhotoEntry] = []
    seen: set[tuple[str, str]] = set()
    photos_file = root / "photos.jsonl"
    if photos_file.exists():
        for number, data in _jsonl(photos_file, root):
            if isinstance(data, ItemProblem):
                problems.append(data)
                continue
            posting = _manifest_photo(
                data, f"photos.jsonl:{number}", root, accounts, problems, seen
            )
            if posting is not None:
                photos.append(posting)
    for entry in accounts.values():
        if entry.profile_photo and (entry.external_id, entry.profile_photo) not in seen:
            seen.add((entry.external_id, entry.profile_photo))
            photos.append(
                PhotoEntry(
                    entry.external_id, entry.profile_photo, kind="profile", platform=entry.platform
                )
            )
    return Export(root, "manifest", list(accounts.values()), photos, problems)


def _manifest_accounts(root: Path, problems: list[ItemProblem]) -> dict[str, AccountEntry]:
    """The accounts of ``accounts.jsonl`` by id; each bad line becomes a problem."""
    accounts: dict[str, AccountEntry] = {}
    first_line: dict[str, int] = {}
    for number, data in _jsonl(root / "accounts.jsonl", root):
        if isinstance(data, ItemProblem):
            problems.append(data)
            continue
        item = f"accounts.jsonl:{number}"
        external = data.get("account", data.get("id"))
        if external is None or str(external).strip() == "":
            problems.append(ItemProblem(item, _("missing 'account' (the account id)")))
            continue
        if str(external) in first_line:
            # The first description wins: a later line silently replacing it would change a
            # person's name or contacts without anyone noticing.
            problems.append(
                ItemProblem(
                    item,
                    _(
                        "duplicate account id %(external)r (first on line %(first_line)s): "
                        "this line is ignored",
                        external=str(external),
                        first_line=first_line[str(external)],
                    ),
                )
            )
            continue
        first_line[str(external)] = number
        try:
            entry = _account_from(data, str(external), item, problems)
            if entry.profile_photo:
                entry = AccountEntry(
                    **{**entry.__dict__, "profile_photo": safe_relative(root, entry.profile_photo)}
                )
        except (ManifestError, PathEscapesRoot) as exc:
            problems.append(ItemProblem(item, str(exc)))
            continue
        accounts[entry.external_id] = entry
    return accounts


def _manifest_photo(
    data: dict[str, Any],
    item: str,
    root: Path,
    accounts: dict[str, AccountEntry],
    problems: list[ItemProblem],
    seen: set[tuple[str, str]],
) -> PhotoEntry | None:
    """One ``photos.jsonl`` line as a posting, or None (a problem recorded, or a repeat)."""
    account, path = data.get("account"), data.get("path")
    if account is None or path is None:
        problems.append(ItemProblem(item, _("needs both 'account' and 'path'")))
        return None
    try:
        rel = safe_relative(root, str(path))
    except PathEscapesRoot as exc:
        problems.append(ItemProblem(item, str(exc)))
        return None
    account = str(account)
    try:
        _check_account_id(account)
    except ManifestError as exc:
        problems.append(ItemProblem(item, str(exc)))
        return None
    if account not in accounts:
        # A photo may name an account that accounts.jsonl lacks: keep it, with no profile.
        accounts[account] = AccountEntry(external_id=account)
    tagged = data.get("tagged") or []
    kind = str(data.get("kind") or "post")
    if (account, rel) in seen:
        return None
    seen.add((account, rel))
    return PhotoEntry(
        account=account,
        rel_path=rel,
        kind=kind if kind in ("profile", "post") else "post",
        caption=_str_or_none(data.get("caption")),
        posted_at=_posted_at(data.get("posted_at"), item, problems),
        tagged=parse_tags(tagged) if isinstance(tagged, list) else [],
        post_url=_str_or_none(data.get("post_url")),
        platform=accounts[account].platform,
    )


def read_folders(root: Path) -> Export:
    """Read the folder layout: ``ROOT/<account-id>/<photos>`` plus optional ``account.json``."""
    accounts: list[AccountEntry] = []
    photos: list[PhotoEntry] = []
    problems: list[ItemProblem] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        external = folder.name
        if external in SYSTEM_FOLDERS:
            problems.append(ItemProblem(external, _("skipped: a system folder, not an account")))
            continue
        meta_file = folder / "account.json"
        entry = AccountEntry(external_id=external)
        if meta_file.exists() and not _inside(root, meta_file):
            problems.append(
                ItemProblem(
                    f"{external}/account.json",
                    _("ignored: it is a symlink to a file outside the export root"),
                )
            )
        elif meta_file.exists():
            try:
                data = json.loads(meta_file.read_text(encoding="utf-8"))
                if not isinstance(data, dict):
                    raise ManifestError(_("account.json is not a JSON object"))
                entry = _account_from(data, external, f"{external}/account.json", problems)
            except (OSError, UnicodeDecodeError, json.JSONDecodeError, ManifestError) as exc:
                problems.append(
                    ItemProblem(f"{external}/account.json", _("ignored: %(exc)s", exc=exc))
                )
        accounts.append(entry)
        for path in sorted(folder.rglob("*")):
            if not path.is_file() or path.name == "account.json" or path.name.startswith("."):
                continue
            rel = path.relative_to(root).as_posix()
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                problems.append(
                    ItemProblem(
                        rel,
                        _(
                            "skipped: %(suffix)s extension is not an image type",
                            suffix=path.suffix,
                        )
                        if path.suffix
                        else _("skipped: no extension, so not an image type"),
                    )
                )
                continue
            try:
                rel = safe_relative(root, rel)
            except PathEscapesRoot as exc:
                problems.append(ItemProblem(rel, str(exc)))
                continue
            photos.append(PhotoEntry(account=external, rel_path=rel))
    return Export(root, "folders", accounts, photos, problems)
