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

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from faq.features import FeatureSpace, Prepared, prepare
from faq.rerank import CandidateFeatures, Reranker, inner_folds, train_reranker
from faq.semantic import (
    SIMILARITY_FLOOR,
    Encoder,
    background_similarity,
    default_encoder,
    kb_vectors,
    sentence_text,
    similarity,
)
from faq.svm import fit_one_vs_rest

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
    min_df: int = 2  # n-grams only (single words etc. always kept), KBs of 2,000+ questions only
    max_features: int = 150_000
    svm_c: float = 3.0
    svm_weight: float = 0.8
    svm_exact_budget: int = 1_000_000  # points x questions up to which the SVM is exact (faq/svm.py)
    nn_weight: float = 0.1
    centroid_weight: float = 0.1
    rerank: bool = True  # learned re-ranker over the ensemble's top candidates (faq/rerank.py)
    rerank_k: int = 10
    rerank_folds: int = 3
    rerank_max_queries: int = 3000  # out-of-fold questions used to train it (bounds build time)
    rerank_c: float = 1.0
    semantic: bool = True  # sentence vectors (faq/semantic.py) when the encoder is installed
    semantic_weight: float = 0.3  # point-centroid vector similarity in the blend (blend / (1 + w))

    def space(self) -> FeatureSpace:
        """An unfitted feature space with these settings."""
        return FeatureSpace(
            self.char_ngrams,
            (self.char_weight, self.word_weight, self.pinyin_weight, self.concept_weight, self.sense_weight),
            self.min_df,
            self.max_features,
            self.sense_level,
        )


def _dedupe(
    texts: Sequence[Prepared], labels: Sequence[int]
) -> tuple[list[Prepared], np.ndarray, np.ndarray]:
    """Drop questions of a point that normalise to the same text as another of its questions.

    Staff lists (and generated paraphrases) often differ only in fillers, particles or a
    synonym; after normalisation they are the same row and would only slow the SVM down and
    tilt the centroid. The same text under two different points is kept in both. Returns the
    kept texts, their labels and their positions in the input.
    """
    seen: set[tuple[int, str]] = set()
    out_t: list[Prepared] = []
    out_l: list[int] = []
    kept: list[int] = []
    for i, (t, lab) in enumerate(zip(texts, labels, strict=True)):
        key = (lab, t.norm)
        if key not in seen:
            seen.add(key)
            out_t.append(t)
            out_l.append(lab)
            kept.append(i)
    return out_t, np.asarray(out_l), np.asarray(kept, dtype=np.int64)


