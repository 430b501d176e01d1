"""Supervised linear backends for face vectors: WCCN and LDA, learned from labelled vectors.

Centring and whitening on the gallery's own mean and covariance (``EngineOptions.centre``) use no
identity labels and made 1:N figures worse. These backends use labels ("these vectors are one
person") to find the directions along which one person's photos vary (within-class scatter) and
the directions that separate people (between-class scatter):

* WCCN (within-class covariance normalisation) maps ``x`` to ``S_w^{-1/2} (x - m)``: directions a
  person's photos vary along are shrunk, so the cosine counts the stable ones more.
* LDA solves ``S_b v = lambda S_w v`` and keeps the ``dims`` directions with the largest ratio of
  between-person to within-person variance (within-class whitened).

``S_w`` is shrunk towards a scaled identity (``shrink``) so that directions seen in few training
people are not blown up. A backend is a :class:`LinearBackend`: a centre and a matrix, applied
before the cosine and followed by re-normalisation to unit length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nextofkin.vision.models import l2_normalise

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
Labels = npt.NDArray[np.int64]

BACKENDS = ("none", "wccn", "lda")


@dataclass(frozen=True)
class LinearBackend:
    """``x -> normalise((x - centre) @ matrix)``; ``matrix`` is (dim, out_dim)."""

    name: str
    centre: F32
    matrix: F32

    def project(self, vectors: F32) -> F32:
        """Vectors in the backend's space, unit length."""
        out: F32 = l2_normalise((vectors - self.centre[None, :]) @ self.matrix)
        return out


@dataclass(frozen=True)
class Scatter:
    """Within- and between-class scatter of labelled vectors, and their means."""

    mean: F64  # mean of the class means (each person counts once)
    within: F64  # average over classes of each class's covariance (classes with >= 2 vectors)
    between: F64  # covariance of the class means
    classes: int  # classes that contributed to ``within``


def scatter(vectors: F32, labels: Labels) -> Scatter:
    """Within- and between-class scatter, every class weighted equally.

    Classes with a single vector add to the between-class scatter only.
    """
    x = np.asarray(vectors, dtype=np.float64)
    dim = x.shape[1]
    within = np.zeros((dim, dim))
    means: list[F64] = []
    used = 0
    for label in np.unique(labels):
        members = x[labels == label]
        centre = members.mean(axis=0)
        means.append(centre)
        if len(members) >= 2:
            diff = members - centre
            within += diff.T @ diff / len(members)
            used += 1
    if used == 0:
        raise ValueError("no class has two or more vectors: within-class scatter is undefined")
    class_means = np.stack(means)
    mean = class_means.mean(axis=0)
    diff_m = class_means - mean
    between = diff_m.T @ diff_m / len(class_means)
    return Scatter(mean=mean, within=within / used, between=between, classes=used)


def shrunk(cov: F64, shrink: float) -> F64:
    """``(1 - shrink) * cov + shrink * (trace / dim) * I``."""
    target = np.trace(cov) / cov.shape[0]
    out: F64 = (1.0 - shrink) * cov + shrink * target * np.eye(cov.shape[0])
    return out


def inverse_sqrt(cov: F64) -> F64:
    """The symmetric inverse square root of a positive definite matrix."""
    vals, vecs = np.linalg.eigh(cov)
    out: F64 = vecs @ np.diag(1.0 / np.sqrt(np.maximum(vals, 1e-12))) @ vecs.T
    return out


def fit_wccn(
    vectors: F32, labels: Labels, shrink: float = 0.5, centre: bool = False
) -> LinearBackend:
    """WCCN: ``S_w^{-1/2}`` of the shrunk average within-class covariance.

    ``centre`` subtracts the mean of the class means first (plain WCCN does not).
    """
    sc = scatter(vectors, labels)
    matrix = inverse_sqrt(shrunk(sc.within, shrink))
    mean = sc.mean if centre else np.zeros_like(sc.mean)
    return LinearBackend(
        name=f"wccn(shrink={shrink:g}{', centred' if centre else ''})",
        centre=mean.astype(np.float32),
        matrix=matrix.astype(np.float32),
    )


def fit_lda(
    vectors: F32, labels: Labels, dims: int = 100, shrink: float = 0.1, centre: bool = True
) -> LinearBackend:
    """LDA: the ``dims`` leading solutions of ``S_b v = lambda S_w v`` (``S_w`` shrunk).

    The projection whitens the within-class scatter, so cosines in LDA space weigh every kept
    direction by how well it separates people.
    """
    sc = scatter(vectors, labels)
    w_inv = inverse_sqrt(shrunk(sc.within, shrink))
    vals, vecs = np.linalg.eigh(w_inv @ sc.between @ w_inv)
    order = np.argsort(vals)[::-1][: max(1, min(dims, len(vals)))]
    matrix = w_inv @ vecs[:, order]
    mean = sc.mean if centre else np.zeros_like(sc.mean)
    return LinearBackend(
        name=f"lda(dims={dims}, shrink={shrink:g}{'' if centre else ', uncentred'})",
        centre=mean.astype(np.float32),
        matrix=matrix.astype(np.float32),
    )


@dataclass(frozen=True)
class TwoCovariance:
    """A two-covariance (PLDA-style) model: ``x = y + e``, ``y ~ N(m, B)``, ``e ~ N(0, W)``.

    The same-person log-likelihood ratio of ``a`` and ``b`` (both centred on ``m``) is
    ``a' P b + (a' Q a + b' Q b) / 2`` up to a constant.
    """

    centre: F32
    cross: F32  # P
    self_term: F32  # Q

    def scores(self, probes: F32, gallery: F32) -> F32:
        """Log-likelihood ratios, shape (probes, gallery)."""
        a = (probes - self.centre[None, :]).astype(np.float64)
        b = (gallery - self.centre[None, :]).astype(np.float64)
        qa = np.einsum("ij,jk,ik->i", a, self.self_term, a)
        qb = np.einsum("ij,jk,ik->i", b, self.self_term, b)
        out: F32 = (a @ self.cross @ b.T + 0.5 * (qa[:, None] + qb[None, :])).astype(np.float32)
        return out


def fit_two_covariance(
    vectors: F32, labels: Labels, shrink: float = 0.1, lda: LinearBackend | None = None
) -> tuple[TwoCovariance, LinearBackend | None]:
    """The two-covariance model of ``vectors`` (optionally in ``lda``'s space first).

    Returns the model and the projection to apply to vectors before :meth:`TwoCovariance.scores`.
    """
    x = lda.project(vectors) if lda is not None else vectors
    sc = scatter(x, labels)
    within = shrunk(sc.within, shrink)
    total = sc.between + within
    t_inv = np.linalg.inv(total)
    a_inv = np.linalg.inv(total - sc.between @ t_inv @ sc.between)
    cross = t_inv @ sc.between @ a_inv
    self_term = t_inv - a_inv
    model = TwoCovariance(
        centre=sc.mean.astype(np.float32),
        cross=((cross + cross.T) / 2).astype(np.float32),
        self_term=((self_term + self_term.T) / 2).astype(np.float32),
    )
    return model, lda
