"""A learned re-ranker over the ensemble's top candidates (learning to rank).

Why: the right point is almost always among the ensemble's first few candidates (top-3 ~0.98) but
first only ~0.92 of the time; the blend of SVM, nearest question and centroid is one fixed mix
over one feature space. The re-ranker looks at each of the top ``k`` candidates with more eyes:
the ensemble's parts, the nearest-question and centroid cosines *per feature view* (chars,
words, pinyin, concepts, thesaurus senses), and word/char overlap with the point's vocabulary
and its standard question. A pairwise logistic regression (truth minus each other candidate)
learns how to weigh them; a one-feature logistic fit (Platt scaling) maps its score back to
0..1 so the calibrated thresholds still apply.

Training data comes from the knowledge base itself, out of fold: each point's similar
questions are dealt into folds, each fold is asked of a matcher built without it, and every
question gives one (candidates, correct point) group. Never the held-out benchmark file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression

from faq.features import VIEWS, FeatureSpace

# Feature names, in column order (see CandidateFeatures.batch).
FEATURES = (
    "score",
    "svm",
    "nn",
    "centroid",
    *(f"nn_{v}" for v in VIEWS),
    *(f"centroid_{v}" for v in VIEWS),
    "words_in_point",  # idf share of the query's words found in any of the point's questions
    "words_in_point_freq",  # same, each word weighted by the share of the point's questions having it
    "words_in_standard",  # idf share of the query's words found in the standard question
    "standard_covered",  # idf share of the standard question's words found in the query
    "char_jaccard_standard",
    "log_questions",
    "rank",
)
# Added when the index has sentence vectors (faq/semantic.py): cosine with the nearest question's
# vector and with the point's mean vector.
SEMANTIC_FEATURES = ("sem_nn", "sem_centroid")
MIN_GROUPS = 30  # fewer out-of-fold groups with the truth among the candidates: no re-ranker


def _binary(x: sp.csr_matrix, compact: np.ndarray, width: int) -> sp.csr_matrix:
    """Rows of ``x`` restricted to the columns with ``compact >= 0``, renumbered, as 0/1."""
    x = x.tocsr()
    new = compact[x.indices]
    keep = new >= 0
    row = np.repeat(np.arange(x.shape[0]), np.diff(x.indptr))[keep]
    return sp.csr_matrix((np.ones(int(keep.sum()), np.float32), (row, new[keep])), shape=(x.shape[0], width))


def _safe(v: np.ndarray) -> np.ndarray:
    return np.where(v > 0, v, 1.0).astype(np.float32)


class CandidateFeatures:
    """Per-index precomputation for candidate features (built with the matcher).

    Args:
        space: The fitted feature space.
        train_t: Features x training questions, questions sorted by point.
        starts: First row of each run of questions of one point.
        present: Point index of each run.
        cent_t: Features x points, normalised centroids.
        standard: One vectorised row per point: its standard question.
    """

    def __init__(
        self,
        space: FeatureSpace,
        train_t: sp.csr_matrix,
        starts: np.ndarray,
        present: np.ndarray,
        cent_t: sp.csr_matrix,
        standard: sp.csr_matrix,
        semantic: bool = False,
    ) -> None:
        self.semantic = semantic
        self.train_t, self.starts, self.present, self.cent_t = train_t, starts, present, cent_t
        self.n_points = cent_t.shape[1]
        self.view = space.view
        n_views = len(VIEWS)
        x = train_t.T.tocsr()
        # Norm of each row's part in each view: partial dot / (query part norm * row part norm) = view cosine.
        self._xn = _safe(self._view_norms(x, n_views))  # questions x views
        self._cn = _safe(self._view_norms(cent_t.T.tocsr(), n_views))  # points x views
        names = list(space.vocab)
        is_word = np.array([n[0] == "w" and "_" not in n for n in names], dtype=bool)
        is_char = np.array([n[0] == "c" and len(n) == 2 for n in names], dtype=bool)
        self._word = np.full(len(names), -1, np.int64)
        self._word[is_word] = np.arange(int(is_word.sum()))
        self._char = np.full(len(names), -1, np.int64)
        self._char[is_char] = np.arange(int(is_char.sum()))
        self._idf = space.idf[is_word].astype(np.float32)
        n_words, n_chars = int(is_word.sum()), int(is_char.sum())
        labels = np.repeat(present, np.diff(np.r_[starts, x.shape[0]]))
        member = sp.csr_matrix(
            (np.ones(len(labels), np.float32), (labels, np.arange(len(labels)))), shape=(self.n_points, len(labels))
        )
        counts = (member @ _binary(x, self._word, n_words)).tocsr()
        self._n_questions = np.bincount(labels, minlength=self.n_points).astype(np.float32)
        self._vocab = counts.copy()
        self._vocab.data[:] = 1.0
        self._vocab_t = self._vocab.T.tocsr()
        self._freq_t = (sp.diags(1.0 / _safe(self._n_questions)) @ counts).T.tocsr()
        std_words = _binary(standard, self._word, n_words)
        self._std_words_t = std_words.T.tocsr()
        self._std_idf_t = (std_words @ sp.diags(self._idf)).T.tocsr()
        self._std_idf_total = _safe(np.asarray(std_words @ self._idf).ravel())
        std_chars = _binary(standard, self._char, n_chars)
        self._std_chars_t = std_chars.T.tocsr()
        self._std_char_count = np.asarray(std_chars.sum(axis=1)).ravel().astype(np.float32)
        self._log_questions = np.log1p(self._n_questions)
        # Python sets and dicts for the one-question path: ten candidates' overlaps are cheaper
        # as set lookups than as five sparse slices and products.
        freq = self._freq_t.T.tocsr()
        self._point_words = [
            dict(zip(freq.indices[a:b].tolist(), freq.data[a:b].tolist(), strict=True))
            for a, b in zip(freq.indptr[:-1], freq.indptr[1:], strict=True)
        ]
        sw, sc = std_words.tocsr(), std_chars.tocsr()
        self._std_word_sets = [
            frozenset(sw.indices[a:b].tolist()) for a, b in zip(sw.indptr[:-1], sw.indptr[1:], strict=True)
        ]
        self._std_char_sets = [
            frozenset(sc.indices[a:b].tolist()) for a, b in zip(sc.indptr[:-1], sc.indptr[1:], strict=True)
        ]

    def _view_norms(self, rows: sp.csr_matrix, n_views: int) -> np.ndarray:
        out = np.zeros((rows.shape[0], n_views), np.float32)
        row = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        np.add.at(out, (row, self.view[rows.indices]), rows.data.astype(np.float32) ** 2)
        return np.sqrt(out)

    @property
    def names(self) -> tuple[str, ...]:
        """Feature names, in column order."""
        return FEATURES + (SEMANTIC_FEATURES if self.semantic else ())

    def batch(
        self,
        q: sp.csr_matrix,
        scores: np.ndarray,
        nn: np.ndarray,
        cent: np.ndarray,
        dec: np.ndarray,
        sem: tuple[np.ndarray, np.ndarray] | None,
        k: int,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` candidates of each query (by ensemble score) and their features (n x k x f).

        ``sem``: sentence-vector cosines (nearest question, centroid; queries x points) when the
        index has them.
        """
        if (sem is not None) != self.semantic:
            raise ValueError("sentence-vector cosines must be given exactly when the index has vectors")
        n = q.shape[0]
        k = min(k, self.n_points)
        top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        r = np.arange(n)[:, None]
        cols = [scores[r, top], dec[r, top], nn[r, top], cent[r, top]]
        qviews = self.view[q.indices]
        qn = _safe(self._view_norms(q, len(VIEWS)))
        per_nn, per_cent = [], []
        for v in range(len(VIEWS)):
            qv = q.copy()
            qv.data = np.where(qviews == v, q.data, 0.0).astype(np.float32)
            qv.eliminate_zeros()  # stored zeros would cost a full product per view
            sims = (qv @ self.train_t).toarray() / self._xn[:, v]
            best = np.zeros((n, self.n_points), np.float32)
            if len(self.starts):
                best[:, self.present] = np.maximum.reduceat(sims, self.starts, axis=1)
            per_nn.append(best[r, top] / qn[:, v : v + 1])
            c = (qv @ self.cent_t).toarray() / self._cn[:, v]
            per_cent.append(c[r, top] / qn[:, v : v + 1])
        cols += per_nn + per_cent
        qw = _binary(q, self._word, len(self._idf))
        qi = qw @ sp.diags(self._idf)
        total = _safe(np.asarray(qi.sum(axis=1)).ravel())[:, None]
        cols.append((qi @ self._vocab_t).toarray()[r, top] / total)
        cols.append((qi @ self._freq_t).toarray()[r, top] / total)
        cols.append((qi @ self._std_words_t).toarray()[r, top] / total)
        cols.append((qw @ self._std_idf_t).toarray()[r, top] / self._std_idf_total[top])
        qc = _binary(q, self._char, self._std_chars_t.shape[0])
        inter = (qc @ self._std_chars_t).toarray()[r, top]
        union = np.asarray(qc.sum(axis=1)).ravel()[:, None] + self._std_char_count[top] - inter
        cols.append(inter / _safe(union))
        cols.append(self._log_questions[top])
        cols.append(np.broadcast_to(np.arange(k, dtype=np.float32), (n, k)))
        if sem is not None:
            cols += [sem[0][r, top], sem[1][r, top]]
        return top, np.stack(cols, axis=2).astype(np.float32)

    def one(
        self,
        cols: np.ndarray,
        vals: np.ndarray,
        dec: np.ndarray,
        score: Callable[..., np.ndarray],
        k: int,
        sem: tuple[Callable[[np.ndarray], np.ndarray], np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """:meth:`batch` for one question given as ``(columns, values)``: the path of ``ask``.

        One sparse product gives every view's partial dot products with every question and
        centroid; their sums are the plain cosines, so the ensemble (``score(nn, cent, dec)``)
        comes out of the same product. Returns (ensemble scores, top, features k x f).
        """
        k = min(k, self.n_points)
        views = self.view[cols]
        n_views = len(VIEWS)
        split = sp.csr_matrix((vals, (views, np.arange(len(cols)))), shape=(n_views, len(cols)))
        sims = np.asarray((split @ self.train_t[cols]).todense())  # views x questions
        cent_v = np.asarray((split @ self.cent_t[cols]).todense())  # views x points
        best = np.zeros((n_views + 1, self.n_points), np.float32)
        if len(self.starts):
            both = np.vstack([sims.sum(axis=0, keepdims=True), sims / self._xn.T])
            best[:, self.present] = np.maximum.reduceat(both, self.starts, axis=1)
        scores = score(best[0], cent_v.sum(axis=0), dec)
        top = np.argsort(-scores, kind="stable")[:k]
        qn = _safe(np.sqrt(np.bincount(views, vals.astype(np.float64) ** 2, minlength=n_views)))[:, None]
        feats = [scores[top], dec[top], best[0, top], cent_v.sum(axis=0)[top]]
        feats += list(best[1:, top] / qn) + list((cent_v / self._cn.T)[:, top] / qn)
        words = self._word[cols]
        words = words[words >= 0]
        idf_of = dict(zip(words.tolist(), self._idf[words].tolist(), strict=True))
        chars = self._char[cols]
        chars = frozenset(chars[chars >= 0].tolist())
        total = sum(idf_of.values()) or 1.0
        lex = np.zeros((k, 5), np.float32)
        for j, point in enumerate(top.tolist()):
            vocab = self._point_words[point]
            std = sum(idf_of[w] for w in self._std_word_sets[point] if w in idf_of)
            inter = len(chars & self._std_char_sets[point])
            lex[j] = (
                sum(v for w, v in idf_of.items() if w in vocab) / total,
                sum(v * vocab[w] for w, v in idf_of.items() if w in vocab) / total,
                std / total,
                std / self._std_idf_total[point],
                inter / (len(chars) + self._std_char_count[point] - inter or 1.0),
            )
        feats += list(lex.T)
        feats.append(self._log_questions[top])
        feats.append(np.arange(k, dtype=np.float32))
        if sem is not None:  # (nearest-question similarity of given points, centroid similarity of all)
            feats += [sem[0](top), sem[1][top]]
        return scores, top, np.stack([np.asarray(f, np.float32).ravel() for f in feats], axis=1)


@dataclass(frozen=True)
class Reranker:
    """Pairwise-trained linear scorer over candidate features, Platt-scaled to 0..1."""

    weights: np.ndarray  # already divided by the features' scale
    slope: float
    intercept: float
    k: int

    def scores(self, feats: np.ndarray) -> np.ndarray:
        """Probability-like score (0..1) of every candidate (n x k)."""
        z = self.slope * (feats @ self.weights) + self.intercept
        return (1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))).astype(np.float32)