def _unit_rows(m: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(m, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    return (m / norms).astype(np.float32)


class FaqMatcher:
    """An immutable index over a set of knowledge points. Build with :meth:`build`."""

    def __init__(
        self,
        points: Sequence[IndexedPoint],
        space: FeatureSpace,
        train_matrix: sp.csr_matrix,
        train_labels: np.ndarray,
        config: MatcherConfig,
        reranker: Reranker | None = None,
        vectors: np.ndarray | None = None,
        encoder: Encoder | None = None,
    ) -> None:
        """Args (besides the obvious): ``vectors``, the sentence vector of each training row
        (rows of ``train_matrix``), and ``encoder`` to embed questions at query time; both or
        neither (lexical only)."""
        if (vectors is None) != (encoder is None):
            raise ValueError("sentence vectors and their encoder go together")
        self.points = list(points)
        self.space = space
        self.config = config
        self.reranker = reranker
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
        self.encoder = encoder
        self._vec: np.ndarray | None = None  # questions x dims, same order as the sparse rows
        self._vec_cent: np.ndarray | None = None  # points x dims, normalised mean of a point's vectors
        self._sem_floor = SIMILARITY_FLOOR  # cosine that means "unrelated" in this KB (see background_similarity)
        if vectors is not None:
            if len(vectors) != train_matrix.shape[0]:
                raise ValueError("one sentence vector per training row")
            self._vec = np.ascontiguousarray(vectors[order], dtype=np.float32)
            self._vec_cent = _unit_rows(member @ self._vec)
            self._sem_floor = background_similarity(self._vec, labels, self._vec_cent)
        # Rows [start, end) of each point's questions (empty for points without any).
        ends = np.r_[self._starts[1:], len(labels)] if len(self._starts) else np.zeros(0, np.int64)
        self._row_range = (np.zeros(n_points, np.int64), np.zeros(n_points, np.int64))
        self._row_range[0][self._present] = self._starts
        self._row_range[1][self._present] = ends
        svm = (
            fit_one_vs_rest(x, labels, n_points, config.svm_c, config.svm_exact_budget)
            if config.svm_weight > 0
            else None
        )
        self._coef_t: np.ndarray | None = None
        self._intercept: np.ndarray | None = None
        if svm is not None:
            self._coef_t, self._intercept = svm
        self._candidates: CandidateFeatures | None = None
        if config.rerank:
            standard = space.transform([prepare(p.standard_question) for p in self.points])
            self._candidates = CandidateFeatures(
                space, self._train_t, self._starts, self._present, self._cent_t, standard, self._vec is not None
            )

    @property
    def semantic(self) -> bool:
        """Whether this index uses sentence vectors."""
        return self._vec is not None

    @classmethod
    def build(
        cls,
        points: Sequence[IndexedPoint],
        config: MatcherConfig | None = None,
        space: FeatureSpace | None = None,
        exclude: set[tuple[int, str]] | None = None,
        encoder: Encoder | None = None,
    ) -> FaqMatcher:
        """Fit features (unless a fitted ``space`` is given) and classifier over ``points``.

        Args:
            points: The knowledge points to index (at least one).
            config: Feature/ensemble settings.
            space: An already fitted feature space to reuse (calibration folds).
            exclude: ``(point index, question)`` pairs left out of training (cross-validation).
            encoder: Sentence encoder; default :func:`faq.semantic.default_encoder` when
                ``config.semantic`` (none if it is not installed).
        """
        if not points:
            raise ValueError("cannot build a matcher over an empty knowledge base")
        config = config or MatcherConfig()
        raw: list[str] = []
        labels: list[int] = []
        for idx, point in enumerate(points):
            for q in point.questions:
                if exclude and (idx, q) in exclude:
                    continue
                raw.append(q)
                labels.append(idx)
        if not raw:
            raise ValueError("no questions to index")
        texts, label_arr, kept = _dedupe([prepare(q) for q in raw], labels)
        if space is None:
            space = config.space().fit(texts)
        x = space.transform(texts)
        encoder = resolve_encoder(config, encoder)
        vectors = kb_vectors(encoder, [sentence_text(raw[i]) for i in kept]) if encoder is not None else None
        reranker = _fit_reranker(points, space, x, label_arr, config, vectors, encoder) if config.rerank else None
        return cls(points, space, x, label_arr, config, reranker, vectors, encoder)

    @classmethod
    def from_rows(
        cls,
        points: Sequence[IndexedPoint],
        space: FeatureSpace,
        x: sp.csr_matrix,
        labels: np.ndarray,
        config: MatcherConfig,
        reranker: Reranker | None = None,
        vectors: np.ndarray | None = None,
        encoder: Encoder | None = None,
    ) -> FaqMatcher:
        """Build from already vectorised questions (calibration reuses one matrix for all folds)."""
        return cls(points, space, x, labels, config, reranker, vectors, encoder)

    def _combine(
        self, nn: np.ndarray, cent: np.ndarray, dec: np.ndarray | None, sem: np.ndarray | None = None
    ) -> np.ndarray:
        c = self.config
        if dec is None:
            total = c.nn_weight + c.centroid_weight
            lexical = (c.nn_weight * nn + c.centroid_weight * cent) / total
        else:
            svm = (np.clip(dec, -1.0, 1.0) + 1.0) / 2.0
            lexical = c.svm_weight * svm + c.nn_weight * nn + c.centroid_weight * cent
        if sem is not None:
            lexical = (lexical + c.semantic_weight * sem) / (1.0 + c.semantic_weight)
        return np.clip(lexical, 0.0, 1.0)

    def _semantic(self, qv: np.ndarray | None) -> tuple[np.ndarray, np.ndarray] | None:
        """Nearest-question and centroid cosines of sentence vectors (queries x points)."""
        if self._vec is None or self._vec_cent is None:
            return None
        if qv is None:
            raise ValueError("this index uses sentence vectors: pass the queries' vectors")
        sims = qv @ self._vec.T
        nn = np.zeros((len(qv), len(self.points)), dtype=np.float32)
        if len(self._starts):
            nn[:, self._present] = np.maximum.reduceat(sims, self._starts, axis=1)
        return similarity(nn, self._sem_floor), similarity(qv @ self._vec_cent.T, self._sem_floor)

    def _semantic_centroid(self, qv: np.ndarray) -> np.ndarray | None:
        """Centroid similarity of one query vector with every point."""
        return None if self._vec_cent is None else similarity(self._vec_cent @ qv, self._sem_floor)

    def _semantic_nearest(self, qv: np.ndarray, points: np.ndarray) -> np.ndarray:
        """Nearest-question similarity of one query vector with the given points only."""
        assert self._vec is not None
        out = np.zeros(len(points), np.float32)
        lo, hi = self._row_range[0][points], self._row_range[1][points]
        has = hi > lo
        if has.any():
            rows = np.concatenate([np.arange(a, b) for a, b in zip(lo[has], hi[has], strict=True)])
            sims = self._vec[rows] @ qv
            out[has] = np.maximum.reduceat(sims, np.r_[0, np.cumsum(hi[has] - lo[has])[:-1]])
        return similarity(out, self._sem_floor)

    def _parts(
        self, block: sp.csr_matrix, qv: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray] | None]:
        """Ensemble score, nearest-question cosine, centroid cosine, SVM decision (queries x
        points) and the sentence-vector cosines (nearest question, centroid) if any."""
        n_points = len(self.points)
        sims = (block @ self._train_t).toarray()
        nn = np.zeros((block.shape[0], n_points), dtype=np.float32)
        if len(self._starts):
            nn[:, self._present] = np.maximum.reduceat(sims, self._starts, axis=1)
        cent = (block @ self._cent_t).toarray()
        dec = None if self._coef_t is None else np.asarray(block @ self._coef_t) + self._intercept
        sem = self._semantic(qv)
        scores = self._combine(nn, cent, dec, None if sem is None else sem[1])
        return scores, nn, cent, np.zeros_like(scores) if dec is None else dec.astype(np.float32), sem

    def score_rows(self, q: sp.csr_matrix, qv: np.ndarray | None = None) -> np.ndarray:
        """Ensemble scores (queries x points), each in 0..1, for vectorised queries (no re-ranking)."""
        out = np.empty((q.shape[0], len(self.points)), dtype=np.float32)
        for start in range(0, q.shape[0], 512):
            end = start + 512
            out[start:end] = self._parts(q[start:end], None if qv is None else qv[start:end])[0]
        return out

    def candidates(
        self, q: sp.csr_matrix, k: int | None = None, qv: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` candidates by ensemble score and their re-ranking features (see faq/rerank.py)."""
        if self._candidates is None:
            raise ValueError("re-ranking features are off (MatcherConfig.rerank)")
        k = k or self.config.rerank_k
        tops, feats = [], []
        for start in range(0, q.shape[0], 256):
            end = start + 256
            block = q[start:end]
            top, f = self._candidates.batch(block, *self._parts(block, None if qv is None else qv[start:end]), k)
            tops.append(top)
            feats.append(f)
        if not tops:
            return np.zeros((0, k), np.int64), np.zeros((0, k, 0), np.float32)
        return np.concatenate(tops), np.concatenate(feats)

    def rank_rows(
        self, q: sp.csr_matrix, k: int = 3, reranker: Reranker | None = None, qv: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Final top-``k`` (point indices, scores in 0..1) of vectorised queries, best first.

        With a re-ranker (this matcher's own, or ``reranker`` — calibration passes one trained
        on other folds) the ensemble's top candidates are reordered and rescored by it.
        ``qv``: the queries' sentence vectors, needed when the index has them.
        """
        model = reranker or self.reranker
        k = min(k, len(self.points))
        if model is None or self._candidates is None:
            scores = self.score_rows(q, qv)
            top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
            return top, np.take_along_axis(scores, top, axis=1)
        top, feats = self.candidates(q, max(k, model.k), qv)
        return rerank(top, feats, model, k)

    def _query_vector(self, text: str) -> np.ndarray | None:
        return None if self.encoder is None else self.encoder.encode([sentence_text(text)])[0]

    def score_one(self, text: str) -> np.ndarray:
        """Ensemble scores of one question against every point (no re-ranking)."""
        n_points = len(self.points)
        cols, vals = self.space.transform_one(prepare(text))
        qv = self._query_vector(text)
        sem = None if qv is None else self._semantic_centroid(qv)
        if len(cols) == 0 and sem is None:
            return np.zeros(n_points, dtype=np.float32)
        sims = self._train_t[cols].T @ vals  # questions
        nn = np.zeros(n_points, dtype=np.float32)
        nn[self._present] = np.maximum.reduceat(sims, self._starts)
        cent = self._cent_t[cols].T @ vals
        dec = None if self._coef_t is None else vals @ self._coef_t[cols] + self._intercept
        return self._combine(nn, np.asarray(cent, dtype=np.float32), dec, sem)

    def query(self, text: str, k: int = 3) -> list[Match]:
        """Top-``k`` knowledge points for ``text``, best first."""
        k = min(k, len(self.points))
        if self.reranker is None:
            scores = self.score_one(text)
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            pairs = [(int(i), float(scores[i])) for i in top]
        else:
            cols, vals = self.space.transform_one(prepare(text))
            if len(cols) or self.encoder is not None:
                pairs = self._rerank_one(cols, vals, k, self._query_vector(text))
            else:
                pairs = [(i, 0.0) for i in range(k)]
        return [
            Match(
                point_id=self.points[i].id,
                standard_question=self.points[i].standard_question,
                answer=self.points[i].answer,
                score=round(s, 4),
                category=self.points[i].category,
            )
            for i, s in pairs
        ]

    def _rerank_one(
        self, cols: np.ndarray, vals: np.ndarray, k: int, qv: np.ndarray | None
    ) -> list[tuple[int, float]]:
        """Top-``k`` of one vectorised question after re-ranking (the latency-critical path)."""
        assert self._candidates is not None and self.reranker is not None
        n_points = len(self.points)
        dec = (
            np.zeros(n_points, np.float32)
            if self._coef_t is None
            else (vals @ self._coef_t[cols] + self._intercept).astype(np.float32)
        )
        # Sentence vectors: the centroid similarity of every point (for the blend), the nearest
        # question's only for the candidates: reading every question's vector (16 MB on the 15k
        # KB) cost more than the rest of the lexical path.
        sem_cent = None if qv is None else self._semantic_centroid(qv)

        def ensemble(nn: np.ndarray, cent: np.ndarray, d: np.ndarray) -> np.ndarray:
            return self._combine(nn, cent, None if self._coef_t is None else d, sem_cent)

        sem = None
        if qv is not None and sem_cent is not None:
            vector = qv

            def nearest(points: np.ndarray) -> np.ndarray:
                return self._semantic_nearest(vector, points)

            sem = (nearest, sem_cent)
        _, top, feats = self._candidates.one(cols, vals, dec, ensemble, max(k, self.reranker.k), sem)
        order, scores = rerank(top[None], feats[None], self.reranker, k)
        return [(int(i), float(s)) for i, s in zip(order[0], scores[0], strict=True)]


def rerank(top: np.ndarray, feats: np.ndarray, model: Reranker, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Reorder candidates ``top`` (n x m) by the re-ranker's scores; keep the first ``k``."""
    scores = model.scores(feats)
    order = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(top, order, axis=1), np.take_along_axis(scores, order, axis=1)


def resolve_encoder(config: MatcherConfig, encoder: Encoder | None) -> Encoder | None:
    """The encoder to use: the one given, else the default one if ``config.semantic``."""
    if not config.semantic:
        return None
    return encoder if encoder is not None else default_encoder()


def _fit_reranker(
    points: Sequence[IndexedPoint],
    space: FeatureSpace,
    x: sp.csr_matrix,
    labels: np.ndarray,
    config: MatcherConfig,
    vectors: np.ndarray | None = None,
    encoder: Encoder | None = None,
) -> Reranker | None:
    """Train the re-ranker out of fold: each fold of similar questions is asked of a matcher
    built without it (same feature space; only the classifier is refitted)."""
    rng = np.random.default_rng(0)  # reproducible builds
    fold = inner_folds(labels, config.rerank_folds, rng)
    held_rows = np.flatnonzero(fold >= 0)
    if len(held_rows) > config.rerank_max_queries:
        held_rows = np.sort(rng.choice(held_rows, config.rerank_max_queries, replace=False))
    feats: list[np.ndarray] = []
    hits: list[np.ndarray] = []
    for f in range(config.rerank_folds):
        asked = held_rows[fold[held_rows] == f]
        train = fold != f
        if len(asked) == 0 or not train.any():
            continue
        if vectors is None:
            matcher = FaqMatcher(points, space, x[train], labels[train], config)
            top, cand = matcher.candidates(x[asked])
        else:
            matcher = FaqMatcher(points, space, x[train], labels[train], config, None, vectors[train], encoder)
            top, cand = matcher.candidates(x[asked], qv=vectors[asked])
        feats.append(cand)
        hits.append(top == labels[asked][:, None])
    return train_reranker(feats, hits, config.rerank_k, config.rerank_c)
