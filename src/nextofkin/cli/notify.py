"""``nextofkin notify``: draft, approve and send messages to families; record manual sends.

``nextofkin notify NUMBER --to ACCOUNT ...`` is short for ``nextofkin notify draft NUMBER ...``.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import typer
from rich.table import Table
from typer.core import TyperGroup

from nextofkin.cases.labels import message_state_label
from nextofkin.cli.common import (
    CliState,
    cells,
    console,
    err_console,
    handle_errors,
    lit,
    print_json,
    state,
)
from nextofkin.errors import InputError
from nextofkin.i18n import _, format_datetime, format_number, lazy_gettext
from nextofkin.notify.model import Channel, MessageInfo, SendOutcome


class _DefaultDraftGroup(TyperGroup):
    """Treat ``notify NUMBER ...`` as ``notify draft NUMBER ...``."""

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and not args[0].startswith("-") and args[0] not in self.commands:
            args = ["draft", *args]
        return super().parse_args(ctx, args)


notify_app = typer.Typer(
    cls=_DefaultDraftGroup,
    help=lazy_gettext(
        "Messages to families: draft NUMBER --to ACCOUNT [--kin N] [--send], mark-sent, "
        "release, list."
    ),
    no_args_is_help=True,
)

EXIT_NEEDS_PERSON = 4


def _print_outcomes(outcomes: list[SendOutcome]) -> bool:
    """Print send outcomes; True when one needs a person (uncertain, failed, or void: written
    before the latest review decision, to be drafted again)."""
    attention = False
    for o in outcomes:
        colour = {"sent": "green", "uncertain": "bold red", "failed": "red", "void": "red"}.get(
            o.state.value, ""
        )
        label = message_state_label(o.state)
        state_text = f"[{colour}]{label}[/]" if colour else label
        console.print(f"{lit(o.recipient)}: {state_text} — {lit(o.note)}")
        attention |= o.state.value in ("uncertain", "failed", "void")
    return attention


@notify_app.command(
    "draft",
    help=lazy_gettext(
        "Draft a message to each recipient (and with --send, approve and deliver it once)."
    ),
)
@handle_errors
def draft_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help=lazy_gettext("Case number.")),
    to: list[str] = typer.Option(
        [],
        "--to",
        help=lazy_gettext(
            "Recipient account (repeatable): platform-or-source/account, a unique id, #<id>."
        ),
    ),
    kin: int = typer.Option(
        0, "--kin", min=0, help=lazy_gettext("Also the N strongest relatives the kin engine finds.")
    ),
    channel: str | None = typer.Option(
        None, "--channel", help=lazy_gettext("email or manual (default: the draft's, else email).")
    ),
    attach: str | None = typer.Option(
        None,
        "--attach",
        help=lazy_gettext("none, face or photo (default: the draft's, else none)."),
    ),
    language: str | None = typer.Option(None, "--language", help=lazy_gettext("ru, uk or en.")),
    send_now: bool = typer.Option(
        False, "--send", help=lazy_gettext("Approve and send now (reviewer).")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Draft a message to each recipient (and with --send, approve and deliver it once)."""
    from nextofkin.notify.service import draft, send

    cli = state(ctx)
    ws = cli.workspace
    to = list(to)
    if kin:
        to += _kin_recipients(cli, number, kin, channel, to, quiet=json_out)
    with ws.session() as session:
        drafts = draft(
            session, ws, cli.settings.user, number, to,
            channel=channel, attach=attach, language=language,
        )  # fmt: skip
    outcomes = send(ws, cli.settings.user, number, to) if send_now else []
    if json_out:
        print_json({"drafts": [asdict(d) for d in drafts], "sent": [asdict(o) for o in outcomes]})
    else:
        _print_drafts(drafts, send_now)
    if send_now and _print_outcomes(outcomes) and not json_out:
        err_console.print(_("some messages need a person's attention (see above)"))
        raise typer.Exit(EXIT_NEEDS_PERSON)


