"""Accuracy commands: ``eval pairs``, ``eval protocol`` and ``calibrate``.

Faces of protocol images are cached (``--cache``, default inside the workspace) so reruns and
degraded variants only analyse what changed; analysis runs in a process pool (``--workers``).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from nextofkin import audit
from nextofkin.cli.common import (
    CliState,
    console,
    err_console,
    handle_errors,
    print_json,
    record_action,
    state,
)
from nextofkin.errors import InputError

log = logging.getLogger(__name__)

CACHE_NAME = "eval-faces.sqlite"


def _cache_path(st: CliState, cache: Path | None) -> Path:
    return cache if cache is not None else st.settings.home / "cache" / CACHE_NAME


def _options(flip: bool, template: str, normalise: str, cohort: int, min_quality: float) -> Any:
    from nextofkin.evaluation.engine import NORMALISATIONS, TEMPLATES, EngineOptions

    if template not in TEMPLATES:
        raise InputError(f"--template must be one of {', '.join(TEMPLATES)}")
    if normalise not in NORMALISATIONS:
        raise InputError(f"--normalise must be one of {', '.join(NORMALISATIONS)}")
    return EngineOptions(
        flip=flip, template=template, normalise=normalise, cohort=cohort, min_quality=min_quality
    )


def _progress(quiet: bool) -> Progress:
    return Progress(
        TextColumn("[bold]analysing images[/]"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
    )


def _context(st: CliState, cache: Path | None, workers: int | None, progress: Progress) -> Any:
    from nextofkin.evaluation.cache import FaceCache
    from nextofkin.evaluation.runner import RunContext, model_label

    task = progress.add_task("analyse", total=None)

    def update(done: int, total: int) -> None:
        progress.update(task, completed=done, total=total)

    from nextofkin.vision.flip import plain_embedder_name

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
    return f"{100.0 * value:.2f}%"


@handle_errors
def pairs_command(
    ctx: typer.Context,
    pairs_file: Path = typer.Argument(..., help="An LFW pairs file (pairs.txt format)."),
    images: Path = typer.Option(..., "--images", help="Folder holding <name>/<name>_NNNN.jpg."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON, with every pair's score."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Flip test-time augmentation."),
    normalise: str = typer.Option(
        "none",
        "--normalise",
        help="none, or snorm: each fold's scores normalised against the other folds' faces.",
    ),
    cohort: int = typer.Option(100, "--cohort", help="Cohort size of score normalisation."),
    workers: int | None = typer.Option(None, "--workers", "-j", help="Worker processes."),
    cache: Path | None = typer.Option(None, "--cache", help="Face cache file."),
) -> None:
    """LFW pair verification: 10-fold accuracy, each fold's threshold chosen on the other nine."""
    from nextofkin.evaluation.protocols import read_pairs
    from nextofkin.evaluation.runner import evaluate_pairs

    st = state(ctx)
    pairs = read_pairs(pairs_file, images)
    options = _options(flip, "max", normalise, cohort, 0.0)
    with _progress(json_out) as progress:
        run = _context(st, cache, workers, progress)
        report = evaluate_pairs(run, pairs, options, name=str(pairs_file))
    if json_out:
        print_json(report.to_dict())
        return
    acc = report.accuracy
    console.print(
        f"[bold]{pairs_file.name}[/]: accuracy [bold]{_pct(acc.mean)}[/] "
        f"± {_pct(acc.standard_error)}"
        f" (standard error over {len(acc.fold_accuracies)} folds; {acc.pairs} pairs, "
        f"{acc.failed_pairs} without a face, counted wrong) — {report.options}"
    )
    console.print("fold accuracies: " + ", ".join(f"{100 * a:.1f}" for a in acc.fold_accuracies))


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


