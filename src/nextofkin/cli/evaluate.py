"""Accuracy commands: ``eval pairs``, ``eval protocol`` and ``calibrate``.

Faces of protocol images are cached (``--cache``, default inside the workspace) so reruns and
degraded variants only analyse what changed; analysis runs in a process pool (``--workers``).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nextofkin.cli.common import (
    CliState,
    console,
    err_console,
    handle_errors,
    print_json,
    state,
)
from nextofkin.cli.eval_group import eval_app
from nextofkin.errors import InputError
from nextofkin.i18n import _, format_number, lazy_gettext
from nextofkin.vision.flip import plain_embedder_name

if TYPE_CHECKING:
    # Numpy and the evaluation engine load only when an evaluation runs (start-up time).
    from nextofkin.evaluation.engine import EngineOptions
    from nextofkin.evaluation.heldout import CalibrationCheck
    from nextofkin.evaluation.runner import ProtocolReport, RunContext

log = logging.getLogger(__name__)

CACHE_NAME = "eval-faces.sqlite"

# Options several evaluation commands share (Typer copies each one where it is used).
Workers = Annotated[
    int | None, typer.Option("--workers", "-j", help=lazy_gettext("Worker processes."))
]
Cache = Annotated[Path | None, typer.Option("--cache", help=lazy_gettext("Face cache file."))]
Flip = Annotated[
    bool, typer.Option("--flip/--no-flip", help=lazy_gettext("Flip test-time augmentation."))
]
Cohort = Annotated[
    int, typer.Option("--cohort", help=lazy_gettext("Cohort size of score normalisation."))
]
MinQuality = Annotated[
    float, typer.Option("--min-quality", help=lazy_gettext("Gallery face quality gate."))
]
Fusion = Annotated[
    bool, typer.Option("--fusion", help=lazy_gettext("Also measure 3-photo probe fusion."))
]
PlotsOut = Annotated[
    Path | None, typer.Option("--out", help=lazy_gettext("Write DET and CMC PNGs here."))
]


def _cache_path(st: CliState, cache: Path | None) -> Path:
    return cache if cache is not None else st.settings.home / "cache" / CACHE_NAME


def _options(
    flip: bool, template: str, normalise: str, cohort: int, min_quality: float
) -> EngineOptions:
    from nextofkin.evaluation.engine import NORMALISATIONS, TEMPLATES, EngineOptions

    if template not in TEMPLATES:
        raise InputError(_("--template must be one of %(names)s", names=", ".join(TEMPLATES)))
    if normalise not in NORMALISATIONS:
        raise InputError(_("--normalise must be one of %(names)s", names=", ".join(NORMALISATIONS)))
    return EngineOptions(
        flip=flip, template=template, normalise=normalise, cohort=cohort, min_quality=min_quality
    )


def analysis_progress(quiet: bool) -> Progress:
    """A progress bar on standard error for analysing protocol images (off when ``quiet``)."""
    return Progress(
        TextColumn("[bold]" + _("analysing images") + "[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
    )


def analysis_context(
    st: CliState, cache: Path | None, workers: int | None, progress: Progress
) -> RunContext:
    """How an evaluation analyses images: the face cache, the models, the workers, the bar."""
    from nextofkin.evaluation.cache import FaceCache
    from nextofkin.evaluation.runner import RunContext, model_label

    task = progress.add_task("", total=None)  # its columns say what runs

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    # The cache keeps each face's plain and mirrored vectors; --flip/--no-flip combines them, so
    # a flip-averaged product embedder is evaluated through its plain base.
    vision = st.settings.vision.model_copy(
        update={"embedder": plain_embedder_name(st.settings.vision.embedder)}
    )
    return RunContext(
        cache=FaceCache(_cache_path(st, cache)),
        vision=vision,
        model=model_label(vision),
        workers=workers or st.settings.workers,
        progress=update,
    )


def _pct(value: float) -> str:
    return format_number(100.0 * value, 2) + "%"


@handle_errors
def pairs_command(
    ctx: typer.Context,
    pairs_file: Path = typer.Argument(
        ..., help=lazy_gettext("An LFW pairs file (pairs.txt format).")
    ),
    images: Path = typer.Option(
        ..., "--images", help=lazy_gettext("Folder holding <name>/<name>_NNNN.jpg.")
    ),
    json_out: bool = typer.Option(
        False, "--json", help=lazy_gettext("Print JSON, with every pair's score.")
    ),
    flip: Flip = True,
    normalise: str = typer.Option(
        "none",
        "--normalise",
        help=lazy_gettext(
            "none, or snorm: each fold's scores normalised against the other folds' faces."
        ),
    ),
    cohort: Cohort = 100,
    workers: Workers = None,
    cache: Cache = None,
) -> None:
    """LFW pair verification: 10-fold accuracy, each fold's threshold chosen on the other nine."""
    from nextofkin.evaluation.protocols import read_pairs
    from nextofkin.evaluation.runner import evaluate_pairs

    st = state(ctx)
    pairs = read_pairs(pairs_file, images)
    options = _options(flip, "max", normalise, cohort, 0.0)
    with analysis_progress(json_out) as progress:
        run = analysis_context(st, cache, workers, progress)
        report = evaluate_pairs(run, pairs, options, name=str(pairs_file))
    if json_out:
        print_json(report.to_dict())
        return
    acc = report.accuracy
    console.print(
        _(
            "%(file)s: accuracy %(mean)s ± %(error)s (standard error over %(folds)s folds; "
            "%(pairs)s pairs, %(failed)s without a face, counted wrong) — %(options)s",
            file=f"[bold]{pairs_file.name}[/]",
            mean=f"[bold]{_pct(acc.mean)}[/]",
            error=_pct(acc.standard_error),
            folds=len(acc.fold_accuracies),
            pairs=format_number(acc.pairs),
            failed=format_number(acc.failed_pairs),
            options=report.options,
        )
    )
    folds = ", ".join(format_number(100 * a, 1) for a in acc.fold_accuracies)
    console.print(_("fold accuracies: %(folds)s", folds=folds))