def train_reranker(feats: Sequence[np.ndarray], hits: Sequence[np.ndarray], k: int, c: float = 1.0) -> Reranker | None:
    """Fit a re-ranker on out-of-fold groups.

    Args:
        feats: Candidate features, each (n x k x f).
        hits: Matching (n x k) booleans: is the candidate the question's point.
        k: Candidates per query it was trained for.
        c: Inverse regularisation of the pairwise logistic regression.

    Returns:
        ``None`` when there are too few usable groups (the ensemble order is kept then).
    """
    # Candidate lists are shorter only on KBs with fewer than ``k`` points (calibration folds of
    # a tiny KB); keep the widest so the groups stack.
    width = max((a.shape[1] for a in feats), default=0)
    kept = [(a, h) for a, h in zip(feats, hits, strict=True) if a.shape[1] == width and len(a)]
    if not kept:
        return None
    f = np.concatenate([a for a, _ in kept])
    y = np.concatenate([h for _, h in kept])
    has = y.any(axis=1) & ~y.all(axis=1)
    if int(has.sum()) < MIN_GROUPS:
        return None
    fg, yg = f[has], y[has]
    pos = fg[np.arange(len(fg)), yg.argmax(axis=1)]
    diffs = (pos[:, None, :] - fg)[~yg]
    scale = diffs.std(axis=0)
    scale[scale < 1e-6] = 1.0
    x = np.r_[diffs, -diffs] / scale
    target = np.r_[np.ones(len(diffs)), np.zeros(len(diffs))]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        pair = LogisticRegression(C=c, max_iter=1000, fit_intercept=False).fit(x, target)
        weights = (pair.coef_.ravel() / scale).astype(np.float32)
        # Platt scaling on every candidate of every group (groups whose truth is not among the
        # candidates included: they teach that a low raw score means a low probability).
        raw = (f @ weights).reshape(-1, 1)
        platt = LogisticRegression(C=1e4, max_iter=1000).fit(raw, y.ravel())
    slope = float(platt.coef_.ravel()[0])
    if slope <= 0:  # the learned order would be reversed by the 0..1 mapping: not a usable model
        return None
    return Reranker(weights, slope, float(platt.intercept_[0]), k)


def inner_folds(labels: np.ndarray, folds: int, rng: np.random.Generator) -> np.ndarray:
    """Fold of each row for out-of-fold training; -1 for a point's first row (its standard
    question, which a real KB never lacks). Each point's other rows are shuffled and dealt
    round-robin, so neighbours in a staff list (often near-copies) do not split predictably."""
    fold = np.full(len(labels), -1, np.int64)
    if len(labels) == 0:
        return fold
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    ends = np.r_[starts[1:], len(labels)]
    for a, b in zip(starts, ends, strict=True):
        rows = rng.permutation(np.arange(a + 1, b))
        fold[rows] = (np.arange(len(rows)) + rng.integers(folds)) % folds
    return fold