@handle_errors
def protocol_command(
    ctx: typer.Context,
    protocol_file: Path = typer.Argument(..., help="A 1:N protocol file (protocol-1n.json)."),
    json_out: bool = typer.Option(
        False, "--json", help="Print JSON, with every search's top-20 (account, score)."
    ),
    degrade: list[str] = typer.Option(
        [],
        "--degrade",
        "-d",
        help="Post-mortem condition(s) to apply to probes: a name, a+b chain, "
        "'all-single' or 'all'. Repeatable.",
    ),
    sample: int | None = typer.Option(
        None, "--sample", help="Probes per degraded condition (a fixed, seeded subset)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed of degradations and sampling."),
    flip: bool = typer.Option(True, "--flip/--no-flip", help="Flip test-time augmentation."),
    template: str = typer.Option("max", "--template", help="Account score: max or mean."),
    normalise: str = typer.Option(
        "snorm", "--normalise", help="Score normalisation against the gallery: none or snorm."
    ),
    cohort: int = typer.Option(100, "--cohort", help="Cohort size of score normalisation."),
    min_quality: float = typer.Option(0.0, "--min-quality", help="Gallery face quality gate."),
    fusion: bool = typer.Option(False, "--fusion", help="Also measure 3-photo probe fusion."),
    out: Path | None = typer.Option(None, "--out", help="Write DET and CMC PNGs here."),
    workers: int | None = typer.Option(None, "--workers", "-j", help="Worker processes."),
    cache: Path | None = typer.Option(None, "--cache", help="Face cache file."),
) -> None:
    """Open-set 1:N identification: rank-1, CMC to rank 20, FNIR at FPIR 0.1/0.01/0.003/0.001.

    Thresholds are checked on identities they were not set on: calibration uses the non-mated
    probes of even-indexed identities, and the check is reported on the odd-indexed ones.
    """
    from nextofkin.evaluation.protocols import read_protocol
    from nextofkin.evaluation.runner import evaluate_protocol

    st = state(ctx)
    protocol = read_protocol(protocol_file)
    options = _options(flip, template, normalise, cohort, min_quality)
    conditions = _expand_conditions(degrade)
    with _progress(json_out) as progress:
        run = _context(st, cache, workers, progress)
        report = evaluate_protocol(
            run,
            protocol,
            options,
            policy=st.settings.decision,
            degrade=conditions,
            seed=seed,
            sample=sample,
            fusion=fusion,
        )
    plots: list[str] = []
    if out is not None:
        plots = _write_plots(report, out)
    if json_out:
        data = report.to_dict()
        data["plots"] = plots
        print_json(data)
        return
    _print_report(report, plots)


def _write_plots(report: Any, out: Path) -> list[str]:
    from nextofkin.evaluation.plots import plot_cmc, plot_det

    det = plot_det(report.det, out / "det.png", title=f"{report.protocol}: DET ({report.options})")
    cmc_curves = {
        f"{f.condition} ({f.probes})": f.result.cmc
        for f in report.figures
        if f.probes != "odd identities"
    }
    cmc = plot_cmc(cmc_curves, out / "cmc.png", title=f"{report.protocol}: CMC ({report.options})")
    return [str(det), str(cmc)]


def _print_report(report: Any, plots: list[str]) -> None:
    table = Table(
        title=f"{report.protocol}: {report.gallery_accounts:,} accounts, model {report.model}, "
        f"{report.options}"
    )
    for col in ("condition", "probes", "mated", "non-mated", "rank-1", "rank-10"):
        table.add_column(col, justify="right" if col not in ("condition", "probes") else "left")
    for fp in ("0.1", "0.01", "0.003", "0.001"):
        table.add_column(f"FNIR@{fp}", justify="right")
    table.add_column("no face", justify="right")
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
            f"[bold]Fusion[/] of {fu['group_size']} photos per body ({fu['groups_mated']} mated, "
            f"{fu['groups_nonmated']} non-mated groups): rank-1 {_pct(fu['fused']['rank1'])} "
            f"fused vs {_pct(fu['single']['rank1'])} single; FNIR@0.01 "
            f"{_pct(fu['fused']['fnir']['0.01'])} vs {_pct(fu['single']['fnir']['0.01'])}"
        )
    for p in plots:
        console.print(f"wrote {p}")


