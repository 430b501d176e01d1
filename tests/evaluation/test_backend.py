"""Supervised linear backends (WCCN, LDA) on synthetic identities (no models needed)."""

from __future__ import annotations

import numpy as np
import pytest

from nextofkin.evaluation.backend import fit_lda, fit_wccn, scatter, shrunk
from nextofkin.evaluation.engine import EngineOptions, Gallery, score_accounts, with_backend

DIM = 12


def _world(
    seed: int = 0, people: int = 60, photos: int = 6
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """People whose photos vary strongly along two nuisance directions (pose, light)."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(people, DIM))
    nuisance = np.zeros((DIM, DIM))
    nuisance[0, 0] = nuisance[1, 1] = 4.0
    vecs = []
    labels = []
    for i, c in enumerate(centres):
        for _ in range(photos):
            vecs.append(c + rng.normal(size=DIM) @ nuisance + 0.2 * rng.normal(size=DIM))
            labels.append(i)
    x = np.asarray(vecs, dtype=np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True), np.asarray(labels), centres


def test_scatter_ignores_singletons_for_within() -> None:
    x = np.asarray([[1, 0], [0, 1], [1, 1], [5, 5]], dtype=np.float32)
    sc = scatter(x, np.asarray([0, 0, 0, 1]))
    assert sc.classes == 1
    assert sc.within.shape == (2, 2)
    assert np.allclose(sc.between, sc.between.T)
    with pytest.raises(ValueError, match="within-class"):
        scatter(x[:2], np.asarray([0, 1]))


def test_shrunk_keeps_trace() -> None:
    cov = np.diag([4.0, 1.0, 1.0])
    out = shrunk(cov, 0.5)
    assert np.isclose(np.trace(out), np.trace(cov))
    assert np.allclose(shrunk(cov, 1.0), 2.0 * np.eye(3))


def test_wccn_whitens_within_class_scatter() -> None:
    x, labels, _ = _world()
    backend = fit_wccn(x, labels, shrink=0.0)
    projected = (x - backend.centre) @ backend.matrix
    within = scatter(projected.astype(np.float32), labels).within
    assert np.allclose(within, np.eye(DIM), atol=1e-3)
    out = backend.project(x)
    assert np.allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_lda_keeps_requested_dims() -> None:
    x, labels, _ = _world()
    backend = fit_lda(x, labels, dims=5, shrink=0.1)
    assert backend.matrix.shape == (DIM, 5)
    assert backend.project(x).shape == (len(x), 5)


@pytest.mark.parametrize("kind", ["wccn", "lda"])
@pytest.mark.parametrize("normalise", ["none", "snorm"])
def test_backend_improves_identification_of_unseen_people(kind: str, normalise: str) -> None:
    """Trained on some people, it ranks other people's photos better than the raw cosine."""
    train_x, train_labels, _ = _world(seed=1)
    backend = (
        fit_wccn(train_x, train_labels, shrink=0.1)
        if kind == "wccn"
        else fit_lda(train_x, train_labels, dims=DIM - 1, shrink=0.1)
    )
    x, labels, _ = _world(seed=2, people=50, photos=2)
    options = EngineOptions(normalise=normalise, cohort=10)
    gallery_x, probe_x = x[0::2], x[1::2]
    raw = Gallery(
        accounts=[f"p{i}" for i in range(50)],
        vectors=gallery_x,
        owner=np.arange(50, dtype=np.int64),
    )
    if normalise == "snorm":
        from nextofkin.evaluation.engine import gallery_cohort

        raw.cohort_mean, raw.cohort_std = gallery_cohort(raw, options.cohort)
    learned = with_backend(Gallery(raw.accounts, gallery_x, raw.owner), backend, options)
    hits_raw = (score_accounts(raw, probe_x, options).argmax(axis=1) == labels[1::2]).mean()
    hits = (score_accounts(learned, probe_x, options).argmax(axis=1) == labels[1::2]).mean()
    assert hits > hits_raw


def test_with_backend_refuses_a_projected_gallery() -> None:
    x, labels, _ = _world()
    backend = fit_wccn(x, labels)
    gallery = Gallery(["a"], x[:1], np.zeros(1, dtype=np.int64))
    projected = with_backend(gallery, backend, EngineOptions())
    with pytest.raises(ValueError, match="backend"):
        with_backend(projected, backend, EngineOptions())


def test_two_covariance_scores_same_person_higher() -> None:
    from nextofkin.evaluation.backend import fit_two_covariance

    x, labels, _ = _world(seed=3)
    model, proj = fit_two_covariance(x, labels, shrink=0.1)
    assert proj is None
    test, _, _ = _world(seed=4, people=30, photos=2)
    scores = model.scores(test[0::2], test[1::2])
    assert scores.shape == (30, 30)
    assert (scores.argmax(axis=1) == np.arange(30)).mean() > 0.5
    assert np.allclose(
        model.scores(test[:3], test[3:6]), model.scores(test[3:6], test[:3]).T, atol=1e-3
    )
    lda = fit_lda(x, labels, dims=6)
    model6, proj6 = fit_two_covariance(x, labels, shrink=0.1, lda=lda)
    assert proj6 is lda
    assert model6.cross.shape == (6, 6)
