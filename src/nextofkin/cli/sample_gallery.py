"""``nextofkin sample-gallery``: a synthetic but realistic gallery export from a face set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

from nextofkin.cli.common import console, handle_errors, print_json
from nextofkin.i18n import _, lazy_gettext, ngettext

if TYPE_CHECKING:
    from nextofkin.kin.sample.generate import GalleryReport


@handle_errors
def sample_gallery_command(
    faces: Path = typer.Option(
        ...,
        "--faces",
        help=lazy_gettext("Identity-folder face set, e.g. LFW's images/ (DIR/<Name>/*.jpg)."),
    ),
    out: Path = typer.Option(
        ..., "--out", help=lazy_gettext("Folder to write the gallery into (ROOT).")
    ),
    seed: int = typer.Option(
        ..., "--seed", help=lazy_gettext("Random seed: the same seed, the same gallery.")
    ),
    accounts: int = typer.Option(200, "--accounts", min=1, help=lazy_gettext("How many accounts.")),
    density: float = typer.Option(
        1.0,
        "--density",
        min=0.05,
        max=1.0,
        help=lazy_gettext("Share of posts kept (1.0: about 7 per account)."),
    ),
    jobs: int = typer.Option(1, "--jobs", "-j", min=1, help=lazy_gettext("Rendering processes.")),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print the report as JSON.")),
) -> None:
    """Generate a sample gallery: accounts, families, friends, joint photos, captions, truth.

    Writes ROOT/accounts.jsonl and ROOT/photos.jsonl (the manifest layout of docs/FORMATS.md),
    the photos under ROOT/photos/, and ROOT/truth.json (true relations and face owners).
    """
    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=json_out,
    ) as bar:
        task = bar.add_task(_("rendering photos"), total=None)
        report = _generate(
            faces, out, seed, accounts, jobs, density,
            progress=lambda n: bar.advance(task, n),
            on_plan=lambda total: bar.update(task, total=total),
        )  # fmt: skip
    if json_out:
        print_json(asdict(report))
        return
    _print_gallery(report)


def _generate(
    faces: Path, out: Path, seed: int, accounts: int, jobs: int, density: float,
    progress: Callable[[int], None], on_plan: Callable[[int], None],
) -> GalleryReport:  # fmt: skip
    """Render the gallery (the photo compositor loads only for this command)."""
    from nextofkin.kin.sample.generate import generate

    return generate(
        faces, out, seed, accounts, workers=jobs, density=density, progress=progress,
        on_plan=on_plan,
    )  # fmt: skip


def _print_gallery(report: GalleryReport) -> None:
    """How much was generated, where, and the true relations by kind."""
    counts = (
        ngettext("%(num)d account", "%(num)d accounts", report.accounts),
        ngettext("%(num)d person", "%(num)d people", report.people),
        ngettext("%(num)d photo", "%(num)d photos", report.photos),
        ngettext("%(num)d face", "%(num)d faces", report.faces),
    )
    console.print(
        _("%(counts)s -> %(root)s", counts=", ".join(counts), root=report.root), markup=False
    )
    relations = ", ".join(f"{kind} {count}" for kind, count in report.relations.items())
    console.print(_("relations: %(counts)s", counts=relations), markup=False)


def register(app: typer.Typer) -> None:
    """Add ``sample-gallery`` to ``app``."""
    app.command(
        "sample-gallery",
        help=lazy_gettext(
            "Generate a sample gallery: accounts, families, friends, joint photos, captions, truth."
        ),
    )(sample_gallery_command)
