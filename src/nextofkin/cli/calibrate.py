"""``nextofkin calibrate``: measure impostor scores against the gallery and store thresholds."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from nextofkin import audit
from nextofkin.cli.common import console, handle_errors, print_json, record_action, state
from nextofkin.cli.evaluate import Cache, Workers, analysis_context, analysis_progress
from nextofkin.errors import InputError
from nextofkin.i18n import _, format_number, lazy_gettext

if TYPE_CHECKING:
    from nextofkin.identify.calibration import Calibration


@handle_errors
def calibrate_command(
    ctx: typer.Context,
    protocol_file: Path | None = typer.Argument(
        None,
        help=lazy_gettext(
            "A 1:N protocol whose non-mated probes are strangers to this gallery. Without it, "
            "the gallery's own owners are searched leave-one-account-out."
        ),
    ),
    half: str = typer.Option(
        "even",
        "--identities",
        help=lazy_gettext(
            "Which non-mated identities to use: even (keep the odd ones for reporting) or all."
        ),
    ),
    json_out: bool = typer.Option(False, "--json", help=lazy_gettext("Print JSON.")),
    workers: Workers = None,
    cache: Cache = None,
) -> None:
    """Measure impostor scores against this workspace's gallery and store the thresholds.

    The thresholds realise the decision policy's FPIR targets (``NEXTOFKIN_DECISION__*``) for a
    gallery of this size; every score shown afterwards says how often a stranger scores as high.
    """
    from nextofkin.evaluation.calibrate import calibrate_from_protocol, calibrate_self

    st = state(ctx)
    if half not in ("even", "all"):
        raise InputError(_("--identities must be 'even' or 'all'"))
    if protocol_file is None:
        calibration = calibrate_self(st.workspace)
    else:
        with analysis_progress(json_out) as progress:
            run = analysis_context(st, cache, workers, progress)
            calibration = calibrate_from_protocol(st.workspace, run, protocol_file, half=half)
    data = calibration.to_dict()
    data.pop("scores", None)
    details = {"protocol": str(protocol_file) if protocol_file else None, **data}
    record_action(st, audit.Action.CALIBRATE, "calibration", details)
    examples = _examples(calibration)
    if json_out:
        print_json({**data, "examples": [asdict(ex) for ex in examples]})
        return
    _print_calibrated(calibration, examples)


@dataclass(frozen=True)
class ScoreExample:
    """What a threshold score means against this gallery (``calibrate`` shows each one)."""

    score: float
    fpir: float
    meaning: str


def _examples(calibration: Calibration) -> list[ScoreExample]:
    return [
        ScoreExample(round(score, 4), calibration.fpir(score), calibration.meaning(score))
        for score in (calibration.possible_threshold, calibration.match_threshold)
        if math.isfinite(score)
    ]


def _print_calibrated(calibration: Calibration, examples: list[ScoreExample]) -> None:
    """The thresholds just stored, what each means, and the calibration's notes."""
    console.print(
        _(
            "%(title)s on %(samples)s impostor searches (%(method)s) against %(accounts)s accounts",
            title="[bold]" + _("Calibrated") + "[/]",
            samples=format_number(calibration.samples),
            method=calibration.method,
            accounts=format_number(calibration.accounts),
        )
    )
    console.print(
        "  "
        + _(
            "match ≥ %(match)s (FPIR %(match_fpir)s); possible ≥ %(possible)s "
            "(FPIR %(possible_fpir)s)",
            match=format_number(calibration.match_threshold, 4),
            match_fpir=f"{calibration.match_fpir:g}",
            possible=format_number(calibration.possible_threshold, 4),
            possible_fpir=f"{calibration.possible_fpir:g}",
        )
    )
    for ex in examples:
        console.print(
            "  "
            + _(
                "score %(score)s: %(meaning)s", score=format_number(ex.score, 4), meaning=ex.meaning
            )
        )
    for note in calibration.notes:
        console.print("  [yellow]" + _("note:") + f"[/] {note}")


def register(app: typer.Typer) -> None:
    """Add ``calibrate`` to ``app``."""
    app.command(
        "calibrate",
        help=lazy_gettext(
            "Measure impostor scores against this workspace's gallery and store the thresholds."
        ),
    )(calibrate_command)