def _expand_conditions(names: list[str]) -> list[str]:
    from nextofkin.evaluation.degrade import combined_conditions, condition, single_conditions

    out: list[str] = []
    for name in names:
        if name == "all-single":
            out += single_conditions()
        elif name == "all":
            out += single_conditions() + combined_conditions()
        else:
            condition(name)  # validates the name
            out.append(name)
    return list(dict.fromkeys(out))


@dataclass(frozen=True)
class ProtocolRun:
    """What ``eval protocol`` was asked to measure, beside the engine's options."""

    protocol_file: Path
    conditions: list[str]
    sample: int | None
    seed: int
    fusion: bool


@handle_errors
def protocol_command(
    ctx: typer.Context,
    protocol_file: Path = typer.Argument(
        ..., help=lazy_gettext("A 1:N protocol file (protocol-1n.json).")
    ),
    json_out: bool = typer.Option(
        False,
        "--json",
        help=lazy_gettext("Print JSON, with every search's top-20 (account, score)."),
    ),
    degrade: list[str] = typer.Option(
        [],
        "--degrade",
        "-d",
        help=lazy_gettext(
            "Post-mortem condition(s) to apply to probes: a name, a+b chain, "
            "'all-single' or 'all'. Repeatable."
        ),
    ),
    sample: int | None = typer.Option(
        None,
        "--sample",
        help=lazy_gettext("Probes per degraded condition (a fixed, seeded subset)."),
    ),
    seed: int = typer.Option(0, "--seed", help=lazy_gettext("Seed of degradations and sampling.")),
    flip: Flip = True,
    template: str = typer.Option(
        "max", "--template", help=lazy_gettext("Account score: max or mean.")
    ),
    normalise: str = typer.Option(
        "snorm",
        "--normalise",
        help=lazy_gettext("Score normalisation against the gallery: none or snorm."),
    ),
    cohort: Cohort = 100,
    min_quality: MinQuality = 0.0,
    fusion: Fusion = False,
    out: PlotsOut = None,
    workers: Workers = None,
    cache: Cache = None,
) -> None:
    """Open-set 1:N identification: rank-1, CMC to rank 20, FNIR at FPIR 0.1/0.01/0.003/0.001.

    Thresholds are checked on identities they were not set on: calibration uses the non-mated
    probes of even-indexed identities, and the check is reported on the odd-indexed ones.
    """
    st = state(ctx)
    options = _options(flip, template, normalise, cohort, min_quality)
    asked = ProtocolRun(protocol_file, _expand_conditions(degrade), sample, seed, fusion)
    with analysis_progress(json_out) as progress:
        report = _run_protocol(st, asked, options, analysis_context(st, cache, workers, progress))
    plots = _write_plots(report, out) if out is not None else []
    if json_out:
        print_json({**report.to_dict(), "plots": plots})
        return
    _print_report(report, plots)


def _run_protocol(
    st: CliState, asked: ProtocolRun, options: EngineOptions, run: RunContext
) -> ProtocolReport:
    """Read the protocol and measure it under every condition asked for."""
    from nextofkin.evaluation.protocols import read_protocol
    from nextofkin.evaluation.runner import evaluate_protocol

    return evaluate_protocol(
        run,
        read_protocol(asked.protocol_file),
        options,
        policy=st.settings.decision,
        degrade=asked.conditions,
        seed=asked.seed,
        sample=asked.sample,
        fusion=asked.fusion,
    )


def _write_plots(report: ProtocolReport, out: Path) -> list[str]:
    from nextofkin.evaluation.plots import plot_cmc, plot_det

    det = plot_det(report.det, out / "det.png", title=f"{report.protocol}: DET ({report.options})")
    cmc_curves = {
        f"{f.condition} ({f.probes})": f.result.cmc
        for f in report.figures
        if f.probes != "odd identities"
    }
    cmc = plot_cmc(cmc_curves, out / "cmc.png", title=f"{report.protocol}: CMC ({report.options})")
    return [str(det), str(cmc)]


