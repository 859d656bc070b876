"""Group unanswered questions into topics: jieba words + character n-grams (TF-IDF), and the
FAQ's sentence vectors when the pool is small enough to embed.

Two paths, by the number of distinct (normalised) questions:

* **up to** :data:`EXACT_MAX`: average-linkage clustering on the full similarity matrix, cut at
  a similarity threshold. Sentence vectors (multilingual-e5-small, ~5 ms per question) join the
  lexical similarity when there are at most :data:`SEMANTIC_MAX` questions: they know paraphrases
  with no shared word (丢了存折 / 存折找不到了), which lexical features cannot see.
* **above**: a sample (frequent questions likelier) is clustered on the exact path, every other
  question joins its nearest sample topic when close enough, and the rest is clustered the same
  way in further rounds. 100,000 questions take under a minute on 2 cores (``make bench-insights``).

Duplicates (after stripping punctuation and chat filler) are clustered once and weighted.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.cluster.hierarchy import fcluster, linkage
from scipy.spatial.distance import squareform
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

from faq.semantic import Encoder, default_encoder, sentence_text, similarity
from faq.text import strip_chatter, words

log = logging.getLogger(__name__)

KB_PATH = Path(__file__).resolve().parent.parent / "nlu_data" / "faq" / "knowledge_base.tsv"

SEMANTIC_MAX = 5000  # distinct questions embedded at most (~5 ms each on 2 cores)
EXACT_MAX = 6000  # distinct questions clustered on the full matrix (36M floats)
LEXICAL_THRESHOLD = 0.30  # average similarity at which two groups stay apart (lexical only)
# Tuned on the labelled bank set (bench/insights.py): floor 0.85, weight 0.7 and cut 0.40 gave
# purity 0.83 with half the clusters lexical features need for the same purity.
MIXED_THRESHOLD = 0.40  # the same with sentence vectors mixed in
SEMANTIC_WEIGHT = 0.7  # share of the sentence vectors in the mixed similarity
SEMANTIC_FLOOR = 0.85  # e5 cosine that means "unrelated" between short bank questions
SAMPLE_SIZE = 5000  # large path: questions clustered exactly per round
ASSIGN_CHUNK = 4000  # large path: rows compared with the topics at a time
# A question joins the nearest sample topic when this similar to its centroid: a centroid is
# closer to its members than they are to each other, so the bar is above the linkage cut.
ASSIGN_THRESHOLD = 0.35

_AUTO: Any = object()


@dataclass(frozen=True)
class Clustering:
    """Cluster labels (0..k-1) per input text, how they were computed, and a representative."""

    labels: np.ndarray
    method: str
    central: dict[int, int]  # cluster label -> index of its most central input text

    @property
    def count(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def clean(text: str) -> str:
    """The form questions are compared in: folded, without punctuation and chat filler."""
    return strip_chatter(text) or text.strip()


def readable(text: str) -> str:
    """:func:`clean` for people: the same words, in the customer's own case (ETC, not etc)."""
    cleaned = clean(text)
    start = text.lower().find(cleaned.lower())
    return text[start : start + len(cleaned)] if start >= 0 and cleaned else cleaned


def _word_tokens(text: str) -> list[str]:
    return words(text)


@lru_cache(maxsize=1)
def background() -> tuple[str, ...]:
    """Ordinary bank questions (the shipped FAQ knowledge base), cleaned.

    Document frequencies are counted over these *and* the pool: fitted on a small pool alone, the
    word that makes a topic (ETC, 纪念币) is in most of the pool's questions and gets almost no
    weight, while 怎么办理 decides. Against ordinary bank questions, 怎么办理 is common and ETC rare.
    """
    if not KB_PATH.exists():
        return ()
    out: list[str] = []
    with KB_PATH.open(encoding="utf-8") as fh:
        for row in csv.DictReader(fh, delimiter="\t"):
            for q in [row.get("standard_question") or "", *(row.get("similar_questions") or "").split("|")]:
                if q.strip():
                    out.append(clean(q))
    return tuple(out)


