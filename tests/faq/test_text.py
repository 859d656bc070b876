"""Normalisation: synonyms rewrite whole words only, filler goes only at the edges, concepts add."""

from __future__ import annotations

import pytest

from faq.features import prepare
from faq.text import concepts, normalise, pinyin


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("俺的卡子找不到了咋整", "我的银行卡丢了怎么办"),  # several colloquial variants at once
        ("ＡＴＭ取款限额", "取款机取钱限额"),  # width folding before the synonym lookup
        ("请问转帐多久到？谢谢", "转账多久到"),
    ],
)
def test_synonyms_rewrite_colloquial_words(text: str, expected: str) -> None:
    assert normalise(text) == expected


@pytest.mark.parametrize(
    ("text", "kept"),
    [
        ("手机转账单笔限额", "单笔"),  # "账单" (a variant of 交易明细) spans 转账|单笔: not a word here
        ("汇款需要开户行吗", "开户行"),  # "行吗" (a variant of 能不能) spans 开户行|吗
        ("怎么查开户行", "开户行"),  # "开户" (a variant of 办卡) is only part of the word
    ],
)
def test_synonyms_never_fire_across_a_word_boundary(text: str, kept: str) -> None:
    assert kept in normalise(text)


def test_filler_is_stripped_only_at_the_edges() -> None:
    assert normalise("麻烦问一下卡丢了咋办") == normalise("卡丢了咋办")
    assert "麻烦" in normalise("手机银行转账验证太麻烦了")
    assert normalise("你好") == "你好"  # a pure greeting keeps its text


def test_concepts_relate_words_without_rewriting_them() -> None:
    assert "亲属" in concepts("孙女打电话借钱") and "亲属" in concepts("儿子要钱")
    p = prepare("孙女打电话借钱")
    assert "孙女" in p.norm and "亲属" in p.concepts
    assert prepare("今天天气怎么样").concepts == ()


@pytest.mark.parametrize(("typo", "meant"), [("色保", "社保"), ("你率", "利率"), ("迎新", "银新"), ("村款", "存款")])
def test_fuzzy_pinyin_merges_what_input_methods_confuse(typo: str, meant: str) -> None:
    assert pinyin(typo) == pinyin(meant)


def test_fuzzy_pinyin_keeps_distinct_syllables_apart() -> None:
    assert pinyin("挂失") != pinyin("挂号") and pinyin("冻结") != pinyin("动画")
