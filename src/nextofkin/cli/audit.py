"""``nextofkin audit``: show and verify the hash-chained audit log."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.table import Table

from nextofkin import audit
from nextofkin.audit.service import VerifyReport
from nextofkin.cli.common import cells, console, err_console, handle_errors, print_json, state
from nextofkin.errors import InputError
from nextofkin.i18n import _, lazy_gettext, ngettext
from nextofkin.users.service import Permission, require

audit_app = typer.Typer(
    help=lazy_gettext("The append-only, hash-chained audit log."), no_args_is_help=True
)


@audit_app.command(
    "verify",
    help=lazy_gettext(
        "Recompute the chain; exit 2 and say where if any entry was edited, deleted or moved."
    ),
)
@handle_errors
def verify_command(
    ctx: typer.Context,
    anchor: str | None = typer.Option(
        None,
        "--anchor",
        help=lazy_gettext("SEQ:HASH written down earlier; that entry must still be there."),
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Recompute the chain; exit 2 and say where if any entry was edited, deleted or moved."""
    pinned: tuple[int, str] | None = None
    if anchor is not None:
        seq, _colon, digest = anchor.partition(":")
        if not seq.isdigit() or len(digest) != 64:
            raise InputError(_("--anchor takes SEQ:HASH (as `audit verify` prints)"))
        pinned = (int(seq), digest.lower())
    with state(ctx).workspace.session() as session:
        report = audit.verify(session, anchor=pinned)
    if json_out:
        print_json({**asdict(report), "ok": report.ok})
    else:
        _print_verification(report)
    if not report.ok:
        raise typer.Exit(2)


def _print_verification(report: VerifyReport) -> None:
    """Say whether the chain is intact, or each problem with its entry."""
    if report.ok:
        console.print(
            "[bold green]"
            + _("audit log intact")
            + "[/]: "
            + ngettext(
                "%(num)d entry; head %(seq)s:%(hash)s",
                "%(num)d entries; head %(seq)s:%(hash)s",
                report.checked,
                seq=report.head_seq,
                hash=report.head_hash,
            )
        )
        return
    err_console.print(
        "[bold red]"
        + _("audit log BROKEN")
        + "[/]: "
        + ngettext(
            "%(num)d problem in %(checked)s entries",
            "%(num)d problems in %(checked)s entries",
            len(report.problems),
            checked=report.checked,
        )
    )
    for problem in report.problems:
        err_console.print(
            "  "
            + _(
                "at entry %(seq)s (%(kind)s): %(message)s",
                seq=problem.seq,
                kind=problem.kind,
                message=problem.message,
            ),
            markup=False,
        )


@audit_app.command("show", help=lazy_gettext("Print audit entries (all, or one case's)."))
@handle_errors
def show_command(
    ctx: typer.Context,
    case: str | None = typer.Option(None, "--case", help=lazy_gettext("Only this case's entries.")),
    last: int | None = typer.Option(
        None, "--last", min=1, help=lazy_gettext("Only the newest N entries.")
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Print audit entries (all, or one case's)."""
    cli = state(ctx)
    with cli.workspace.session() as session:
        require(session, cli.settings.user, Permission.AUDIT)
        rows = audit.entries(session, case=case, limit=last)
    if json_out:
        print_json([asdict(r) for r in rows])
        return
    table = Table()
    for column in ("#", _("time (UTC)"), _("actor"), _("action"), _("subject"), _("details")):
        table.add_column(column, overflow="fold")
    for row in rows:
        details = ", ".join(f"{k}={v}" for k, v in row.details.items() if v not in (None, ""))
        table.add_row(
            *cells(
                row.seq,
                row.at[:19].replace("T", " "),
                row.actor or "-",
                row.action,
                row.subject,
                details[:300],
            )
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add ``audit`` to ``app``."""
    app.add_typer(audit_app, name="audit")