def _print_calibration(cal: Any) -> None:
    # An empty check half has no out-of-sample figure: say so rather than print a 0.
    console.print(
        f"[bold]Calibration[/] set on {cal.calibrated_on}, checked on {cal.reported_on} "
        f"({cal.nonmated_reported} non-mated, {cal.mated_reported} mated); halves split "
        f"{cal.split}:\n"
        f"  match ≥ {cal.match_threshold:.4f}: target FPIR {cal.target_match_fpir:g}, "
        f"measured {_rate(cal.measured_match_fpir)}; FNIR {_held_pct(cal.fnir_at_match)}\n"
        f"  possible ≥ {cal.possible_threshold:.4f}: target FPIR {cal.target_possible_fpir:g}, "
        f"measured {_rate(cal.measured_possible_fpir)}; FNIR {_held_pct(cal.fnir_at_possible)}\n"
        f"  the match threshold means: {cal.match_meaning}\n"
        f"  the possible threshold means: {cal.possible_meaning}\n"
        f"  the gallery's own leave-one-out calibration (what ingest stores) gives match ≥ "
        f"{cal.gallery_loo_match_threshold:.4f}: measured FPIR "
        f"{_rate(cal.gallery_loo_measured_match_fpir)} (match), "
        f"{_rate(cal.gallery_loo_measured_possible_fpir)} (possible)"
    )


def _rate(value: float | None) -> str:
    return "none (the check half is empty)" if value is None else f"{value:.4f}"


def _held_pct(value: float | None) -> str:
    return "none (the check half is empty)" if value is None else _pct(value)


@handle_errors
def calibrate_command(
    ctx: typer.Context,
    protocol_file: Path | None = typer.Argument(
        None,
        help="A 1:N protocol whose non-mated probes are strangers to this gallery. Without it, "
        "the gallery's own owners are searched leave-one-account-out.",
    ),
    half: str = typer.Option(
        "even",
        "--identities",
        help="Which non-mated identities to use: even (keep the odd ones for reporting) or all.",
    ),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
    workers: int | None = typer.Option(None, "--workers", "-j", help="Worker processes."),
    cache: Path | None = typer.Option(None, "--cache", help="Face cache file."),
) -> None:
    """Measure impostor scores against this workspace's gallery and store the thresholds.

    The thresholds realise the decision policy's FPIR targets (``NEXTOFKIN_DECISION__*``) for a
    gallery of this size; every score shown afterwards says how often a stranger scores as high.
    """
    from nextofkin.evaluation.calibrate import calibrate_from_protocol, calibrate_self

    st = state(ctx)
    ws = st.workspace
    if half not in ("even", "all"):
        raise InputError("--identities must be 'even' or 'all'")
    if protocol_file is None:
        calibration = calibrate_self(ws)
    else:
        with _progress(json_out) as progress:
            run = _context(st, cache, workers, progress)
            calibration = calibrate_from_protocol(ws, run, protocol_file, half=half)
    data = calibration.to_dict()
    record_action(
        st,
        audit.Action.CALIBRATE,
        "calibration",
        {
            "protocol": str(protocol_file) if protocol_file else None,
            **{k: v for k, v in data.items() if k != "scores"},
        },
    )
    examples = _examples(calibration)
    if json_out:
        data.pop("scores", None)
        data["examples"] = examples
        print_json(data)
        return
    console.print(
        f"[bold]Calibrated[/] on {calibration.samples:,} impostor searches "
        f"({calibration.method}) against {calibration.accounts:,} accounts"
    )
    console.print(
        f"  match ≥ {calibration.match_threshold:.4f} (FPIR {calibration.match_fpir:g}); "
        f"possible ≥ {calibration.possible_threshold:.4f} (FPIR {calibration.possible_fpir:g})"
    )
    for ex in examples:
        console.print(f"  score {ex['score']:.4f}: {ex['meaning']}")
    for note in calibration.notes:
        console.print(f"  [yellow]note:[/] {note}")


def _examples(calibration: Any) -> list[dict[str, Any]]:
    out = []
    for score in (calibration.possible_threshold, calibration.match_threshold):
        if math.isfinite(score):
            out.append(
                {
                    "score": round(score, 4),
                    "fpir": calibration.fpir(score),
                    "meaning": calibration.meaning(score),
                }
            )
    return out


def register(app: typer.Typer) -> None:
    """Add ``eval pairs``, ``eval protocol`` (on the shared eval group) and ``calibrate``."""
    from nextofkin.cli.eval_group import eval_app

    names = {c.name for c in eval_app.registered_commands}
    if "pairs" not in names:  # build_app can run more than once in one process (tests)
        eval_app.command("pairs")(pairs_command)
        eval_app.command("protocol")(protocol_command)
    app.command("calibrate")(calibrate_command)
