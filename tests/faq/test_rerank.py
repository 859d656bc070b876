"""The learned re-ranker (faq/rerank.py): what it learns, how the matcher uses it, when it is off."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faq.calibrate import calibrate
from faq.features import prepare
from faq.io import read_knowledge_file
from faq.matcher import FaqMatcher, IndexedPoint, MatcherConfig, rerank
from faq.rerank import FEATURES, MIN_GROUPS, Reranker, train_reranker
from faq.semantic import sentence_text
from tests.faq.points import point

ROOT = Path(__file__).resolve().parents[2]
SCORE, WORDS_IN_STANDARD = FEATURES.index("score"), FEATURES.index("words_in_standard")


@pytest.fixture(scope="module")
def demo_matcher() -> FaqMatcher:
    drafts = read_knowledge_file(ROOT / "nlu_data" / "faq" / "knowledge_base.tsv")
    points = [
        IndexedPoint(i, d.standard_question, d.answer, (d.standard_question, *d.similar_questions), d.category)
        for i, d in enumerate(drafts)
    ]
    return FaqMatcher.build(points)


def _groups(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Groups of 4 candidates where the ensemble score misleads and one feature tells the truth."""
    feats = rng.uniform(0.0, 0.2, size=(n, 4, len(FEATURES))).astype(np.float32)
    truth = rng.integers(4, size=n)
    feats[np.arange(n), truth, WORDS_IN_STANDARD] += 1.0
    feats[np.arange(n), (truth + 1) % 4, SCORE] += 0.5  # a wrong candidate leads the ensemble
    return feats, np.arange(4)[None, :] == truth[:, None]


def test_trained_reranker_puts_the_truth_first_where_the_ensemble_does_not() -> None:
    rng = np.random.default_rng(0)
    model = train_reranker(*map(lambda a: [a], _groups(200, rng)), k=4)
    assert model is not None
    feats, hits = _groups(50, rng)
    by_ensemble = np.argsort(-feats[:, :, SCORE], axis=1)[:, 0]
    assert not hits[np.arange(50), by_ensemble].any()
    top = np.tile(np.arange(4), (50, 1))
    order, scores = rerank(top, feats, model, 3)
    assert hits[np.arange(50), order[:, 0]].all()
    assert ((scores >= 0) & (scores <= 1)).all() and (np.diff(scores, axis=1) <= 0).all()


def test_too_few_groups_train_no_reranker() -> None:
    feats, hits = _groups(MIN_GROUPS - 1, np.random.default_rng(1))
    assert train_reranker([feats], [hits], k=4) is None
    assert train_reranker([], [], k=4) is None


def test_query_follows_the_reranker(demo_matcher: FaqMatcher) -> None:
    """A hand-set model that only trusts the word overlap with the standard question reorders
    the ensemble's candidates, and ``query`` reports its order and scores."""
    text = "我想存钱"
    plain = [
        m.point_id
        for m in FaqMatcher(demo_matcher.points, demo_matcher.space, *_rows(demo_matcher), demo_matcher.config).query(
            text, 10
        )
    ]
    weights = np.zeros(len(FEATURES), np.float32)
    weights[FEATURES.index("rank")] = 1.0  # reverse the ensemble order
    model = Reranker(weights, slope=1.0, intercept=0.0, k=10)
    reversed_ = FaqMatcher(demo_matcher.points, demo_matcher.space, *_rows(demo_matcher), demo_matcher.config, model)
    got = reversed_.query(text, 3)
    assert [m.point_id for m in got] == plain[::-1][:3]
    assert all(0.0 <= m.score <= 1.0 for m in got)


def _rows(m: FaqMatcher) -> tuple[object, np.ndarray]:
    labels = np.repeat(m._present, np.diff(np.r_[m._starts, m._train_t.shape[1]]))
    return m._train_t.T.tocsr(), labels


def test_demo_kb_trains_a_reranker_and_scores_stay_in_range(demo_matcher: FaqMatcher) -> None:
    assert demo_matcher.reranker is not None
    for text in ("银行卡丢了怎么办", "色保怎么交", "哈哈", "手机银行转不了账"):
        scores = [m.score for m in demo_matcher.query(text, 5)]
        assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)


def test_single_question_features_equal_the_batch_path(demo_matcher: FaqMatcher) -> None:
    """``ask`` computes the features of one question on its own fast path; calibration and
    training use the batch path. They must agree, or thresholds would not fit ``ask``."""
    texts = ["银行卡丢了怎么办", "色保怎么交", "我想存钱", "手机银行转不了账"]
    x = demo_matcher.space.transform([prepare(t) for t in texts])
    assert demo_matcher.semantic and demo_matcher.encoder is not None
    qv = demo_matcher.encoder.encode([sentence_text(t) for t in texts])
    top, feats = demo_matcher.candidates(x, qv=qv)
    cand = demo_matcher._candidates
    assert cand is not None and demo_matcher._coef_t is not None and demo_matcher._intercept is not None
    assert feats.shape[2] == len(cand.names)
    for i, text in enumerate(texts):
        cols, vals = demo_matcher.space.transform_one(prepare(text))
        dec = (vals @ demo_matcher._coef_t[cols] + demo_matcher._intercept).astype(np.float32)
        # The single path reads only the candidates' question vectors; the batch path all of them.
        centroid = demo_matcher._semantic_centroid(qv[i])
        assert centroid is not None

        def ensemble(nn: np.ndarray, cent: np.ndarray, d: np.ndarray) -> np.ndarray:
            return demo_matcher._combine(nn, cent, d, centroid)  # noqa: B023 (used at once)

        def nearest(points: np.ndarray) -> np.ndarray:
            return demo_matcher._semantic_nearest(qv[i], points)  # noqa: B023 (used at once)

        _, top1, feats1 = cand.one(cols, vals, dec, ensemble, 10, (nearest, centroid))
        assert (top1 == top[i]).all()
        np.testing.assert_allclose(feats1, feats[i], atol=1e-5)


def test_tiny_kb_falls_back_to_the_ensemble() -> None:
    points = [
        point(0, "医保怎么交", "医保在哪交"),
        point(1, "社保怎么交", "社保在哪交"),
        point(2, "手机银行怎么转账", "手机上怎么转钱"),
        point(3, "网点几点开门", "银行几点上班"),
    ]
    matcher = FaqMatcher.build(points)
    assert matcher.reranker is None
    plain = FaqMatcher.build(points, MatcherConfig(rerank=False))
    assert [m.point_id for m in matcher.query("社保在哪里交", 3)] == [
        m.point_id for m in plain.query("社保在哪里交", 3)
    ]
    assert matcher.query("社保在哪里交", 1)[0].point_id == 1
    t = calibrate(points, folds=3)
    assert 0.0 <= t.low <= t.high <= 1.0
