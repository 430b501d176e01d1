"""Core commands: ingest, identify, models."""

from __future__ import annotations

import typer

from nextofkin.cli.common import print_json


def models_command(json_out: bool = typer.Option(False, "--json", help="Print JSON.")) -> None:
    """List the registered face models."""
    from nextofkin.vision.models import default_registry

    names = default_registry().names()
    if json_out:
        print_json(names)
        return
    for kind, items in names.items():
        typer.echo(f"{kind}: {', '.join(items)}")


def register(app: typer.Typer) -> None:
    """Add the core commands to ``app``."""
    app.command("models")(models_command)
