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

from nextofkin.cli.cases import case_app
from nextofkin.cli.common import (
    EXIT_DOMAIN_ERROR,
    cells,
    console,
    err_console,
    handle_errors,
    lit,
    print_json,
    state,
)


@case_app.command("import")
@handle_errors
def import_command(
    ctx: typer.Context,
    source: Path = typer.Argument(
        ..., help="A folder with one sub-folder per case, or a CSV (see docs/CASES.md)."
    ),
    research: bool = typer.Option(
        False, "--research", help="Search again the cases that were searched before."
    ),
    top: int = typer.Option(10, "--top", min=1, help="Candidates kept per case."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON (one entry per case)."),
) -> None:
    """Open and search many cases at once; the models load once. Safe to rerun.

    Exit 0 when every case was processed (failures are reported); 1 when nothing could be done.
    """
    from nextofkin.cases.batch import import_cases

    cli = state(ctx)
    with Progress(
        TextColumn("[bold]cases[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=err_console,
        disable=json_out,
        transient=False,
    ) as progress:
        task = progress.add_task("", total=None)

        def update(done: int, total: int, number: str) -> None:
            progress.update(task, completed=done, total=total, description=lit(number))

        report = import_cases(
            cli.workspace, cli.settings.user, source, research=research, top=top, progress=update
        )
    if json_out:
        print_json(report.to_dict())
    else:
        table = Table(title=f"{len(report.outcomes)} case(s) from {lit(source)} ({report.layout})")
        for column in ("case", "state", "done", "top candidate", "decision", "error"):
            table.add_column(column, overflow="fold")
        for o in report.outcomes:
            done = ", ".join(
                w for w, f in (("opened", o.opened), ("searched", o.searched)) if f
            ) or (o.skipped or "-")
            table.add_row(
                *cells(
                    o.number,
                    o.state or "-",
                    done if not o.failed else "failed",
                    o.top_candidate or "-",
                    o.decision or "-",
                    f"{o.error_kind}: {o.error}" if o.failed else "",
                )
            )
        console.print(table)
        console.print(
            f"{report.opened} opened, {report.searched} searched, {report.skipped} skipped, "
            f"{report.failed} failed"
        )
    if report.outcomes and report.failed == len(report.outcomes):
        raise typer.Exit(EXIT_DOMAIN_ERROR)
    if not report.outcomes:
        err_console.print(f"[bold red]Error (InputError):[/] no case found in {lit(source)}")
        raise typer.Exit(EXIT_DOMAIN_ERROR)


def register(app: typer.Typer) -> None:
    """``case import`` joins the ``case`` group when this module is imported; nothing to add."""
