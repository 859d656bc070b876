"""One-vs-rest linear SVM over knowledge points, affordable for KBs with many points.

liblinear's one-vs-rest trains one binary problem per point over *every* question, so its cost
grows with points x questions: a bank's 15,000 questions on ~1,000 answers took 22 s per fit
on 2 cores, and building an index fits four (three for the re-ranker's folds). Only confusable
points matter to a ranking, so above ``exact_budget`` each point's problem keeps its own
questions, every question of its ``neighbours`` nearest points (by centroid cosine) and a
fixed random sample of the rest: the hard negatives plus a spread of easy ones (negative
sampling, as in extreme multi-label classification). The problems run one after another:
liblinear draws from one process-wide random generator, so threads would make builds differ.
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC


def _svc(c: float) -> LinearSVC:
    return LinearSVC(C=c, dual=True, max_iter=1000, tol=1e-3, random_state=0)  # reproducible builds


def _fit(svm: LinearSVC, x: sp.csr_matrix, y: np.ndarray) -> LinearSVC:
    with warnings.catch_warnings():
        # A not-quite-converged problem still ranks fine; don't fail an import over it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        return svm.fit(x, y)


def fit_one_vs_rest(
    x: sp.csr_matrix,
    y: np.ndarray,
    n_points: int,
    c: float,
    exact_budget: int = 1_000_000,
    neighbours: int = 20,
    sample: int = 1000,
) -> tuple[np.ndarray, np.ndarray] | None:
    """(features x points) coefficients and intercepts; ``None`` with fewer than two points.

    Points without training rows get zero weights and intercept -1 so they never win.
    ``exact_budget``: points x questions up to which every problem sees every question.
    """
    present = np.unique(y)
    if len(present) < 2:
        return None
    coef_t = np.zeros((x.shape[1], n_points), dtype=np.float32)
    intercept = np.full(n_points, -1.0, dtype=np.float32)
    if len(present) * x.shape[0] <= exact_budget:
        svm = _fit(_svc(c), x, y)
        coef = svm.coef_.astype(np.float32)
        icpt = svm.intercept_.astype(np.float32)
        if len(present) == 2:  # binary LinearSVC returns one row for classes[1]
            coef, icpt = np.vstack([-coef, coef]), np.r_[-icpt, icpt]
        coef_t[:, present] = coef.T
        intercept[present] = icpt
        return coef_t, intercept
    rows_of = {int(p): np.flatnonzero(y == p) for p in present}
    member = sp.csr_matrix((np.ones(len(y), np.float32), (np.searchsorted(present, y), np.arange(len(y)))))
    cent = member @ x
    norms = np.sqrt(np.asarray(cent.multiply(cent).sum(axis=1)).ravel())
    norms[norms == 0] = 1.0
    cent = sp.diags((1.0 / norms).astype(np.float32)) @ cent
    close = (cent @ cent.T).toarray()
    np.fill_diagonal(close, -1.0)
    k = min(neighbours, len(present) - 1)
    near = np.argpartition(-close, k - 1, axis=1)[:, :k]

    def one(i: int) -> tuple[np.ndarray, float]:
        point = int(present[i])
        pos = rows_of[point]
        hard = np.concatenate([rows_of[int(present[j])] for j in near[i]])
        rng = np.random.default_rng(point)  # reproducible builds
        easy = rng.choice(len(y), min(sample, len(y)), replace=False)
        neg = np.setdiff1d(np.union1d(hard, easy), pos)
        rows = np.r_[pos, neg]
        target = np.r_[np.ones(len(pos), np.int8), np.zeros(len(neg), np.int8)]
        svm = _fit(_svc(c), x[rows], target)
        return svm.coef_[0].astype(np.float32), float(svm.intercept_[0])

    for i in range(len(present)):
        coef_t[:, present[i]], intercept[present[i]] = one(i)
    return coef_t, intercept
