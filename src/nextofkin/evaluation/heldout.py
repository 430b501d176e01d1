"""Thresholds set on one half of a protocol's identities, checked on the other half.

``eval protocol`` must never report a stranger rate measured on the strangers that set the
threshold. The halves come from :func:`nextofkin.evaluation.protocols.split_by_identity`, which
splits by the identities the protocol names (or by account and by probe when it names none): a
protocol whose probes all live in one folder still gets two non-empty halves. Each check says how
many searches each half holds, and a figure whose half is empty is ``None``, never a 0 that reads
as a measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from nextofkin.evaluation.engine import EngineOptions, Gallery, gallery_impostor_top1
from nextofkin.evaluation.metrics import (
    Search,
    fnir_at,
    fpir_at,
    mated_rank1_scores,
    nonmated_top_scores,
)
from nextofkin.evaluation.protocols import Probe, names_identities, split_by_identity
from nextofkin.identify.calibration import Calibration, calibrate
from nextofkin.settings import DecisionPolicy


@dataclass
class CalibrationCheck:
    """Thresholds set on one half of the identities, checked on the other half.

    ``measured_*`` and ``fnir_*`` are ``None`` when the check half holds no search of that kind:
    there is then no out-of-sample figure to print.
    """

    calibrated_on: str
    reported_on: str
    split: str  # how identities were told apart
    method: str
    calibration_nonmated: int  # non-mated searches the thresholds were set on
    nonmated_reported: int  # non-mated searches in the check half
    mated_reported: int  # mated searches in the check half
    match_threshold: float
    possible_threshold: float
    target_match_fpir: float
    target_possible_fpir: float
    measured_match_fpir: float | None
    measured_possible_fpir: float | None
    fnir_at_match: float | None
    fnir_at_possible: float | None
    gallery_loo_match_threshold: float
    gallery_loo_measured_match_fpir: float | None
    gallery_loo_measured_possible_fpir: float | None
    match_meaning: str = ""
    possible_meaning: str = ""


def split_label(probes: Sequence[Probe]) -> str:
    """How the halves were told apart, for the report."""
    if names_identities(list(probes)):
        return "by the identities the protocol names"
    return (
        "by identity where the protocol names one, else mated probes by account and "
        "non-mated probes one by one"
    )


def _rate(scores: Sequence[float], threshold: float, fn: str) -> float | None:
    if len(scores) == 0:
        return None
    return fpir_at(scores, threshold) if fn == "fpir" else fnir_at(scores, threshold)


def calibration_check(
    gallery: Gallery,
    searches: Sequence[Search],
    probes: Sequence[Probe],
    options: EngineOptions,
    policy: DecisionPolicy,
) -> tuple[CalibrationCheck, Calibration]:
    """Set thresholds on the even identities' non-mated searches, measure them on the odd ones.

    The gallery's own leave-one-out calibration (what ingest stores) is checked on the same odd
    identities, to show whether it predicts the FPIR that strangers really reach. Raises
    :class:`CalibrationError` when the calibration half holds too few strangers.
    """
    by_probe = {s.probe: s for s in searches}
    even, odd = split_by_identity(list(probes))
    tune = [by_probe[str(p.photo)] for p in even if p.mate is None]
    report = [by_probe[str(p.photo)] for p in odd]
    report_nm = [float(x) for x in nonmated_top_scores(report)]
    report_m = [float(x) for x in mated_rank1_scores(report)]
    held = calibrate(
        nonmated_top_scores(tune),
        gallery.size,
        policy,
        method="protocol non-mated searches, even-indexed identities",
    )
    loo = calibrate(
        gallery_impostor_top1(gallery, options),
        gallery.size - 1,
        policy,
        method="gallery leave-one-account-out impostor top-1",
    )
    check = CalibrationCheck(
        calibrated_on=f"{len(tune)} non-mated searches of even-indexed identities",
        reported_on=f"{len(report)} searches of odd-indexed identities",
        split=split_label(probes),
        method=held.method,
        calibration_nonmated=len(tune),
        nonmated_reported=len(report_nm),
        mated_reported=len(report_m),
        match_threshold=held.match_threshold,
        possible_threshold=held.possible_threshold,
        target_match_fpir=policy.match_fpir,
        target_possible_fpir=policy.possible_fpir,
        measured_match_fpir=_rate(report_nm, held.match_threshold, "fpir"),
        measured_possible_fpir=_rate(report_nm, held.possible_threshold, "fpir"),
        fnir_at_match=_rate(report_m, held.match_threshold, "fnir"),
        fnir_at_possible=_rate(report_m, held.possible_threshold, "fnir"),
        gallery_loo_match_threshold=loo.match_threshold,
        gallery_loo_measured_match_fpir=_rate(report_nm, loo.match_threshold, "fpir"),
        gallery_loo_measured_possible_fpir=_rate(report_nm, loo.possible_threshold, "fpir"),
        match_meaning=held.meaning(held.match_threshold),
        possible_meaning=held.meaning(held.possible_threshold),
    )
    return check, held
