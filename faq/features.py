"""One fitted feature space for the FAQ matcher: char n-grams, jieba words, toneless pinyin,
concept tags and thesaurus categories.

Why hand-rolled instead of three sklearn ``TfidfVectorizer``s: a customer question must be
vectorised in well under a millisecond, and sklearn's per-call overhead (three vectorizers,
``hstack``, ``normalize``) cost more than the whole scoring. Here a question becomes a list of
feature strings once (cached), a dict lookup maps them to columns, and the weights are
sublinear tf x smoothed idf, L2-normalised per view and then mixed with the view weights —
the same maths as the vectorizers, without the overhead. The space is fitted once per KB and
reused for the index and every calibration fold.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import scipy.sparse as sp

from faq.text import analyse, pinyin
from faq.thesaurus import word_senses

# Feature views; the prefix keeps e.g. the char "卡" and the word "卡" apart.
VIEWS = ("c", "w", "p", "k", "s")
# One view of a question: (feature, term frequency) pairs, tf already sublinear or sense-split.
View = tuple[tuple[str, float], ...]


@dataclass(frozen=True)
class Prepared:
    """A question in the token views the features are built from."""

    norm: str
    words: tuple[str, ...]
    pinyin: tuple[str, ...]
    concepts: tuple[str, ...] = ()


@lru_cache(maxsize=200_000)
def prepare(text: str) -> Prepared:
    """Normalise once and derive word and pinyin tokens (shared by index and query).

    Cached: a KB is prepared for calibration and again for the index, and customers repeat
    the same short questions; jieba + pypinyin are the most expensive step per question.
    """
    n, toks, cons = analyse(text)
    return Prepared(norm=n, words=toks, pinyin=tuple(pinyin(n)), concepts=cons)


def _with_bigrams(prefix: str, tokens: Sequence[str]) -> list[str]:
    out = [f"{prefix}{t}" for t in tokens]
    out += [f"{prefix}{a}_{b}" for a, b in zip(tokens, tokens[1:], strict=False)]
    return out


def _counted(tokens: Sequence[str]) -> View:
    """Sublinear term frequency (1 + log count), as ``TfidfVectorizer(sublinear_tf=True)``."""
    return tuple((t, 1.0 + float(np.log(c)) if c > 1 else 1.0) for t, c in Counter(tokens).items())


def _senses(words: Sequence[str], level: int) -> View:
    """Thesaurus categories of the words (see :mod:`faq.thesaurus`), codes cut to ``level``
    characters (4: medium category, 5: small category, 8: synonym set).

    Each thesaurus word is a unit vector over its distinct categories (tf 1/sqrt(n) for n
    senses), so a word with four senses (钱, 卡) does not outweigh a word with one, nor does a
    one-sense word make its question's vector longer and so its other matches weaker (an
    L1 split, 1/n, did that: 医保 beat 社保 for the typo 色保; k-fold top-1 0.9216 vs 0.9231).
    """
    tf: dict[str, float] = {}
    for w in words:
        for codes in word_senses(w):
            keys = list(dict.fromkeys(f"s{c[:level]}" for c in codes))
            share = 1.0 / math.sqrt(len(keys))
            for k in keys:
                tf[k] = tf.get(k, 0.0) + share
    return tuple(tf.items())


@lru_cache(maxsize=200_000)
def _tokens(p: Prepared, lo: int, hi: int, sense_level: int) -> tuple[View, ...]:
    text = p.norm
    chars = tuple(f"c{text[i : i + n]}" for n in range(lo, hi + 1) for i in range(len(text) - n + 1))
    kinds = tuple(f"k{c}" for c in p.concepts)
    return (
        _counted(chars),
        _counted(_with_bigrams("w", p.words)),
        _counted(_with_bigrams("p", p.pinyin)),
        _counted(kinds),
        _senses(p.words, sense_level) if sense_level else (),
    )


def is_unigram(feature: str) -> bool:
    """A single char, word or syllable, or a concept or thesaurus category (not an n-gram)."""
    view = feature[0]
    if view == "c":
        return len(feature) == 2
    if view in ("w", "p"):
        return "_" not in feature
    return True


class FeatureSpace:
    """Vocabulary + idf over all views, fitted on a KB's questions."""

    def __init__(
        self,
        char_ngrams: tuple[int, int] = (1, 3),
        weights: tuple[float, ...] = (1.0, 0.8, 0.6, 0.4, 0.8),
        min_df: int = 1,
        max_features: int = 200_000,
        sense_level: int = 4,
    ) -> None:
        self.char_ngrams = char_ngrams
        self.weights = weights
        # 0 = no thesaurus view (the thesaurus is then never loaded).
        has_senses = len(weights) > VIEWS.index("s") and weights[VIEWS.index("s")] > 0
        self.sense_level = sense_level if has_senses else 0
        self.min_df = min_df
        self.max_features = max_features
        self.vocab: dict[str, int] = {}
        self.idf = np.zeros(0, dtype=np.float32)
        self.view = np.zeros(0, dtype=np.int8)

    @property
    def n_features(self) -> int:
        return len(self.vocab)

    def _views(self, p: Prepared) -> tuple[View, ...]:
        lo, hi = self.char_ngrams
        return _tokens(p, lo, hi, self.sense_level)

    def fit(self, prepared: Sequence[Prepared]) -> FeatureSpace:
        """Learn vocabulary and idf. ``min_df``/``max_features`` keep the space (and the
        classifier's coefficient matrix) small on big KBs; singleton n-grams help little there.

        ``min_df`` drops only n-grams (char 2-3-grams, word and pinyin bigrams): a single word,
        char, syllable, concept or thesaurus category is kept even if one question has it. Such
        a word is often the most specific of its point (a product or place named in one staff
        phrasing), the re-ranker's word overlaps can only see words in the vocabulary, and
        unigrams are few (on the 15k benchmark KB 1,600 singleton words against 18,600 singleton
        n-grams). k-fold top-1 on the demo KB, fold seeds 1-3: 0.935/0.932/0.928 with every
        singleton dropped, 0.936/0.932/0.929 with every singleton kept, 0.936/0.935/0.930 with
        singleton unigrams kept and singleton n-grams dropped.
        """
        df: Counter[str] = Counter()
        for p in prepared:
            for view in self._views(p):
                df.update(t for t, _ in view)
        min_df = self.min_df if len(prepared) >= 2000 else 1  # tiny KBs need every feature
        kept = [(t, c) for t, c in df.items() if c >= min_df or is_unigram(t)]
        if len(kept) > self.max_features:
            kept.sort(key=lambda tc: -tc[1])
            kept = kept[: self.max_features]
        kept.sort()  # deterministic column order
        n = len(prepared)
        self.vocab = {t: i for i, (t, _) in enumerate(kept)}
        counts = np.array([c for _, c in kept], dtype=np.float64)
        self.idf = (np.log((1 + n) / (1 + counts)) + 1.0).astype(np.float32)
        self.view = np.array([VIEWS.index(t[0]) for t, _ in kept], dtype=np.int8)
        return self

    def _row(self, p: Prepared) -> tuple[list[int], list[float]]:
        cols: list[int] = []
        vals: list[float] = []
        vocab, idf = self.vocab, self.idf
        for view, toks in enumerate(self._views(p)):
            vc: list[int] = []
            vv: list[float] = []
            for t, tf in toks:
                j = vocab.get(t)
                if j is not None:
                    vc.append(j)
                    vv.append(tf * float(idf[j]))
            if vc:
                norm = float(np.sqrt(sum(v * v for v in vv)))
                w = self.weights[view] / norm
                cols.extend(vc)
                vals.extend(v * w for v in vv)
        return cols, vals

    def transform(self, prepared: Sequence[Prepared]) -> sp.csr_matrix:
        """One L2-normalised row per question (all-zero if no known feature)."""
        indptr = [0]
        indices: list[int] = []
        data: list[float] = []
        for p in prepared:
            cols, vals = self._row(p)
            indices.extend(cols)
            data.extend(vals)
            indptr.append(len(indices))
        x = sp.csr_matrix(
            (np.asarray(data, dtype=np.float32), np.asarray(indices, dtype=np.int32), np.asarray(indptr)),
            shape=(len(prepared), self.n_features),
        )
        sq = np.sqrt(np.asarray(x.multiply(x).sum(axis=1)).ravel())
        sq[sq == 0] = 1.0
        x = sp.diags((1.0 / sq).astype(np.float32)) @ x
        x.sort_indices()
        return x.tocsr()

    def transform_one(self, p: Prepared) -> tuple[np.ndarray, np.ndarray]:
        """``(columns, values)`` of one question, L2-normalised; the fast path for ``ask``."""
        cols, vals = self._row(p)
        v = np.asarray(vals, dtype=np.float32)
        norm = float(np.sqrt(v @ v)) if len(v) else 1.0
        return np.asarray(cols, dtype=np.int64), v / (norm or 1.0)