def lexical_features(texts: Sequence[str]) -> sp.csr_matrix:
    """L2-normalised TF-IDF rows: character 1-3-grams and jieba words, equally weighted; document
    frequencies over the texts plus :func:`background`."""
    corpus = [*texts, *background()]
    chars = TfidfVectorizer(analyzer="char", ngram_range=(1, 3), sublinear_tf=True, min_df=1, dtype=np.float32)
    word_view = TfidfVectorizer(
        tokenizer=_word_tokens, token_pattern=None, lowercase=False, sublinear_tf=True, dtype=np.float32
    )
    xc = chars.fit_transform(corpus)[: len(texts)]
    try:
        xw = word_view.fit_transform(corpus)[: len(texts)]
    except ValueError:  # no words at all (texts of punctuation): characters only
        return normalize(xc).tocsr()
    return normalize(sp.hstack([normalize(xc), normalize(xw)]).tocsr()).tocsr()


def _resolve(encoder: Any) -> Encoder | None:
    return default_encoder() if encoder is _AUTO else encoder


def _average_linkage(similarity_matrix: np.ndarray, threshold: float) -> np.ndarray:
    """Labels from average linkage, cut where groups are on average less similar than ``threshold``.
    Duplicates were merged before: a question asked 50 times is one row (it cannot split)."""
    n = len(similarity_matrix)
    if n == 1:
        return np.zeros(1, dtype=np.int64)
    dist = np.clip(1.0 - similarity_matrix, 0.0, 2.0).astype(np.float64)
    np.fill_diagonal(dist, 0.0)
    dist = (dist + dist.T) / 2.0
    tree = linkage(squareform(dist, checks=False), method="average")
    return fcluster(tree, t=1.0 - threshold, criterion="distance").astype(np.int64) - 1


def _exact(
    unique: Sequence[str], x: sp.csr_matrix, weights: np.ndarray, encoder: Encoder | None, semantic_max: int
) -> tuple[np.ndarray, np.ndarray, str]:
    sim = (x @ x.T).toarray().astype(np.float32)
    threshold, method = LEXICAL_THRESHOLD, "lexical"
    if encoder is not None and len(unique) <= semantic_max:
        vectors = encoder.encode([sentence_text(t) for t in unique])
        semantic = similarity(vectors @ vectors.T, SEMANTIC_FLOOR)
        sim = (1.0 - SEMANTIC_WEIGHT) * sim + SEMANTIC_WEIGHT * semantic
        threshold, method = MIXED_THRESHOLD, "lexical+semantic"
    return _average_linkage(sim, threshold), sim, method


def _large(x: sp.csr_matrix, weights: np.ndarray, seed: int) -> np.ndarray:
    """Cluster a sample exactly, assign the rest to the nearest sample topic, and repeat on what
    is left (new topics) until the rest fits the exact path."""
    rng = np.random.default_rng(seed)
    labels = np.full(x.shape[0], -1, dtype=np.int64)
    todo = np.arange(x.shape[0])
    next_label = 0
    while len(todo):
        if len(todo) <= EXACT_MAX:
            sample = todo
        else:  # frequent questions first: they make the topics customers actually ask about
            p = weights[todo] / weights[todo].sum()
            sample = np.sort(rng.choice(todo, size=SAMPLE_SIZE, replace=False, p=p))
        rows = x[sample]
        sample_labels = _average_linkage((rows @ rows.T).toarray(), LEXICAL_THRESHOLD)
        labels[sample] = sample_labels + next_label
        k = int(sample_labels.max()) + 1
        members = sp.csr_matrix(
            (weights[sample], (sample_labels, np.arange(len(sample)))), shape=(k, len(sample))
        )
        centroids = normalize(members @ rows).tocsr()
        rest = np.setdiff1d(todo, sample, assume_unique=True)
        unassigned: list[np.ndarray] = []
        for start in range(0, len(rest), ASSIGN_CHUNK):
            chunk = rest[start : start + ASSIGN_CHUNK]
            sims = (x[chunk] @ centroids.T).toarray()
            best = sims.argmax(axis=1)
            close = sims[np.arange(len(chunk)), best] >= ASSIGN_THRESHOLD
            labels[chunk[close]] = best[close] + next_label
            unassigned.append(chunk[~close])
        next_label += k
        todo = np.concatenate(unassigned) if unassigned else np.zeros(0, dtype=np.int64)
    return labels