def _report_table(report: ProtocolReport) -> Table:
    """One row a probe condition: searches, rank-1 and -10, FNIR at four FPIRs, faces missed."""
    table = Table(
        title=_(
            "%(protocol)s: %(accounts)s accounts, model %(model)s, %(options)s",
            protocol=report.protocol,
            accounts=format_number(report.gallery_accounts),
            model=report.model,
            options=report.options,
        )
    )
    table.add_column(_("condition"))
    table.add_column(_("probes"))
    for col in (_("mated"), _("non-mated"), _("rank-1"), _("rank-10")):
        table.add_column(col, justify="right")
    for fp in ("0.1", "0.01", "0.003", "0.001"):
        table.add_column(f"FNIR@{fp}", justify="right")
    table.add_column(_("no face"), justify="right")
    return table


def _print_report(report: ProtocolReport, plots: list[str]) -> None:
    table = _report_table(report)
    clean_rank1 = {f.probes: f.result.rank1 for f in report.figures if f.condition == "clean"}
    for f in report.figures:
        r = f.result
        rank1 = _pct(r.rank1)
        if f.condition != "clean" and f.probes in clean_rank1:
            rank1 += f" ({100 * (r.rank1 - clean_rank1[f.probes]):+.1f})"
        table.add_row(
            f.condition,
            f.probes,
            str(r.mated_searches),
            str(r.nonmated_searches),
            rank1,
            _pct(r.cmc[9]) if len(r.cmc) >= 10 else "",
            *(_pct(op.fnir) for op in r.operating_points),
            str(f.no_face),
        )
    console.print(table)
    if report.calibration is not None:
        _print_calibration(report.calibration)
    if report.fusion:
        fu = report.fusion
        console.print(
            _(
                "%(fusion)s of %(size)s photos per body (%(mated)s mated, %(nonmated)s non-mated "
                "groups): rank-1 %(fused)s fused vs %(single)s single; FNIR@0.01 "
                "%(fused_fnir)s vs %(single_fnir)s",
                fusion="[bold]" + _("Fusion") + "[/]",
                size=fu.group_size,
                mated=fu.groups_mated,
                nonmated=fu.groups_nonmated,
                fused=_pct(fu.fused.rank1),
                single=_pct(fu.single.rank1),
                fused_fnir=_pct(fu.fused.fnir["0.01"]),
                single_fnir=_pct(fu.single.fnir["0.01"]),
            )
        )
    for p in plots:
        console.print(_("wrote %(path)s", path=p), markup=False)


def _print_calibration(cal: CalibrationCheck) -> None:
    # An empty check half has no out-of-sample figure: say so rather than print a 0.
    threshold = "  " + _(
        "%(name)s ≥ %(threshold)s: target FPIR %(target)s, measured %(measured)s; FNIR %(fnir)s"
    )
    console.print(
        _(
            "%(title)s set on %(on)s, checked on %(checked)s (%(nonmated)s non-mated, "
            "%(mated)s mated); halves split %(split)s:",
            title="[bold]" + _("Calibration") + "[/]",
            on=cal.calibrated_on,
            checked=cal.reported_on,
            nonmated=cal.nonmated_reported,
            mated=cal.mated_reported,
            split=cal.split,
        )
    )
    for name, value, target, measured, fnir in (
        (_("match"), cal.match_threshold, cal.target_match_fpir, cal.measured_match_fpir,
         cal.fnir_at_match),
        (_("possible"), cal.possible_threshold, cal.target_possible_fpir,
         cal.measured_possible_fpir, cal.fnir_at_possible),
    ):  # fmt: skip
        console.print(
            threshold
            % {
                "name": name,
                "threshold": format_number(value, 4),
                "target": f"{target:g}",
                "measured": _rate(measured),
                "fnir": _held_pct(fnir),
            }
        )
    console.print("  " + _("the match threshold means: %(m)s", m=cal.match_meaning))
    console.print("  " + _("the possible threshold means: %(m)s", m=cal.possible_meaning))
    console.print(
        "  "
        + _(
            "the gallery's own leave-one-out calibration (what ingest stores) gives match ≥ "
            "%(threshold)s: measured FPIR %(match)s (match), %(possible)s (possible)",
            threshold=format_number(cal.gallery_loo_match_threshold, 4),
            match=_rate(cal.gallery_loo_measured_match_fpir),
            possible=_rate(cal.gallery_loo_measured_possible_fpir),
        )
    )


def _rate(value: float | None) -> str:
    return _("none (the check half is empty)") if value is None else format_number(value, 4)


def _held_pct(value: float | None) -> str:
    return _("none (the check half is empty)") if value is None else _pct(value)


def register(app: typer.Typer) -> None:
    """Add ``eval pairs`` and ``eval protocol`` to the shared eval group."""
    names = {c.name for c in eval_app.registered_commands}
    if "pairs" not in names:  # build_app can run more than once in one process (tests)
        eval_app.command(
            "pairs",
            help=lazy_gettext(
                "LFW pair verification: 10-fold accuracy, each fold's threshold chosen on the "
                "other nine."
            ),
        )(pairs_command)
        eval_app.command(
            "protocol",
            help=lazy_gettext(
                "Open-set 1:N identification: rank-1, CMC to rank 20, FNIR at FPIR "
                "0.1/0.01/0.003/0.001."
            ),
        )(protocol_command)
