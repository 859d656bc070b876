"""Sentence vectors (faq/semantic.py): the real encoder, what it adds to the matcher, and where
its vectors are kept (memory, this host's disk, the database) and where they are not."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.faq import demo_points
from core.db import session_scope
from crm.knowledge import UpsertResult, save_calibration, upsert_points
from crm.models.knowledge import FaqVector, KnowledgeCalibration
from faq import semantic
from faq.calibrate import Thresholds
from faq.io import read_knowledge_file
from faq.matcher import FaqMatcher, MatcherConfig
from faq.semantic import CachedEncoder, DiskCache, E5Encoder, sentence_text, text_key
from faq.service import FaqService, calibrate_and_store, import_knowledge


class CountingEncoder:
    """The real encoder, counting the texts it is asked to embed (the cost a cache saves)."""

    def __init__(self, inner: E5Encoder) -> None:
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.embedded: list[str] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.embedded.extend(texts)
        return self.inner.encode(texts)


@pytest.fixture(scope="module")
def e5() -> E5Encoder:
    return E5Encoder()


@pytest.fixture(scope="module")
def demo_pair() -> tuple[FaqMatcher, FaqMatcher]:
    points = demo_points()
    return FaqMatcher.build(points), FaqMatcher.build(points, MatcherConfig(semantic=False))


def test_encoder_knows_paraphrases(e5: E5Encoder) -> None:
    v = e5.encode(["银行卡丢了怎么办", "我的银行卡找不到了", "存款利率是多少"])
    assert v.shape == (3, semantic.DIM) and v.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-3)
    assert v[0] @ v[1] > v[0] @ v[2] + 0.05
    # One text alone gets the same vector as in a batch (the action server asks one at a time).
    np.testing.assert_allclose(e5.encode(["我的银行卡找不到了"])[0], v[1], atol=1e-3)


def test_sentence_text_drops_chatter_but_keeps_words() -> None:
    assert sentence_text("请问，银行卡丢了怎么办呀？谢谢") == sentence_text("银行卡丢了怎么办")
    assert "外籍人士" in sentence_text("外籍人士开户")  # no synonym rewriting (外国人办卡)
    assert sentence_text("？？") == "？？"  # nothing left: the text as it was


def test_demo_matcher_uses_vectors_by_default(demo_pair: tuple[FaqMatcher, FaqMatcher]) -> None:
    with_vectors, lexical = demo_pair
    assert with_vectors.semantic and with_vectors.encoder is not None
    assert not lexical.semantic and lexical.encoder is None


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        # Not one content word in common with the point's phrasings; a lexical matcher is unsure.
        ("有人出钱让我把卡借他用", "出租出借银行卡违法吗"),
        ("娃儿的压岁钱想存起来", "儿童可以办银行卡吗"),
    ],
)
def test_vectors_make_a_paraphrase_confident(
    demo_pair: tuple[FaqMatcher, FaqMatcher], question: str, expected: str
) -> None:
    with_vectors, lexical = demo_pair
    best = with_vectors.query(question, 1)[0]
    assert best.standard_question == expected
    lexical_best = lexical.query(question, 3)
    lexical_score = next((m.score for m in lexical_best if m.standard_question == expected), 0.0)
    assert best.score >= 0.45 and lexical_score < 0.3, (best.score, lexical_score)


def test_unrelated_question_stays_unsure(demo_pair: tuple[FaqMatcher, FaqMatcher]) -> None:
    """Vectors must not make an out-of-KB question look answerable (e5 scores even unrelated
    texts ~0.7 cosine; faq.semantic.similarity maps that floor to 0)."""
    with_vectors, _ = demo_pair
    assert with_vectors.query("今天天气怎么样适合钓鱼吗", 1)[0].score < 0.3


def test_switched_off_by_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAQ_SEMANTIC", "0")
    assert not semantic.semantic_available()
    points = demo_points()[:12]
    assert not FaqMatcher.build(points, encoder=None).semantic


def test_memory_cache_is_bounded(e5: E5Encoder) -> None:
    counting = CountingEncoder(e5)
    cache = CachedEncoder(counting, max_items=2)
    cache.encode(["转账", "挂失", "存款"])
    assert cache.missing(["转账", "挂失", "存款"]) == ["转账"]  # the oldest went
    cache.encode(["存款"])
    assert counting.embedded.count("存款") == 1


def test_disk_cache_keeps_kb_questions_only(tmp_path: Path, e5: E5Encoder) -> None:
    counting = CountingEncoder(e5)
    disk = DiskCache(tmp_path, semantic.MODEL_NAME)
    first = CachedEncoder(counting, disk=disk)
    kb = first.encode_kb(["银行卡丢了怎么挂失", "定期存款利率是多少"])
    first.encode(["我叫张三，卡号尾号1234丢了"])  # a customer's question
    stored = disk.get_many([text_key(semantic.MODEL_NAME, t) for t in ("银行卡丢了怎么挂失", "定期存款利率是多少")])
    assert len(stored) == 2
    assert disk.get_many([text_key(semantic.MODEL_NAME, "我叫张三，卡号尾号1234丢了")]) == {}
    # Another process on this host reads them instead of embedding again.
    counting.embedded.clear()
    again = CachedEncoder(counting, disk=DiskCache(tmp_path, semantic.MODEL_NAME)).encode_kb(["银行卡丢了怎么挂失"])
    assert counting.embedded == []
    np.testing.assert_allclose(again[0], kb[0])


def test_import_is_live_lexically_first_then_switches_to_vectors(
    factory: sessionmaker[Session], small_kb: Path, e5: E5Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingEncoder(e5)
    monkeypatch.setattr(semantic, "_default", CachedEncoder(counting))  # no disk cache: the database only
    service = FaqService(factory, background_reload=False)
    seen_live: list[tuple[int, bool]] = []

    def on_live(result: UpsertResult, thresholds: Thresholds, pending: int) -> None:
        # Committed already: a running action server answers from the new KB, lexically.
        service.refresh(force=True)
        assert service.ask("卡丢了怎么办", 1)[0].standard_question == "银行卡丢了怎么挂失"
        assert service._matcher is not None
        seen_live.append((pending, service._matcher.semantic))
        assert thresholds.method["sentence_vectors"] is None

    # inline_max=0: as if this KB were too large to embed within the import.
    outcome = import_knowledge(factory, read_knowledge_file(small_kb), on_live=on_live, inline_max=0)
    questions = {
        sentence_text(q) for p in read_knowledge_file(small_kb) for q in (p.standard_question, *p.similar_questions)
    }
    assert seen_live == [(len(questions), False)]
    assert outcome.embedded == len(questions) and outcome.lexical_first is not None
    assert outcome.thresholds.method["sentence_vectors"] == semantic.MODEL_NAME
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(FaqVector)) == len(questions)
        assert session.scalar(select(func.count()).select_from(KnowledgeCalibration)) == 2
    # The action server follows the newest calibration to the vector index.
    service.refresh(force=True)
    assert service._matcher is not None and service._matcher.semantic
    # A new process (empty memory) reads the stored vectors: only the customer's question is embedded.
    counting.embedded.clear()
    monkeypatch.setattr(semantic, "_default", CachedEncoder(counting))
    fresh = FaqService(factory, background_reload=False)
    assert fresh.ask("我的卡找不着了", 1)[0].standard_question == "银行卡丢了怎么挂失"
    assert counting.embedded == ["我的卡找不着了"]
    # Importing again with every vector stored is one step, calibrated with vectors at once.
    again = import_knowledge(factory, read_knowledge_file(small_kb))
    assert again.lexical_first is None and again.embedded == 0
    assert again.thresholds.method["sentence_vectors"] == semantic.MODEL_NAME


def test_a_small_import_embeds_within_the_import(
    factory: sessionmaker[Session], small_kb: Path, e5: E5Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    counting = CountingEncoder(e5)
    monkeypatch.setattr(semantic, "_default", CachedEncoder(counting))
    service = FaqService(factory, background_reload=False)
    live: list[tuple[int, str | None]] = []

    def on_live(result: UpsertResult, thresholds: Thresholds, pending: int) -> None:
        live.append((pending, thresholds.method["sentence_vectors"]))
        service.refresh(force=True)
        assert service._matcher is not None and service._matcher.semantic  # never a lexical interlude

    outcome = import_knowledge(factory, read_knowledge_file(small_kb), on_live=on_live)
    questions = {
        sentence_text(q) for p in read_knowledge_file(small_kb) for q in (p.standard_question, *p.similar_questions)
    }
    assert live == [(0, semantic.MODEL_NAME)]
    assert outcome.lexical_first is None and outcome.embedded == len(questions)
    assert sorted(counting.embedded) == sorted(questions)
    with session_scope(factory) as session:
        assert session.scalar(select(func.count()).select_from(FaqVector)) == len(questions)
        assert session.scalar(select(func.count()).select_from(KnowledgeCalibration)) == 1


def test_import_drops_vectors_no_question_uses(
    factory: sessionmaker[Session], small_kb: Path, e5: E5Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(semantic, "_default", CachedEncoder(e5))
    import_knowledge(factory, read_knowledge_file(small_kb))
    edited = small_kb.read_text("utf-8").replace("卡被偷了咋办", "卡让人偷了怎么办")
    small_kb.write_text(edited, encoding="utf-8")
    outcome = import_knowledge(factory, read_knowledge_file(small_kb))
    assert outcome.embedded == 1 and outcome.pruned == 1
    questions = {
        text_key(semantic.MODEL_NAME, sentence_text(q))
        for p in read_knowledge_file(small_kb)
        for q in (p.standard_question, *p.similar_questions)
    }
    with session_scope(factory) as session:
        assert set(session.scalars(select(FaqVector.key))) == questions


def test_lexical_thresholds_get_a_lexical_index(factory: sessionmaker[Session], small_kb: Path) -> None:
    """Thresholds only fit the kind of index they were calibrated on (e.g. set by hand, or an
    import whose vectors are still being computed)."""
    with session_scope(factory) as session:
        upsert_points(session, read_knowledge_file(small_kb))
        save_calibration(session, "test", high=0.7, low=0.3, method={"kind": "test"})
    service = FaqService(factory, background_reload=False)
    service.ask("卡丢了怎么办")
    assert service._matcher is not None and not service._matcher.semantic
    with session_scope(factory) as session:
        calibrate_and_store(session)
    service.refresh(force=True)
    assert service._matcher is not None and service._matcher.semantic