def _kin_recipients(
    cli: CliState, number: str, kin: int, channel: str | None, named: list[str], *, quiet: bool
) -> list[str]:
    """The ``kin`` strongest relatives ``channel`` can reach, not already named with --to.

    Each is shown with why the kin engine proposes them; none at all is an error that says
    what to do, rather than the draft's "name a recipient".
    """
    # Looked up on the module at call time: tests stand in for the kin engine there.
    from nextofkin.notify.service import kin_recipients

    added: list[str] = []
    for pick in kin_recipients(
        cli.workspace, cli.settings.user, number, top=kin, channel=channel or Channel.EMAIL
    ):
        if not quiet:
            console.print(
                _(
                    "kin: %(ref)s (%(name)s), %(relation)s, score %(score)s: %(reasons)s",
                    ref=pick.ref,
                    name=pick.name or "-",
                    relation=pick.relation,
                    score=format_number(pick.score, 2),
                    reasons="; ".join(pick.reasons[:3]),
                ),
                markup=False,
            )
        if pick.ref not in named and pick.ref not in added:
            added.append(pick.ref)
    if not named and not added:
        raise InputError(
            _(
                "kin found no relative of the identified person of case %(number)s that "
                "%(channel)s can reach: name a recipient with --to ACCOUNT "
                "(`nextofkin kin ACCOUNT` shows who appears with the person)",
                number=number,
                channel=channel or Channel.EMAIL,
            )
        )
    return added


def _print_drafts(drafts: list[MessageInfo], send_now: bool) -> None:
    """Each draft's recipient and state; its text too while it waits for --send."""
    for d in drafts:
        console.print(
            f"[bold]{lit(d.recipient)}[/] ({d.channel} {lit(d.address or '-')}, {d.language}, "
            + _("attach %(what)s", what=d.attach)
            + f"): {message_state_label(d.state)}"
        )
        if not send_now:
            console.print("  " + _("Subject: %(subject)s", subject=d.subject), markup=False)
            console.print("  " + d.body.replace("\n", "\n  "), markup=False)
    if not send_now:
        console.print(_("review the text, then send with the same command and --send"))


@notify_app.command(
    "mark-sent",
    help=lazy_gettext(
        "Record that a manual message was sent by hand (or an uncertain one did arrive)."
    ),
)
@handle_errors
def mark_sent_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help=lazy_gettext("Case number.")),
    to: str = typer.Option(
        ...,
        "--to",
        help=lazy_gettext("Recipient account: platform-or-source/account, a unique id, or #<id>."),
    ),
    note: str | None = typer.Option(
        None, "--note", help=lazy_gettext("How it was sent or checked.")
    ),
) -> None:
    """Record that a manual message was sent by hand (or an uncertain one did arrive)."""
    from nextofkin.notify.service import mark_sent

    cli = state(ctx)
    outcome = mark_sent(cli.workspace, cli.settings.user, number, to, note)
    console.print(_("%(to)s: recorded as sent", to=outcome.recipient), markup=False)


@notify_app.command(
    "release",
    help=lazy_gettext(
        "Allow one more attempt for an uncertain or failed message that did NOT arrive."
    ),
)
@handle_errors
def release_command(
    ctx: typer.Context,
    number: str = typer.Argument(..., help=lazy_gettext("Case number.")),
    to: str = typer.Option(
        ...,
        "--to",
        help=lazy_gettext("Recipient account: platform-or-source/account, a unique id, or #<id>."),
    ),
    reason: str = typer.Option(
        ..., "--reason", help=lazy_gettext("How you know it did not arrive.")
    ),
) -> None:
    """Allow one more attempt for an uncertain or failed message that did NOT arrive."""
    from nextofkin.notify.service import release

    cli = state(ctx)
    info = release(cli.workspace, cli.settings.user, number, to, reason)
    console.print(
        _(
            "%(to)s: %(state)s (will be sent by the next --send)",
            to=info.recipient,
            state=message_state_label(info.state),
        ),
        markup=False,
    )


@notify_app.command("list", help=lazy_gettext("The outbox: every message and how far it got."))
@handle_errors
def list_command(
    ctx: typer.Context,
    number: str | None = typer.Argument(None, help=lazy_gettext("Case number (default: all).")),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """The outbox: every message and how far it got."""
    from nextofkin.notify.service import outbox

    cli = state(ctx)
    with cli.workspace.session() as session:
        rows = outbox(session, cli.settings.user, number)
    if json_out:
        print_json([asdict(r) for r in rows])
        return
    table = Table()
    for column in (
        _("case"),
        _("recipient"),
        _("channel"),
        _("address"),
        _("state"),
        _("tries"),
        _("note"),
    ):
        table.add_column(column, overflow="fold")
    for r in rows:
        table.add_row(
            *cells(
                r.case_number,
                r.recipient,
                r.channel,
                r.address or "-",
                message_state_label(r.state),
                r.attempts,
                r.last_error
                or (_("sent %(when)s", when=format_datetime(r.sent_at)) if r.sent_at else ""),
            )
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``notify`` to ``app``."""
    app.add_typer(notify_app, name="notify")
