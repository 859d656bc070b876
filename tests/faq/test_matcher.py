"""Matcher quality on the separately written held-out file, typo tolerance, and calibration."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from faq.calibrate import calibrate, choose_thresholds
from faq.io import read_knowledge_file
from faq.matcher import FaqMatcher, IndexedPoint, MatcherConfig
from tests.faq.points import point

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_points() -> list[IndexedPoint]:
    drafts = read_knowledge_file(ROOT / "nlu_data" / "faq" / "knowledge_base.tsv")
    return [
        IndexedPoint(i, d.standard_question, d.answer, (d.standard_question, *d.similar_questions), d.category)
        for i, d in enumerate(drafts)
    ]


@pytest.fixture(scope="module")
def demo_matcher(demo_points: list[IndexedPoint]) -> FaqMatcher:
    return FaqMatcher.build(demo_points)


def test_demo_kb_size(demo_points: list[IndexedPoint]) -> None:
    assert len(demo_points) >= 160
    # A real bank's KB has about 16 staff-written phrasings per answer; the demo KB is as rich.
    assert min(len(p.questions) for p in demo_points) >= 12
    assert sum(len(p.questions) for p in demo_points) / len(demo_points) >= 16


def test_heldout_quality_floor(demo_matcher: FaqMatcher) -> None:
    lines = (ROOT / "bench" / "data" / "faq_heldout.tsv").read_text("utf-8").splitlines()
    pairs = [line.split("\t", 1) for line in lines if line.strip()]
    top1 = top3 = 0
    for question, expected in pairs:
        answers = [m.answer for m in demo_matcher.query(question, 3)]
        top1 += answers[0] == expected
        top3 += expected in answers
    # Floors below the measured values (see BENCHMARKS.md) so regressions fail loudly.
    assert top1 / len(pairs) >= 0.89
    assert top3 / len(pairs) >= 0.975


def test_scores_are_bounded_and_sorted(demo_matcher: FaqMatcher) -> None:
    matches = demo_matcher.query("银行卡丢了怎么挂失", 3)
    assert matches[0].standard_question == "银行卡丢了怎么挂失"
    scores = [m.score for m in matches]
    assert scores == sorted(scores, reverse=True) and all(0.0 <= s <= 1.0 for s in scores)


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("银行卡丢了怎么挂时", "银行卡丢了怎么挂失"),
        ("手机银行转帐限额是多少", "手机银行转账限额是多少"),
        ("ＡＴＭ吞卡了咋办？？", "ATM吞卡了怎么办"),
    ],
)
def test_typo_tolerance(demo_matcher: FaqMatcher, typo: str, expected: str) -> None:
    assert demo_matcher.query(typo, 1)[0].standard_question == expected


def test_choose_thresholds_separates_synthetic_scores() -> None:
    rng = np.random.default_rng(0)
    in_score = rng.uniform(0.5, 1.0, 500)
    in_top1 = in_score > 0.6  # right only when confident
    oos = rng.uniform(0.0, 0.45, 500)
    high, low, stats = choose_thresholds(in_score, in_top1, np.ones(500, bool), oos, target_precision=0.95)
    assert 0.55 <= high <= 0.7
    assert 0.4 <= low <= 0.55 and low <= high
    assert stats["out_of_kb_rejected_at_low"] == 1.0


def test_calibrate_records_method(demo_points: list[IndexedPoint]) -> None:
    t = calibrate(demo_points[:40])
    assert t.method["kind"] == "cross_validation" and t.method["n_out_of_kb"] > 0
    assert 0.0 <= t.low <= t.high <= 1.0


def test_grey_zone_survives_when_in_kb_scores_sit_above_high() -> None:
    """The big-KB shape that collapsed the old Youden rule: almost every in-KB question scores
    above ``high``; the few below are still mostly right in the top 3, so offer choices there."""
    rng = np.random.default_rng(1)
    in_score = np.r_[rng.uniform(0.45, 1.0, 900), rng.uniform(0.3, 0.45, 100)]
    in_top1 = in_score > 0.45
    in_top3 = np.ones(1000, bool)
    oos = rng.uniform(0.0, 0.28, 1000)
    high, low, _ = choose_thresholds(in_score, in_top1, in_top3, oos)
    assert 0.35 <= high <= 0.46
    assert 0.28 <= low <= 0.31


def test_thresholds_do_not_collapse_on_benchmark_sized_kb(tmp_path: Path) -> None:
    from bench.faq import synthetic_kb

    synthetic_kb(tmp_path / "kb15k.tsv")
    drafts = read_knowledge_file(tmp_path / "kb15k.tsv")
    points = [
        IndexedPoint(i, d.standard_question, d.answer, (d.standard_question, *d.similar_questions), d.category)
        for i, d in enumerate(drafts)
    ]
    assert sum(len(p.questions) for p in points) >= 14000
    t = calibrate(points)
    assert t.low < t.high, t
    # Some cross-validated in-KB questions land in the grey zone (choices offered). Lexical
    # re-ranker: 1.7 % of them (94 % answered directly at 95 % precision, 92.8 % without it);
    # with sentence vectors 0.4 %, because 94.8 % are answered directly: the zone holds what
    # still helps more than it costs (faq/calibrate.py), and that is less now.
    assert t.method["in_kb_kept_at_low"] > t.method["answered_share_in_kb"] >= 0.94, t.method
    assert t.method["out_of_kb_rejected_at_low"] >= 0.8, t.method


def test_concept_links_a_relative_the_kb_never_names() -> None:
    """孙女 appears nowhere in the KB; only the 亲属 concept ties it to 儿子 rather than 同学."""
    points = [
        point(0, "同学打电话借钱是真的吗", "同学打电话借钱"),
        point(1, "儿子打电话借钱是真的吗", "儿子打电话借钱"),
        point(2, "手机银行怎么转账", "手机上怎么转钱"),
    ]
    query = "孙女打电话借钱"
    assert FaqMatcher.build(points, MatcherConfig(semantic=False)).query(query, 1)[0].point_id == 1
    # Without the concept view (and the thesaurus view, which also reads 孙/女) the two points
    # tie: the concept is what decides. (The sentence encoder knows 孙女 too: it is left out.)
    plain = FaqMatcher.build(points, MatcherConfig(concept_weight=0.0, sense_weight=0.0, semantic=False)).query(query, 2)
    assert abs(plain[0].score - plain[1].score) < 1e-3


@pytest.mark.parametrize(
    ("typo", "expected"),
    [
        ("银行卡被动结了", "银行卡被冻结了怎么办"),  # homophone: 动结 / 冻结
        ("手机银行登陆密码忘记了", "手机银行登录密码忘了"),  # 登陆 / 登录
        ("卡被取款机吞", "ATM吞卡了怎么办"),  # word order and a dropped particle
    ],
)
def test_more_typos_and_homophones(demo_matcher: FaqMatcher, typo: str, expected: str) -> None:
    assert demo_matcher.query(typo, 1)[0].standard_question == expected


def test_kfold_heldout_quality_floor(demo_points: list[IndexedPoint]) -> None:
    """The issue's setting on the demo KB: each phrasing asked of a matcher that never saw it."""
    from bench.faq import kfold_heldout

    top1, top3, n = kfold_heldout(demo_points, folds=5)
    assert n >= 3000
    # Floors below the measured values (see BENCHMARKS.md) so regressions fail loudly; top-1
    # measured 0.928 with the re-ranker (0.930 since min_df keeps single words), 0.920 without it
    # (0.908 without the thesaurus view).
    assert top1 >= 0.922 and top3 >= 0.975


