"""The FAQ matcher: one TF-IDF feature space (char n-grams, jieba words, toneless pinyin, concept
tags, thesaurus categories), scored
by an ensemble of a linear SVM over knowledge points, the nearest KB question and the point's
centroid.

Why this shape: on a real bank's KB (15k questions, 940 answers) a char n-gram TF-IDF + linear SVM
reached 0.93 top-1 where DIET was far too slow. Word features (jieba + bank dictionary) add meaning,
toneless pinyin makes homophone typos (挂时/挂失) match, char n-grams tolerate dropped or swapped
characters, and the categories of a general thesaurus (Cilin, see :mod:`faq.thesaurus`) link words
that share no character (如今/现在, 再次/重新). The SVM learns which words tell points apart; the nearest
question rescues points with few or very specific phrasings where the SVM is weak; the centroid adds
the vocabulary of all of a point's phrasings at once (a customer question often mixes words from two
similar questions). Every score is in 0..1 so thresholds can be calibrated (see
:mod:`faq.calibrate`).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.svm import LinearSVC

from faq.features import FeatureSpace, Prepared, prepare

__all__ = ["FaqMatcher", "FeatureSpace", "IndexedPoint", "Match", "MatcherConfig", "Prepared", "prepare"]


@dataclass(frozen=True)
class IndexedPoint:
    """What the matcher needs of a knowledge point (detached from the ORM session)."""

    id: int
    standard_question: str
    answer: str
    questions: tuple[str, ...]  # standard question first, then similar questions
    category: str = ""


@dataclass(frozen=True)
class Match:
    """One candidate answer; ``score`` is in 0..1 and comparable with the calibrated thresholds."""

    point_id: int
    standard_question: str
    answer: str
    score: float
    category: str = ""


@dataclass(frozen=True)
class MatcherConfig:
    """Feature and ensemble settings, kept generic (no vocabulary of the demo bank is baked in)."""

    char_ngrams: tuple[int, int] = (1, 3)
    char_weight: float = 1.0
    word_weight: float = 0.8
    pinyin_weight: float = 0.6
    concept_weight: float = 0.4
    sense_weight: float = 0.8  # thesaurus categories (faq/thesaurus.py)
    sense_level: int = 4  # Cilin code prefix: 4 medium category (Dj05), 5 small, 8 synonym set
    min_df: int = 2  # applied only to KBs of 2,000+ questions
    max_features: int = 150_000
    svm_c: float = 3.0
    svm_weight: float = 0.8
    nn_weight: float = 0.1
    centroid_weight: float = 0.1

    def space(self) -> FeatureSpace:
        """An unfitted feature space with these settings."""
        return FeatureSpace(
            self.char_ngrams,
            (self.char_weight, self.word_weight, self.pinyin_weight, self.concept_weight, self.sense_weight),
            self.min_df,
            self.max_features,
            self.sense_level,
        )


def _fit_svm(x: sp.csr_matrix, y: np.ndarray, n_points: int, c: float) -> tuple[np.ndarray, np.ndarray] | None:
    """One-vs-rest linear SVM; returns (features x points) coefficients and intercepts.

    Points without training rows get zero weights and intercept -1 so they never win.
    """
    present = np.unique(y)
    if len(present) < 2:
        return None
    svm = LinearSVC(C=c, dual=True, max_iter=1000, tol=1e-3, random_state=0)  # reproducible builds
    with warnings.catch_warnings():
        # A not-quite-converged OvR problem still ranks fine; don't fail an import over it.
        warnings.simplefilter("ignore", ConvergenceWarning)
        svm.fit(x, y)
    coef_small = svm.coef_.astype(np.float32)
    icpt_small = svm.intercept_.astype(np.float32)
    if len(present) == 2:  # binary LinearSVC returns one row for classes[1]
        coef_small = np.vstack([-coef_small, coef_small])
        icpt_small = np.r_[-icpt_small, icpt_small]
    coef_t = np.zeros((x.shape[1], n_points), dtype=np.float32)
    intercept = np.full(n_points, -1.0, dtype=np.float32)
    coef_t[:, present] = coef_small.T
    intercept[present] = icpt_small
    return coef_t, intercept


def _dedupe(texts: Sequence[Prepared], labels: Sequence[int]) -> tuple[list[Prepared], np.ndarray]:
    """Drop questions of a point that normalise to the same text as another of its questions.

    Staff lists (and generated paraphrases) often differ only in fillers, particles or a
    synonym; after normalisation they are the same row and would only slow the SVM down and
    tilt the centroid. The same text under two different points is kept in both.
    """
    seen: set[tuple[int, str]] = set()
    out_t: list[Prepared] = []
    out_l: list[int] = []
    for t, lab in zip(texts, labels, strict=True):
        key = (lab, t.norm)
        if key not in seen:
            seen.add(key)
            out_t.append(t)
            out_l.append(lab)
    return out_t, np.asarray(out_l)


class FaqMatcher:
    """An immutable index over a set of knowledge points. Build with :meth:`build`."""

    def __init__(
        self,
        points: Sequence[IndexedPoint],
        space: FeatureSpace,
        train_matrix: sp.csr_matrix,
        train_labels: np.ndarray,
        config: MatcherConfig,
    ) -> None:
        self.points = list(points)
        self.space = space
        self.config = config
        n_points = len(self.points)
        order = np.argsort(train_labels, kind="stable")
        x = train_matrix[order]
        labels = train_labels[order]
        self._train_t = x.T.tocsr()  # features x questions: a query gathers its feature rows
        self._starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
        self._present = labels[self._starts]  # point index of each run of questions
        # Centroid of each point's (normalised) questions, itself normalised: features x points.
        member = sp.csr_matrix(
            (np.ones(len(labels), np.float32), (labels, np.arange(len(labels)))), shape=(n_points, len(labels))
        )
        cent = (member @ x).tocsr()
        norms = np.sqrt(np.asarray(cent.multiply(cent).sum(axis=1)).ravel())
        norms[norms == 0] = 1.0
        self._cent_t = (sp.diags((1.0 / norms).astype(np.float32)) @ cent).T.tocsr()
        svm = _fit_svm(x, labels, n_points, config.svm_c) if config.svm_weight > 0 else None
        self._coef_t: np.ndarray | None = None
        self._intercept: np.ndarray | None = None
        if svm is not None:
            self._coef_t, self._intercept = svm

    @classmethod
    def build(
        cls,
        points: Sequence[IndexedPoint],
        config: MatcherConfig | None = None,
        space: FeatureSpace | None = None,
        exclude: set[tuple[int, str]] | None = None,
    ) -> FaqMatcher:
        """Fit features (unless a fitted ``space`` is given) and classifier over ``points``.

        Args:
            points: The knowledge points to index (at least one).
            config: Feature/ensemble settings.
            space: An already fitted feature space to reuse (calibration folds).
            exclude: ``(point index, question)`` pairs left out of training (cross-validation).
        """
        if not points:
            raise ValueError("cannot build a matcher over an empty knowledge base")
        config = config or MatcherConfig()
        texts: list[Prepared] = []
        labels: list[int] = []
        for idx, point in enumerate(points):
            for q in point.questions:
                if exclude and (idx, q) in exclude:
                    continue
                texts.append(prepare(q))
                labels.append(idx)
        if not texts:
            raise ValueError("no questions to index")
        texts, label_arr = _dedupe(texts, labels)
        if space is None:
            space = config.space().fit(texts)
        return cls(points, space, space.transform(texts), label_arr, config)

    @classmethod
    def from_rows(
        cls,
        points: Sequence[IndexedPoint],
        space: FeatureSpace,
        x: sp.csr_matrix,
        labels: np.ndarray,
        config: MatcherConfig,
    ) -> FaqMatcher:
        """Build from already vectorised questions (calibration reuses one matrix for all folds)."""
        return cls(points, space, x, labels, config)

    def _combine(self, nn: np.ndarray, cent: np.ndarray, dec: np.ndarray | None) -> np.ndarray:
        c = self.config
        if dec is None:
            total = c.nn_weight + c.centroid_weight
            return np.clip((c.nn_weight * nn + c.centroid_weight * cent) / total, 0.0, 1.0)
        svm = (np.clip(dec, -1.0, 1.0) + 1.0) / 2.0
        return np.clip(c.svm_weight * svm + c.nn_weight * nn + c.centroid_weight * cent, 0.0, 1.0)

    def score_rows(self, q: sp.csr_matrix) -> np.ndarray:
        """Ensemble scores (queries x points), each in 0..1, for vectorised queries."""
        n_points = len(self.points)
        out = np.empty((q.shape[0], n_points), dtype=np.float32)
        for start in range(0, q.shape[0], 512):
            block = q[start : start + 512]
            sims = (block @ self._train_t).toarray()
            nn = np.zeros((block.shape[0], n_points), dtype=np.float32)
            nn[:, self._present] = np.maximum.reduceat(sims, self._starts, axis=1)
            cent = (block @ self._cent_t).toarray()
            dec = None if self._coef_t is None else np.asarray(block @ self._coef_t) + self._intercept
            out[start : start + block.shape[0]] = self._combine(nn, cent, dec)
        return out

    def score_matrix(self, queries: Sequence[Prepared]) -> np.ndarray:
        """Ensemble scores (queries x points), each in 0..1."""
        return self.score_rows(self.space.transform(queries))

    def score_one(self, p: Prepared) -> np.ndarray:
        """Scores of one question against every point: the latency-critical path of ``ask``."""
        n_points = len(self.points)
        cols, vals = self.space.transform_one(p)
        if len(cols) == 0:
            return np.zeros(n_points, dtype=np.float32)
        sims = self._train_t[cols].T @ vals  # questions
        nn = np.zeros(n_points, dtype=np.float32)
        nn[self._present] = np.maximum.reduceat(sims, self._starts)
        cent = self._cent_t[cols].T @ vals
        dec = None if self._coef_t is None else vals @ self._coef_t[cols] + self._intercept
        return self._combine(nn, np.asarray(cent, dtype=np.float32), dec)

    def query(self, text: str, k: int = 3) -> list[Match]:
        """Top-``k`` knowledge points for ``text``, best first."""
        scores = self.score_one(prepare(text))
        k = min(k, len(self.points))
        top = np.argpartition(-scores, k - 1)[:k]
        top = top[np.argsort(-scores[top], kind="stable")]
        return [
            Match(
                point_id=self.points[i].id,
                standard_question=self.points[i].standard_question,
                answer=self.points[i].answer,
                score=round(float(scores[i]), 4),
                category=self.points[i].category,
            )
            for i in top
        ]
