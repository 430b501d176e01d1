"""``nextofkin demo``: the whole job end to end on the embedded default, as a new team's first hour.

A sample gallery with families is built and ingested; an investigator identifies a rotated,
darkened photo in a case, looks at who appears with the person, two reviewers confirm, a manual
message to the mother is prepared, the PDF report is written and the audit log verified. It ends
with the users it made and the commands a person would type next on the same workspace.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from sqlalchemy import select

from nextofkin import audit
from nextofkin.cases.review import Verdict, review
from nextofkin.cases.service import identify_for_case
from nextofkin.cli.common import console, handle_errors, lit, state
from nextofkin.cli.core import ingest_command, photo_names, render_result
from nextofkin.demo.build import post_mortem_probe
from nextofkin.demo.casting import Casting, choose_person
from nextofkin.errors import InputError, NextOfKinError
from nextofkin.i18n import N_, _, format_number, label, lazy_gettext, ngettext
from nextofkin.users.labels import role_label
from nextofkin.users.records import User
from nextofkin.users.service import Role, add_user
from nextofkin.workspace import Workspace

SOURCE = "demo"
ADMIN, INVESTIGATOR, REVIEWERS = "chief", "ana", ("ivan", "olga")
USERS = (
    (ADMIN, Role.ADMIN),
    (INVESTIGATOR, Role.INVESTIGATOR),
    *((name, Role.REVIEWER) for name in REVIEWERS),
)
TEAM = {"team_name": "Demo Identification Team", "team_phone": "+380 44 000 00 00"}
DEFAULT_FACES = (
    Path(__file__).resolve().parents[3].parent / "shared" / "datasets" / "lfw" / "images"
)


@handle_errors
def demo_command(
    ctx: typer.Context,
    faces: Path | None = typer.Option(
        None,
        "--faces",
        help=lazy_gettext("Identity-folder face set (default: ../shared/datasets/lfw/images)."),
    ),
    photos: int = typer.Option(
        1200, "--photos", help=lazy_gettext("About how many gallery photos.")
    ),
    seed: int = typer.Option(
        7, "--seed", help=lazy_gettext("Seed for the gallery and the person.")
    ),
    workers: int | None = typer.Option(
        None, "--workers", "-j", help=lazy_gettext("Worker processes.")
    ),
) -> None:
    """Run the whole job on a sample gallery with families, then print what to type next."""
    faces = faces or DEFAULT_FACES
    if not faces.is_dir():
        raise InputError(
            _(
                "no face set at %(faces)s: pass --faces DIR (one folder of photos per person)",
                faces=faces,
            )
        )
    ws = state(ctx).workspace
    root = ws.home / "demo-gallery"
    _step(1, _("a sample gallery with families"))
    _sample_gallery(faces, root, seed, max(30, photos // 4), workers or ws.settings.workers)
    _step(2, _("ingest"))
    ingest_command(
        ctx,
        root=root,
        workers=workers,
        source=SOURCE,
        json_out=False,
        layout="auto",
        engine="local",
        address=None,
    )
    _step(3, _("the team"))
    _team(ws)
    casting = choose_person(root, faces, seed)
    _step(4, _("a case: identify a rotated, darkened photo"))
    number = _identify(ws, casting)
    _step(5, _("who appears with the person"))
    _kin(ws, number, casting)
    _step(6, _("%(first)s and %(second)s confirm", first=REVIEWERS[0], second=REVIEWERS[1]))
    if _confirm(ws, number, casting):
        _step(7, _message_title(casting))
        _message(ws, number, casting)
    _step(8, _("the report and the audit log"))
    _report_and_audit(ws, number)
    console.rule("[bold]" + _("next") + "[/]")
    _next_steps(ws, number, casting)


# Step 7's title by who receives the message (demo.casting names a mother first, else a father).
MESSAGE_TITLES = {
    "mother": N_("a message to the mother, sent by hand"),
    "father": N_("a message to the father, sent by hand"),
}


def _message_title(casting: Casting) -> str:
    """Step 7's title, whole in the reader's language (a relation word inside would not be)."""
    if casting.relative_is in MESSAGE_TITLES:
        return label(MESSAGE_TITLES, casting.relative_is)
    return _("a message to the family, sent by hand")


def _step(n: int, title: str) -> None:
    """A numbered rule between the demo's steps."""
    console.rule(f"[bold]{n}. {lit(title)}[/]")


