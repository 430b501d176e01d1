"""Index commands: ``reindex`` rebuilds the vector index from the stored embeddings."""

from __future__ import annotations

from dataclasses import asdict

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from nextofkin import audit
from nextofkin.cli.common import console, handle_errors, print_json, record_action, state
from nextofkin.gallery.index import reindex
from nextofkin.gallery.maintenance import open_index
from nextofkin.i18n import _, format_number, lazy_gettext, ngettext


@handle_errors
def reindex_command(
    ctx: typer.Context,
    factory: str | None = typer.Option(
        None,
        "--factory",
        help=lazy_gettext(
            "FAISS factory string, e.g. 'Flat', 'HNSW32,Flat', 'IVF4096,PQ32,RFlat'. "
            "Default: chosen from the number of faces (settings `index`)."
        ),
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print the report as JSON.")),
    embedder: str | None = typer.Option(
        None,
        "--embedder",
        help=lazy_gettext(
            "Move the workspace to this registered embedder: every face is embedded again "
            "from its stored photo and landmarks (resumable), then the workspace switches."
        ),
    ),
    workers: int | None = typer.Option(
        None,
        "--workers",
        min=1,
        help=lazy_gettext("Worker processes for --embedder (default: the `workers` setting)."),
    ),
    batch: int = typer.Option(
        32, "--batch", min=1, help=lazy_gettext("Images per committed batch for --embedder.")
    ),
) -> None:
    """Rebuild the vector index from the embeddings stored in the database.

    The new index replaces the old one atomically: a rebuild interrupted at any moment leaves the
    old index in place. The calibration is kept (the faces did not change). With ``--embedder``
    the faces are embedded again by another model first (docs/MODELS.md).
    """
    if embedder is not None:
        # Loaded only here: it brings the ingest and derive code.
        from nextofkin.cli.reembed import run_move

        run_move(
            state(ctx), embedder, workers=workers, batch=batch, factory=factory, json_out=json_out
        )
        return
    _rebuild(ctx, factory, json_out)


def _rebuild(ctx: typer.Context, factory: str | None, json_out: bool) -> None:
    """The index rebuilt from the stored vectors, reported and audited."""
    ws = state(ctx).workspace
    index = open_index(ws)
    with (
        Progress(
            TextColumn("[bold]" + _("reindex") + "[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn(_("faces")),
            TimeRemainingColumn(),
            console=console,
            disable=json_out,
        ) as progress,
        ws.session() as session,
    ):
        task = progress.add_task("", total=None)  # its columns say what runs

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        report = reindex(index, session, factory=factory, progress=update)
    index.save()
    record_action(state(ctx), audit.Action.REINDEX, "index", asdict(report))
    if json_out:
        print_json(asdict(report))
        return
    console.print(
        _(
            "index rebuilt as %(factory)s with %(faces)s in %(seconds)s s "
            "(search parameters %(params)s)",
            factory=f"[bold]{report.factory}[/]",
            faces=ngettext(
                "%(count)s face", "%(count)s faces", report.faces, count=format_number(report.faces)
            ),
            seconds=format_number(report.seconds, 1),
            params=report.params,
        )
    )


def register(app: typer.Typer) -> None:
    """Add the index commands to ``app``."""
    app.command(
        "reindex",
        help=lazy_gettext("Rebuild the vector index from the embeddings stored in the database."),
    )(reindex_command)
