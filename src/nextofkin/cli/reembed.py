"""``nextofkin reindex --embedder NAME``: move the workspace to another embedder.

Loaded only by that command (it brings the ingest and derive code). The work is
``nextofkin.identify.derived.move_embedder``; this module draws its progress, prints its report,
and carries the face ids the case records keep to the new faces (the gallery and identify
layers cannot import cases, so the command hands the carrier down).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from nextofkin import audit
from nextofkin.cases.inquiry_records import CaseProbeFace, InquiryPhoto
from nextofkin.cases.records import CaseSearch
from nextofkin.cases.standing_records import CaseAlert, CaseProbe
from nextofkin.cli.common import CliState, console, err_console, lit, print_json, record_action
from nextofkin.gallery.reembed import ReembedOptions
from nextofkin.i18n import _, format_number, ngettext
from nextofkin.identify.derived import MoveReport, move_embedder, move_target

FACE_KEY = "face_id"


def _rewritten(value: Any, mapping: dict[int, int]) -> tuple[Any, int]:
    """``value`` (stored JSON) with every gallery face id under ``face_id`` carried over."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        changed = 0
        for key, item in value.items():
            if key == FACE_KEY and isinstance(item, int) and item in mapping:
                out[key], changed = mapping[item], changed + 1
            else:
                out[key], n = _rewritten(item, mapping)
                changed += n
        return out, changed
    if isinstance(value, list):
        items = [_rewritten(item, mapping) for item in value]
        return [item for item, _n in items], sum(n for _item, n in items)
    return value, 0


def _chunks(ids: list[int], size: int = 2000) -> Iterator[list[int]]:
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def carry_case_references(session: Session, mapping: dict[int, int]) -> dict[str, int]:
    """Point the case records' gallery face ids at the new faces (same image, same face).

    Stored searches keep their scores (what was shown then) but their evidence faces are
    carried, so a case page still shows the photo; alerts likewise. Standing-search probes are
    vectors of the old model: they stay, and rescans (which match probes to faces by model)
    leave them alone until the case's next search stores a probe of the new model. The
    inquiry sweep's vectors are forgotten, to be made again (docs/MODELS.md).
    """
    searches = 0
    for search in session.scalars(select(CaseSearch)):
        candidates, in_candidates = _rewritten(search.candidates, mapping)
        params, in_params = _rewritten(search.params, mapping)
        if in_candidates or in_params:
            search.candidates, search.params = candidates, params
            searches += 1
    alerts = 0
    for part in _chunks(sorted(mapping)):
        for alert in session.scalars(select(CaseAlert).where(CaseAlert.face_id.in_(part))):
            alert.face_id = mapping[alert.face_id]
            alerts += 1
    return {"case_searches": searches, "case_alerts": alerts, **_forget_probe_vectors(session)}


def _forget_probe_vectors(session: Session) -> dict[str, int]:
    """Inquiry photos' and post-mortem photos' face vectors, made by the old model, forgotten so
    that the next inquiry sweep analyses those photos again with the new one (its matching
    compares the two sides' vectors: they must be of one model). Photos with no face found
    keep their reason: the detector did not change."""
    inquiry = session.execute(
        update(InquiryPhoto)
        .where(InquiryPhoto.embedding.is_not(None))
        .values(embedding=None, model=None, error=None)
        .returning(InquiryPhoto.id)
    ).all()
    case_photos = session.execute(
        delete(CaseProbeFace)
        .where(CaseProbeFace.embedding.is_not(None))
        .returning(CaseProbeFace.id)
    ).all()
    return {"inquiry_photos_to_analyse": len(inquiry), "case_photos_to_analyse": len(case_photos)}


def dormant_probes(session: Session, model: str) -> int:
    """Standing-search probes of another model than ``model`` (asleep until searched again)."""
    return len(list(session.scalars(select(CaseProbe.case_id).where(CaseProbe.model != model))))


def _print(report: MoveReport) -> None:
    if report.nothing_to_do:
        console.print(
            _(
                "the workspace already uses %(embedder)s (or one computing the same vectors): "
                "nothing to re-embed",
                embedder=lit(report.embedder_to),
            )
        )
        return
    console.print(
        _(
            "%(embedded)s embedded with %(embedder)s (%(had)s already had their vector)",
            embedded=ngettext(
                "%(count)s face",
                "%(count)s faces",
                report.embedded,
                count=format_number(report.embedded),
            ),
            embedder=lit(report.embedder_to),
            had=format_number(report.had_vector),
        )
    )
    for problem in report.problems:
        err_console.print(f"  {lit(problem.message)}", highlight=False)
    if not report.switched:
        err_console.print(
            _(
                "%(missing)s of %(faces)s faces still lack a vector of %(embedder)s: the "
                "workspace keeps answering with %(held)s. Put the photos named above back "
                "and run the command again (it continues where it stopped)",
                missing=format_number(report.missing),
                faces=format_number(report.faces),
                embedder=lit(report.embedder_to),
                held=lit(report.embedder_from),
            )
        )
        return
    console.print(
        _(
            "the workspace now answers with %(embedder)s: %(roles)s face roles and %(refs)s "
            "case references carried over, %(removed)s faces of %(held)s removed, index of "
            "%(total)s faces rebuilt, in %(seconds)s s",
            embedder=f"[bold]{lit(report.embedder_to)}[/]",
            roles=format_number(report.roles_carried),
            refs=format_number(sum(report.references_carried.values())),
            removed=format_number(report.faces_removed),
            held=lit(report.embedder_from),
            total=format_number(report.index_total),
            seconds=format_number(report.seconds, 1),
        )
    )


def run_move(
    cli: CliState,
    name: str,
    *,
    workers: int | None,
    batch: int,
    factory: str | None,
    json_out: bool,
) -> None:
    """Move ``cli``'s workspace to embedder ``name``; exit 1 when faces are still missing."""
    ws = cli.workspace
    held, spec, nothing = move_target(ws, name)  # refusals before the progress bar is drawn
    if nothing:
        done = MoveReport(held, name, spec.name, nothing_to_do=True)
        if json_out:
            print_json(asdict(done))
        else:
            _print(done)
        return
    with Progress(
        TextColumn("[bold]" + _("re-embed") + "[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn(_("faces")),
        TimeRemainingColumn(),
        console=console,
        disable=json_out,
    ) as progress:
        task = progress.add_task("", total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        options = ReembedOptions(
            workers=max(1, workers or ws.settings.workers), batch=batch, progress=update
        )
        report = move_embedder(
            ws, name, options, carry=carry_case_references, factory=factory, index_progress=update
        )
    data = asdict(report)
    if report.switched:
        with ws.session() as session:
            data["standing_probes_asleep"] = dormant_probes(session, report.model_to)
    if not report.nothing_to_do:  # a move stopped inside its switch may still finish here
        record_action(cli, audit.Action.REINDEX, "index", {"embedder": name, **data})
    if json_out:
        print_json(data)
    else:
        _print(report)
    if not report.nothing_to_do and not report.switched:
        raise typer.Exit(1)
