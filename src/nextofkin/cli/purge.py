"""``nextofkin purge``: remove a person's or a source's photos, faces and vectors on request."""

from __future__ import annotations

from dataclasses import asdict

import typer

from nextofkin.cases.purge import purge_account, purge_source
from nextofkin.cli.common import console, handle_errors, lit, print_json, state
from nextofkin.errors import InputError
from nextofkin.i18n import _, lazy_gettext, ngettext


@handle_errors
def purge_command(
    ctx: typer.Context,
    account: str | None = typer.Option(
        None,
        "--account",
        help=lazy_gettext("Account to purge: platform-or-source/account, a unique id, or #<id>."),
    ),
    source: str | None = typer.Option(
        None, "--source", help=lazy_gettext("Source to purge entirely.")
    ),
    yes: bool = typer.Option(False, "--yes", help=lazy_gettext("Do not ask for confirmation.")),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
) -> None:
    """Purge biometric data on request (admins): database rows, face vectors, calibration."""
    if (account is None) == (source is None):
        raise InputError(_("give exactly one of --account ID or --source NAME"))
    if account is not None:
        what = _("account %(account)s", account=account)
    else:
        what = _("source %(source)s", source=source)
    if not yes and not typer.confirm(
        _("Permanently remove the photos, faces and vectors of %(what)s?", what=what)
    ):
        raise typer.Exit(1)
    cli = state(ctx)
    if account is not None:
        report = purge_account(cli.workspace, cli.settings.user, account)
    else:
        assert source is not None
        report = purge_source(cli.workspace, cli.settings.user, source)
    if json_out:
        print_json(asdict(report))
        return
    counts = [
        ngettext("%(num)d account", "%(num)d accounts", report.accounts),
        ngettext("%(num)d photo", "%(num)d photos", report.photos),
        ngettext("%(num)d image", "%(num)d images", report.images),
        ngettext("%(num)d face", "%(num)d faces", report.faces),
        ngettext("%(num)d vector", "%(num)d vectors", report.vectors),
    ]
    console.print(
        _("purged %(subject)s: %(counts)s", subject=lit(report.subject), counts=", ".join(counts))
        + "; "
        + ngettext(
            "the index now holds %(num)d face",
            "the index now holds %(num)d faces",
            report.index_total,
        )
    )


def register(app: typer.Typer) -> None:
    """Add ``purge`` to ``app``."""
    app.command(
        "purge",
        help=lazy_gettext(
            "Purge biometric data on request (admins): database rows, face vectors, calibration."
        ),
    )(purge_command)
