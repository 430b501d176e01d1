"""Index commands: ``reindex`` rebuilds the vector index from the stored embeddings."""

from __future__ import annotations

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nextofkin import audit
from nextofkin.cli.common import console, handle_errors, print_json, record_action, state


@handle_errors
def reindex_command(
    ctx: typer.Context,
    factory: str | None = typer.Option(
        None,
        "--factory",
        help="FAISS factory string, e.g. 'Flat', 'HNSW32,Flat', 'IVF4096,PQ32,RFlat'. "
        "Default: chosen from the number of faces (settings `index`).",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Rebuild the vector index from the embeddings stored in the database.

    The new index replaces the old one atomically: a rebuild interrupted at any moment leaves the
    old index in place. The calibration is kept (the faces did not change).
    """
    from dataclasses import asdict

    from nextofkin.gallery.index import reindex
    from nextofkin.gallery.maintenance import open_index

    ws = state(ctx).workspace
    index = open_index(ws)
    with (
        Progress(
            TextColumn("[bold]reindex[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("faces"),
            TimeRemainingColumn(),
            console=console,
            disable=json_out,
        ) as progress,
        ws.session() as session,
    ):
        task = progress.add_task("reindex", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = reindex(index, session, factory=factory, progress=update)
    index.save()
    record_action(state(ctx), audit.Action.REINDEX, "index", asdict(report))
    if json_out:
        print_json(asdict(report))
        return
    console.print(
        f"index rebuilt as [bold]{report.factory}[/] with {report.faces} faces "
        f"in {report.seconds:.1f} s (search parameters {report.params})"
    )


def register(app: typer.Typer) -> None:
    """Add the index commands to ``app``."""
    app.command("reindex")(reindex_command)
