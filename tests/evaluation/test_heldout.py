"""The calibrate/check split of ``eval protocol``: halves by the protocol's identities, counted,
and no out-of-sample figure from an empty half (synthetic vectors, no models)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from nextofkin.evaluation.cache import CachedFace, ImageFaces
from nextofkin.evaluation.engine import EngineOptions, ProbeInput, build_gallery, run_searches
from nextofkin.evaluation.heldout import calibration_check
from nextofkin.evaluation.protocols import Probe, read_protocol, split_by_identity
from nextofkin.settings import DecisionPolicy

DIM = 16


def _image(vec: np.ndarray) -> ImageFaces:
    unit = (vec / np.linalg.norm(vec)).astype(np.float32)
    face = CachedFace(
        box=[40, 40, 110, 110],
        landmarks=[[60, 60], [70, 60], [90, 60], [80, 60], [75, 80]],
        detection_score=0.9,
        quality=0.8,
        size=1.0,
        sharpness=0.8,
        pose=0.9,
        eye_distance_px=30.0,
        rotation=0,
        embedding=unit,
        flipped=unit,
    )
    return ImageFaces(150, 150, [face])


def _write(tmp_path: Path, data: dict[str, object]) -> Path:
    path = tmp_path / "protocol.json"
    path.write_text(json.dumps(data))
    return path


def test_strangers_in_one_folder_land_in_both_halves(tmp_path: Path) -> None:
    # Every probe in one folder: the old folder-as-identity rule put all of them in one half.
    data = {
        "gallery": [{"account": f"a{i}", "photos": [f"g/a{i}.jpg"]} for i in range(4)],
        "mated_probes": [{"photo": f"probes/m{i}.jpg", "account": f"a{i}"} for i in range(4)],
        "nonmated_probes": [f"probes/s{i}.jpg" for i in range(10)],
    }
    protocol = read_protocol(_write(tmp_path, data))
    even, odd = split_by_identity(protocol.probes)
    assert sum(p.mate is None for p in even) == 5 and sum(p.mate is None for p in odd) == 5
    assert sum(p.mate is not None for p in even) == 2 and sum(p.mate is not None for p in odd) == 2


def test_named_identities_keep_a_person_in_one_half(tmp_path: Path) -> None:
    data = {
        "gallery": [{"account": "a0", "photos": ["g/a0.jpg"]}],
        "mated_probes": [
            {"photo": f"p/m{i}.jpg", "account": "a0", "identity": "anna"} for i in range(3)
        ],
        "nonmated_probes": [
            {"photo": f"p/s{i}.jpg", "identity": f"stranger{i // 2}"} for i in range(6)
        ],
    }
    protocol = read_protocol(_write(tmp_path, data))
    even, odd = split_by_identity(protocol.probes)
    assert {p.identity for p in even}.isdisjoint({p.identity for p in odd})
    assert len(even) + len(odd) == 9 and even and odd
    for i in range(3):
        pair = {f"s{2 * i}.jpg", f"s{2 * i + 1}.jpg"}
        assert pair <= {p.photo.name for p in even} or pair <= {p.photo.name for p in odd}


def _world(strangers: list[Probe]) -> tuple[list[Probe], list[ProbeInput], np.ndarray]:
    rng = np.random.default_rng(1)
    people = rng.normal(size=(30 + len(strangers), DIM))
    probes = [Probe(Path(f"m{i}.jpg"), f"acc{i}", f"account:acc{i}") for i in range(30)]
    probes += strangers
    inputs = [
        ProbeInput(str(p.photo), p.mate, [_image(people[i] + 0.3 * rng.normal(size=DIM))])
        for i, p in enumerate(probes)
    ]
    return probes, inputs, people


def test_check_counts_both_halves_and_reports_out_of_sample() -> None:
    strangers = [Probe(Path(f"s{i}.jpg"), None, f"probe:s{i}.jpg") for i in range(400)]
    probes, inputs, people = _world(strangers)
    gallery = build_gallery([(f"acc{i}", [_image(people[i])]) for i in range(30)], EngineOptions())
    searches = run_searches(gallery, inputs, EngineOptions())
    check, _ = calibration_check(gallery, searches, probes, EngineOptions(), DecisionPolicy())
    assert check.calibration_nonmated == 200 and check.nonmated_reported == 200
    assert check.mated_reported == 15
    assert check.measured_match_fpir is not None and check.fnir_at_match is not None


def test_empty_check_half_gives_no_figure() -> None:
    # One named stranger identity: every stranger is in the calibration half, none in the check.
    strangers = [Probe(Path(f"s{i}.jpg"), None, "identity:aaa") for i in range(400)]
    probes, inputs, people = _world(strangers)
    gallery = build_gallery([(f"acc{i}", [_image(people[i])]) for i in range(30)], EngineOptions())
    searches = run_searches(gallery, inputs, EngineOptions())
    check, _ = calibration_check(gallery, searches, probes, EngineOptions(), DecisionPolicy())
    assert check.calibration_nonmated == 400 and check.nonmated_reported == 0
    assert check.measured_match_fpir is None and check.measured_possible_fpir is None
    assert check.gallery_loo_measured_match_fpir is None
    assert check.fnir_at_match is not None  # the mated half is not empty
