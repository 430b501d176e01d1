"""One way to name a gallery account, read by every command and route.

The grammar: ``platform-or-source/account`` (``vk/id12345``, ``demo/Jack_Straw``),
an account id unique across sources (``id12345``; digits alone also match the database id that
JSON output calls ``account_id``), or ``#<database id>``. A name that fits two accounts is refused
with the spellings that would pick one: a wrong account here means a wrong family.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from nextofkin.errors import InputError, NotFound
from nextofkin.gallery.records import Account, Source
from nextofkin.i18n import _

GRAMMAR = "platform-or-source/account, a unique account id, or #<id>"


@dataclass(frozen=True)
class AccountRef:
    """A parsed account reference: exactly one of ``db_id`` or ``external`` is set."""

    text: str
    db_id: int | None = None
    prefix: str | None = None  # platform or source name
    external: str | None = None

    def matches(self, account_id: int, source: str, external_id: str, platform: str | None) -> bool:
        """Whether this reference names the account described (no database needed)."""
        if self.db_id is not None:
            return account_id == self.db_id
        if self.prefix is not None:
            return external_id == self.external and self.prefix in (source, platform)
        if external_id == self.external:
            return True
        return self.text.isdigit() and account_id == int(self.text)


def parse_account_ref(text: str) -> AccountRef:
    """``text`` read by the account grammar; InputError when it is empty or malformed."""
    text = text.strip()
    if not text:
        raise InputError(_("name an account: %(grammar)s", grammar=GRAMMAR))
    if text.startswith("#"):
        if not text[1:].isdigit():
            raise InputError(
                _("%(text)r is not an account reference: %(grammar)s", text=text, grammar=GRAMMAR)
            )
        return AccountRef(text, db_id=int(text[1:]))
    prefix, slash, external = text.partition("/")
    if slash and prefix and external:
        return AccountRef(text, prefix=prefix, external=external)
    return AccountRef(text, external=text)


def account_key(session: Session, account: Account) -> str:
    """The account's stable name ``source/account`` (used in decisions, outbox and audit)."""
    return f"{session.get_one(Source, account.source_id).name}/{account.external_id}"


class ResolvedAccount(NamedTuple):
    """The account a reference named, and its key ``source/account``."""

    account: Account
    key: str

    @property
    def source(self) -> str:
        """The name of the source holding the account."""
        return self.key[: -len(self.account.external_id) - 1]


def resolve_account(session: Session, text: str) -> ResolvedAccount:
    """The gallery account ``text`` names and its key ``source/account``.

    Raises :class:`NotFound` when no account fits and :class:`InputError` when several do.
    """
    ref = parse_account_ref(text)
    found = _lookup(session, ref)
    if not found and ref.prefix is not None:
        # An export's own ids may hold a slash: the whole text as an id is the fallback.
        found = _lookup(session, AccountRef(ref.text, external=ref.text))
    if not found:
        raise NotFound(
            _("no account %(text)r in the gallery (%(grammar)s)", text=ref.text, grammar=GRAMMAR)
        )
    if len(found) > 1:
        keys = ", ".join(sorted(f"{account_key(session, a)} (#{a.id})" for a in found))
        raise InputError(
            _(
                "account %(text)r is ambiguous: it names %(keys)s; write one of those",
                text=ref.text,
                keys=keys,
            )
        )
    return ResolvedAccount(found[0], account_key(session, found[0]))


def _lookup(session: Session, ref: AccountRef) -> list[Account]:
    if ref.db_id is not None:
        account = session.get(Account, ref.db_id)
        return [account] if account is not None else []
    query = select(Account).join(Source, Source.id == Account.source_id)
    if ref.prefix is not None:
        query = query.where(
            Account.external_id == ref.external,
            or_(Source.name == ref.prefix, Account.platform == ref.prefix),
        )
    elif ref.text.isdigit():
        query = query.where(or_(Account.external_id == ref.text, Account.id == int(ref.text)))
    else:
        query = query.where(Account.external_id == ref.external)
    return list(session.scalars(query.order_by(Account.id)).unique().all())