def _sample_gallery(faces: Path, root: Path, seed: int, accounts: int, workers: int) -> None:
    from nextofkin.kin.sample.generate import generate

    truth = root / "truth.json"
    if truth.is_file():
        known = json.loads(truth.read_text(encoding="utf-8"))
        if (known.get("seed"), known.get("accounts_requested")) == (seed, accounts):
            console.print(_("reusing the sample gallery in %(root)s", root=root), markup=False)
            return
    report = generate(faces, root, seed, accounts, workers=workers, density=0.5)
    console.print(
        _(
            "%(accounts)s, %(photos)s in %(root)s: families, joint photos, captions and contacts "
            "(synthetic, from the face set)",
            accounts=ngettext("%(num)d account", "%(num)d accounts", report.accounts),
            photos=ngettext("%(num)d photo", "%(num)d photos", report.photos),
            root=root,
        ),
        markup=False,
    )


def _team(ws: Workspace) -> None:

    with ws.session() as session:
        have = set(session.scalars(select(User.name)))
        for name, role in USERS:
            if name not in have:
                # The first user bootstraps the workspace; the admin adds the others, audited.
                add_user(session, None if not have and name == ADMIN else ADMIN, name, role)
                have.add(name)
    for key, value in TEAM.items():
        # Letters sign with the team's name and phone; the environment wins where set.
        if not getattr(ws.settings.notify, key):
            setattr(ws.settings.notify, key, value)
    # The demo shows the strict policy: two different reviewers for every identification.
    ws.settings.review.always_two_reviewers = True
    for name, role in USERS:
        console.print(_("user %(name)s (%(role)s)", name=f"[bold]{name}[/]", role=role_label(role)))


def _identify(ws: Workspace, casting: Casting) -> str:

    probe = post_mortem_probe(casting.photo, ws.home / "demo-probe" / "body1.jpg")
    console.print(
        _(
            "probe %(probe)s: a photo of %(name)s (%(account)s) that is not in the gallery, "
            "rotated 90° and darkened",
            probe=lit(probe),
            name=f"[bold]{lit(casting.name)}[/]",
            account=f"{SOURCE}/{lit(casting.account)}",
        )
    )
    outcome = identify_for_case(ws, INVESTIGATOR, None, [probe], top=5)
    console.print(
        _(
            "case %(number)s opened by %(user)s",
            number=f"[bold]{lit(outcome.case_number)}[/]",
            user=INVESTIGATOR,
        )
    )
    render_result(outcome.result, photo_names(ws, outcome.case_number))
    top = outcome.result.candidates[0].account if outcome.result.candidates else None
    if top == casting.account:
        said = _("The right account (%(account)s) is ranked first.", account=lit(casting.account))
        console.print(f"[bold green]{said}[/]")
    else:
        said = _("%(account)s is not ranked first.", account=lit(casting.account))
        console.print(f"[bold yellow]{said}[/]")
    return outcome.case_number


def _kin(ws: Workspace, number: str, casting: Casting) -> None:
    from nextofkin.kin.engine import KinService

    result = KinService(ws).kin_for(
        INVESTIGATOR, casting.account, source=SOURCE, top=5, case=number
    )
    for rel in result.relations:
        console.print(
            f"{format_number(rel.score, 2)}  {SOURCE}/{rel.account} ({rel.name or '-'}): "
            f"{rel.relation}"
            + (f", {rel.kinship}" if rel.kinship else "")
            + (f" — {'; '.join(rel.reasons[:2])}" if rel.reasons else ""),
            markup=False,
        )
    if not result.relations:
        console.print(_("no related account found"))


