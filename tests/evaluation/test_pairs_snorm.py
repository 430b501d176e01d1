"""S-norm of verification pairs: each fold is normalised against the other folds only."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from nextofkin.errors import InputError
from nextofkin.evaluation.protocols import Pair
from nextofkin.evaluation.runner import pair_snorm_scores


def _unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_scores_use_only_the_other_folds_as_cohort() -> None:
    rng = np.random.default_rng(0)
    paths = [Path(f"/x/{i}.jpg") for i in range(12)]
    vectors = dict(zip(paths, _unit(rng.standard_normal((12, 16))), strict=True))
    pairs = [Pair(paths[2 * i], paths[2 * i + 1], i % 2 == 0, i // 2) for i in range(6)]
    k = 2
    scores = pair_snorm_scores(pairs, vectors, k)

    def stats(path: Path, fold: int) -> tuple[float, float]:
        cohort = [q for p in pairs if p.fold != fold for q in (p.left, p.right)]
        sims = np.sort([float(vectors[path] @ vectors[q]) for q in cohort])[::-1][:k]
        return float(np.mean(sims)), max(float(np.std(sims)), 1e-3)

    for pair, got in zip(pairs, scores, strict=True):
        raw = float(vectors[pair.left] @ vectors[pair.right])
        (ma, sa), (mb, sb) = stats(pair.left, pair.fold), stats(pair.right, pair.fold)
        assert got == pytest.approx(0.5 * ((raw - ma) / sa + (raw - mb) / sb), rel=1e-4, abs=1e-4)


def test_a_missing_face_scores_nan_and_one_fold_is_refused() -> None:
    rng = np.random.default_rng(1)
    a, b, c, d = (Path(f"/x/{n}.jpg") for n in "abcd")
    vectors = dict(zip([a, b, c], _unit(rng.standard_normal((3, 8))), strict=True))
    scores = pair_snorm_scores([Pair(a, b, True, 0), Pair(c, d, False, 1)], vectors, 1)
    assert math.isfinite(scores[0]) and math.isnan(scores[1])
    with pytest.raises(InputError, match="two folds"):
        pair_snorm_scores([Pair(a, b, True, 0)], vectors, 1)
