"""Who a message goes to: a recipient account's address for a channel, and relatives the kin
engine proposes."""

from __future__ import annotations

from nextofkin.addresses import normalise_email
from nextofkin.cases.service import get_case
from nextofkin.errors import InputError
from nextofkin.gallery.records import Account
from nextofkin.i18n import gettext
from nextofkin.kin.engine import KinService
from nextofkin.kin.interfaces import KinFinder
from nextofkin.notify.binding import identified
from nextofkin.notify.model import Channel, KinPick
from nextofkin.users.service import Permission, require
from nextofkin.workspace import Workspace


def address_for(account: Account, channel: Channel) -> str | None:
    contacts = account.contacts or {}
    if channel is Channel.EMAIL:
        email = contacts.get("email")
        if not isinstance(email, str) or not email.strip():
            raise InputError(
                gettext(
                    "account %(external_id)s has no e-mail address in its contacts: use "
                    "--channel manual",
                    external_id=account.external_id,
                )
            )
        return normalise_email(email)
    parts = [f"{k}: {v}" for k, v in sorted(contacts.items()) if v]
    if account.url:
        parts.append(f"profile: {account.url}")
    return "; ".join(parts) or None


def kin_recipients(
    workspace: Workspace,
    actor: str | None,
    number: str,
    *,
    top: int = 3,
    channel: Channel | str = Channel.EMAIL,
    kin_service: KinFinder | None = None,
) -> list[KinPick]:
    """The ``top`` strongest relatives of the identified person that ``channel`` can reach.

    Uses the kin engine (``nextofkin.kin``) on the confirmed account; relatives without an e-mail
    address are skipped for the e-mail channel, relatives without any contact for the manual one.
    ``kin_service`` finds the relatives (default: :class:`~nextofkin.kin.engine.KinService`).
    """
    channel = Channel(channel)
    with workspace.session() as session:
        require(session, actor, Permission.DRAFT)
        case = get_case(session, number)
        person_ref = identified(session, case)[0].account_ref
    source, _, external = person_ref.partition("/")
    if kin_service is None:
        kin_service = KinService(workspace)
    result = kin_service.kin(external, source=source, top=max(top * 4, 10))
    picks: list[KinPick] = []
    for rel in result.relations:
        contacts = rel.contacts or {}
        email = contacts.get("email")
        reachable = (
            isinstance(email, str) and "@" in email
            if channel is Channel.EMAIL
            else any(contacts.values())
        )
        if reachable:
            picks.append(
                KinPick(
                    f"{rel.source}/{rel.account}",
                    rel.name,
                    rel.relation,
                    rel.score,
                    list(rel.reasons),
                )
            )
        if len(picks) == top:
            break
    return picks
