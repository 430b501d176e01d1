"""``nextofkin sample-gallery``: a synthetic but realistic gallery export from a face set."""

from __future__ import annotations

from pathlib import Path

import typer

from nextofkin.cli.common import console, handle_errors, print_json


@handle_errors
def sample_gallery_command(
    faces: Path = typer.Option(
        ..., "--faces", help="Identity-folder face set, e.g. LFW's images/ (DIR/<Name>/*.jpg)."
    ),
    out: Path = typer.Option(..., "--out", help="Folder to write the gallery into (ROOT)."),
    seed: int = typer.Option(..., "--seed", help="Random seed: the same seed, the same gallery."),
    accounts: int = typer.Option(200, "--accounts", min=1, help="How many accounts."),
    density: float = typer.Option(
        1.0, "--density", min=0.05, max=1.0, help="Share of posts kept (1.0: about 7 per account)."
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help="Rendering processes."),
    json_out: bool = typer.Option(False, "--json", help="Print the report as JSON."),
) -> None:
    """Generate a sample gallery: accounts, families, friends, joint photos, captions, truth.

    Writes ROOT/accounts.jsonl and ROOT/photos.jsonl (the manifest layout of docs/FORMATS.md),
    the photos under ROOT/photos/, and ROOT/truth.json (true relations and face owners).
    """
    from dataclasses import asdict

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    from nextofkin.kin.sample.generate import generate

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=json_out,
    ) as bar:
        task = bar.add_task("rendering photos", total=None)
        report = generate(
            faces,
            out,
            seed,
            accounts,
            workers=jobs,
            density=density,
            progress=lambda n: bar.advance(task, n),
            on_plan=lambda total: bar.update(task, total=total),
        )
    if json_out:
        print_json(asdict(report))
        return
    console.print(
        f"[bold]{report.accounts}[/] accounts, {report.people} people, {report.photos} photos, "
        f"{report.faces} faces -> {report.root}"
    )
    console.print(
        "relations: " + ", ".join(f"{kind} {count}" for kind, count in report.relations.items())
    )


def register(app: typer.Typer) -> None:
    """Add ``sample-gallery`` to ``app``."""
    app.command("sample-gallery")(sample_gallery_command)