def _central(labels: np.ndarray, x: sp.csr_matrix, sim: np.ndarray | None, weights: np.ndarray) -> dict[int, int]:
    """Per cluster, the member most similar on average to the others (weighted by duplicates)."""
    central: dict[int, int] = {}
    order = np.argsort(labels, kind="stable")
    bounds = np.flatnonzero(np.diff(labels[order])) + 1
    for members in np.split(order, bounds):
        if len(members) == 1:
            central[int(labels[members[0]])] = int(members[0])
            continue
        if sim is not None:
            block = sim[np.ix_(members, members)]
        else:
            rows = x[members]
            block = (rows @ rows.T).toarray()
        score = block @ weights[members]
        central[int(labels[members[0]])] = int(members[int(np.argmax(score))])
    return central


def cluster_texts(
    texts: Sequence[str], encoder: Any = _AUTO, seed: int = 0, semantic_max: int = SEMANTIC_MAX
) -> Clustering:
    """Cluster ``texts`` (already masked customer questions) into topics.

    Args:
        texts: The questions; duplicates are fine (and common).
        encoder: Sentence encoder for small pools; default: the FAQ's (None where not installed
            or switched off with ``FAQ_SEMANTIC=0``); pass ``None`` for lexical only.
        seed: For the large path's sampling (deterministic results).
        semantic_max: Embed at most this many distinct questions (else lexical only); a web
            request passes less than a batch job.

    Returns:
        Labels numbered by decreasing cluster size (0 = largest), and each cluster's most
        central text (an index into ``texts``).
    """
    if not texts:
        return Clustering(np.zeros(0, dtype=np.int64), "empty", {})
    cleaned = [clean(t) for t in texts]
    unique, inverse, counts = np.unique(np.array(cleaned, dtype=object), return_inverse=True, return_counts=True)
    unique_list = [str(u) for u in unique]
    weights = counts.astype(np.float32)
    x = lexical_features(unique_list)
    sim: np.ndarray | None = None
    if len(unique_list) <= EXACT_MAX:
        unique_labels, sim, method = _exact(unique_list, x, weights, _resolve(encoder), semantic_max)
    else:
        unique_labels, method = _large(x, weights, seed), "lexical (exact sample, nearest topic)"
    # Renumber by total size, largest first.
    sizes = np.bincount(unique_labels, weights=weights)
    rank = np.empty_like(sizes, dtype=np.int64)
    rank[np.argsort(-sizes, kind="stable")] = np.arange(len(sizes))
    unique_labels = rank[unique_labels]
    central_unique = _central(unique_labels, x, sim, weights)
    labels = unique_labels[inverse.reshape(-1)]
    # Map a central unique text back to the first input carrying it.
    first_input = np.full(len(unique_list), -1, dtype=np.int64)
    for i in range(len(texts) - 1, -1, -1):
        first_input[inverse.reshape(-1)[i]] = i
    central = {label: int(first_input[u]) for label, u in central_unique.items()}
    return Clustering(labels.astype(np.int64), method, central)


def purity(labels: Sequence[int] | np.ndarray, truth: Sequence[str]) -> float:
    """Share of items whose cluster's most common true label is theirs (1.0 = every cluster pure)."""
    if len(truth) == 0:
        return 1.0
    by_cluster: dict[int, dict[str, int]] = {}
    for label, t in zip(np.asarray(labels).tolist(), truth, strict=True):
        counts = by_cluster.setdefault(int(label), {})
        counts[t] = counts.get(t, 0) + 1
    return sum(max(c.values()) for c in by_cluster.values()) / len(truth)