def _confirm(ws: Workspace, number: str, casting: Casting) -> bool:

    for reviewer in REVIEWERS:
        try:
            with ws.session() as session:
                outcome = review(
                    session, ws.settings.review, reviewer, number, f"{SOURCE}/{casting.account}",
                    Verdict.CONFIRM, reason="demo: the sample gallery's ground truth",
                )  # fmt: skip
        except NextOfKinError as exc:
            said = _("%(reviewer)s could not confirm:", reviewer=reviewer)
            console.print(f"[yellow]{said}[/] {lit(exc)}")
            return False
        said = ngettext(
            "%(reviewer)s confirms %(account)s: %(got)s of %(num)d reviewer",
            "%(reviewer)s confirms %(account)s: %(got)s of %(num)d reviewers",
            outcome.needed,
            reviewer=reviewer,
            account=outcome.account_ref,
            got=len(outcome.confirmations),
        )
        if outcome.identified:
            said += "; " + _("the case is identified")
        console.print(said, markup=False)
        if outcome.identified:
            return True
    return False


def _message(ws: Workspace, number: str, casting: Casting) -> None:
    from nextofkin.notify.service import draft, send

    if casting.relative is None:
        console.print(_("the person has no relative with an account in the gallery: no message"))
        return
    try:
        with ws.session() as session:
            draft(session, ws, INVESTIGATOR, number, [f"{SOURCE}/{casting.relative}"],
                  channel="manual", language="en")  # fmt: skip
        for outcome in send(ws, REVIEWERS[0], number):
            console.print(f"{outcome.recipient}: {lit(outcome.note)}")
    except NextOfKinError as exc:
        console.print("[yellow]" + _("no message:") + f"[/] {lit(exc)}")


def _report_and_audit(ws: Workspace, number: str) -> None:
    from nextofkin.reports import write_report

    path = write_report(ws, INVESTIGATOR, number, "pdf")
    console.print(_("report: %(path)s", path=path), markup=False)
    with ws.session() as session:
        checked = audit.verify(session)
    problems = len(checked.problems)
    verdict = (
        _("intact") if checked.ok else ngettext("%(num)d problem", "%(num)d problems", problems)
    )
    entries = ngettext("%(num)d entry", "%(num)d entries", checked.checked)
    console.print(_("audit log: %(entries)s, %(verdict)s", entries=entries, verdict=verdict))


def _next_steps(ws: Workspace, number: str, casting: Casting) -> None:
    person = f"{SOURCE}/{casting.account}"
    lines = [
        f"export NEXTOFKIN_HOME={ws.home}",
        f'export NEXTOFKIN_NOTIFY__TEAM_NAME="{TEAM["team_name"]}" '
        f'NEXTOFKIN_NOTIFY__TEAM_PHONE="{TEAM["team_phone"]}"',
        f"export NEXTOFKIN_USER={INVESTIGATOR}",
        "nextofkin status",
        f"nextofkin case show {number}",
        f"nextofkin identify {ws.home / 'demo-probe' / 'body1.jpg'} --top 10   # a new case",
        f"nextofkin kin {person}",
        f"nextofkin case report {number} --format pdf --out report.pdf",
        f"NEXTOFKIN_USER={REVIEWERS[0]} nextofkin notify list {number}",
        f"NEXTOFKIN_USER={ADMIN} nextofkin user add YOURNAME --role investigator",
        f"NEXTOFKIN_USER={ADMIN} nextofkin audit verify",
        "nextofkin serve",
    ]
    console.print(
        _(
            "users: %(users)s. Commands to try next:",
            users=", ".join(f"{n} ({role_label(r)})" for n, r in USERS),
        )
    )
    for line in lines:
        # Never wrapped: each line is copied into a shell as it is.
        console.print(f"  {line}", markup=False, highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    """Add the demo command to ``app``."""
    app.command(
        "demo",
        help=lazy_gettext(
            "Run the whole job on a sample gallery with families, then print what to type next."
        ),
    )(demo_command)
