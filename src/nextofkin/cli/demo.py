"""``nextofkin demo``: the main job end to end on the embedded default."""

from __future__ import annotations

import random
from pathlib import Path

import typer

from nextofkin.cli.common import console, handle_errors, lit, state

DEMO_ADMIN = "demo-admin"
DEMO_INVESTIGATOR = "demo-investigator"
DEFAULT_FACES = (
    Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "lfw" / "images"
)


@handle_errors
def demo_command(
    ctx: typer.Context,
    faces: Path | None = typer.Option(
        None, "--faces", help="Identity-folder face set (default: ../shared/datasets/lfw/images)."
    ),
    photos: int = typer.Option(1200, "--photos", help="Gallery size in photos."),
    seed: int = typer.Option(7, "--seed", help="Seed for the subset and the probe."),
    workers: int | None = typer.Option(None, "--workers", "-j", help="Worker processes."),
) -> None:
    """Build a gallery from a face set, ingest it, and identify a rotated, darkened photo."""
    from nextofkin.cases.service import identify_for_case
    from nextofkin.cli.core import ingest_command, render_result
    from nextofkin.demo.build import build_demo_gallery, post_mortem_probe
    from nextofkin.errors import InputError, NotFound
    from nextofkin.users.service import Role, add_user, get_user

    faces = faces or DEFAULT_FACES
    if not faces.is_dir():
        raise InputError(
            f"no face set at {faces}: pass --faces DIR (one folder of photos per person)"
        )
    ws = state(ctx).workspace
    gallery_root = ws.home / "demo-gallery"
    console.rule("[bold]1. build a gallery")
    gallery = build_demo_gallery(faces, gallery_root, max_photos=photos, seed=seed)
    console.print(
        f"{gallery.accounts} accounts, {gallery.photos} photos in {gallery.root} "
        f"({len(gallery.held_out)} people have a photo held out)"
    )
    console.rule("[bold]2. ingest")
    ingest_command(
        ctx, root=gallery.root, workers=workers, source="demo", json_out=False, layout="auto"
    )
    console.rule("[bold]3. identify a post-mortem-like photo")
    person = random.Random(seed).choice(sorted(gallery.held_out))
    probe = post_mortem_probe(gallery.held_out[person], ws.home / "demo-probe" / "probe.jpg")
    console.print(
        f"probe: {probe} — a photo of [bold]{person}[/] not in the gallery, "
        "rotated 90° and darkened"
    )
    # The demo goes through the same safeguards as real work: a named user, a case, the audit log.
    with ws.session() as session:
        try:
            get_user(session, DEMO_ADMIN)
        except NotFound:
            add_user(session, None, DEMO_ADMIN, Role.ADMIN)
        try:
            get_user(session, DEMO_INVESTIGATOR)
        except NotFound:
            add_user(session, DEMO_ADMIN, DEMO_INVESTIGATOR, Role.INVESTIGATOR)
    outcome = identify_for_case(ws, DEMO_INVESTIGATOR, None, [probe], top=5)
    console.print(
        f"case [bold]{outcome.case_number}[/] opened by {DEMO_INVESTIGATOR}; the search is "
        "stored with it and in the audit log"
    )
    result = outcome.result.to_dict()
    render_result(result)
    top = result["candidates"][0] if result["candidates"] else None
    if top and top["account"] == person:
        console.print(f"[bold green]The right account ({lit(person)}) is ranked first.[/]")
    else:
        console.print(f"[bold yellow]{lit(person)} is not ranked first.[/]")


def register(app: typer.Typer) -> None:
    """Add the demo command to ``app``."""
    app.command("demo")(demo_command)