def test_fuzzy_pinyin_typo_finds_the_meantpoint() -> None:
    """色保 (se) is a fuzzy-pinyin slip for 社保 (she); without fuzzy pinyin 社保 and 医保 would tie."""
    points = [
        point(0, "医保怎么交", "医保在哪交"),
        point(1, "社保怎么交", "社保在哪交"),
        point(2, "手机银行怎么转账"),
    ]
    assert FaqMatcher.build(points).query("色保怎么交", 1)[0].point_id == 1


def test_a_word_one_phrasing_of_a_big_kb_has_still_tells_points_apart(demo_points: list[IndexedPoint]) -> None:
    """On KBs of 2,000+ questions features seen in one question only are dropped (min_df), but
    not single words: a product named in one staff phrasing must stay findable by its name.

    Two made-up products whose names are the same characters in the other order, each named
    once, with the same other phrasings: only the word itself (not its chars, syllables or
    thesaurus categories, which both names share) tells them apart.
    """
    assert sum(len(p.questions) for p in demo_points) >= 2000  # min_df applies
    shared = ("这个贷款怎么申请", "贷款要什么材料", "怎么办理这个贷款", "这种贷款能贷多少")
    n = len(demo_points)
    extra = [point(n, "牙刷贷怎么申请", *shared), point(n + 1, "刷牙贷怎么申请", *shared)]
    matcher = FaqMatcher.build([*demo_points, *extra])
    assert matcher.query("牙刷", 1)[0].point_id == n
    assert matcher.query("刷牙", 1)[0].point_id == n + 1
