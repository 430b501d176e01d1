"""``nextofkin case import``: open and search a batch of cases in one process (docs/CASES.md)."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from nextofkin.cases.batch import CaseOutcome, ImportReport, import_cases
from nextofkin.cases.labels import state_label
from nextofkin.cli.cases import case_app
from nextofkin.cli.common import (
    EXIT_DOMAIN_ERROR,
    CliState,
    cells,
    console,
    err_console,
    handle_errors,
    lit,
    print_json,
    state,
)
from nextofkin.i18n import _, lazy_gettext, ngettext
from nextofkin.identify.meaning import decision_label


@case_app.command(
    "import",
    help=lazy_gettext("Open and search many cases at once; the models load once. Safe to rerun."),
)
@handle_errors
def import_command(
    ctx: typer.Context,
    source: Path = typer.Argument(
        ...,
        help=lazy_gettext("A folder with one sub-folder per case, or a CSV (see docs/CASES.md)."),
    ),
    research: bool = typer.Option(
        False, "--research", help=lazy_gettext("Search again the cases that were searched before.")
    ),
    top: int = typer.Option(10, "--top", min=1, help=lazy_gettext("Candidates kept per case.")),
    json_out: bool = typer.Option(
        False, "--json", help=lazy_gettext("Print JSON (one entry per case).")
    ),
) -> None:
    """Open and search many cases at once; the models load once. Safe to rerun.

    Exit 0 when every case was processed (failures are reported); 1 when nothing could be done.
    """
    cli = state(ctx)
    report = _import_with_progress(cli, source, research=research, top=top, quiet=json_out)
    if json_out:
        print_json(report.to_dict())
    else:
        _print_import(report, source)
    if report.outcomes and report.failed == len(report.outcomes):
        raise typer.Exit(EXIT_DOMAIN_ERROR)
    if not report.outcomes:
        message = _("no case found in %(source)s", source=lit(source))
        err_console.print(f"[bold red]Error (InputError):[/] {message}")
        raise typer.Exit(EXIT_DOMAIN_ERROR)


def _import_with_progress(
    cli: CliState, source: Path, *, research: bool, top: int, quiet: bool
) -> ImportReport:
    """Import the cases of ``source`` with a progress bar on standard error."""
    with Progress(
        TextColumn("[bold]" + _("cases") + "[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        disable=quiet,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=None)

        def update(done: int, total: int, number: str) -> None:
            progress.update(task, completed=done, total=total, description=lit(number))

        return import_cases(
            cli.workspace, cli.settings.user, source, research=research, top=top, progress=update
        )


def _done_text(o: CaseOutcome) -> str:
    """What the import did to one case, in the reader's language."""
    if o.failed:
        return _("failed")
    done = [text for text, flag in ((_("opened"), o.opened), (_("searched"), o.searched)) if flag]
    return ", ".join(done) or (o.skipped or "-")


def _print_import(report: ImportReport, source: Path) -> None:
    """One row a case, then how many were opened, searched, skipped and failed."""
    table = Table(
        title=ngettext(
            "%(num)d case from %(source)s (%(layout)s)",
            "%(num)d cases from %(source)s (%(layout)s)",
            len(report.outcomes),
            source=lit(source),
            layout=report.layout,
        )
    )
    for column in (_("case"), _("state"), _("done"), _("top candidate"), _("decision"), _("error")):
        table.add_column(column, overflow="fold")
    for o in report.outcomes:
        table.add_row(
            *cells(
                o.number,
                state_label(o.state) if o.state else "-",
                _done_text(o),
                o.top_candidate or "-",
                decision_label(o.decision) if o.decision else "-",
                f"{o.error_kind}: {o.error}" if o.failed else "",
            )
        )
    console.print(table)
    console.print(
        _(
            "%(opened)s opened, %(searched)s searched, %(skipped)s skipped, %(failed)s failed",
            opened=report.opened,
            searched=report.searched,
            skipped=report.skipped,
            failed=report.failed,
        )
    )


def register(app: typer.Typer) -> None:
    """``case import`` joins the ``case`` group when this module is imported; nothing to add."""
