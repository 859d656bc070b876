"""Knowledge gaps end to end: questions the demo KB does not cover, from different customers and
mixed with normal traffic, go through the real FAQ action into the pool; the top topics are each
one topic; resolving one makes an unseen paraphrase answered by the FAQ service."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import actions.faq as faq_action
import actions.insights as action_insights
from core.db import session_scope
from crm.access.conversations import NewMessage, open_conversation, record_messages, transition
from crm.models.insights import UnansweredQuestion
from faq.semantic import CachedEncoder, E5Encoder, encoder_installed
from faq.service import FaqService
from insights.harvest import harvest
from insights.resolve import resolve
from insights.topics import build_topics

# The clustering's sentence vectors (the FAQ itself runs lexically here, see conftest).
ENCODER = CachedEncoder(E5Encoder()) if encoder_installed() else None

# Topics the demo knowledge base does not cover, as customers type them.
NEW_TOPICS: dict[str, list[str]] = {
    "纪念币": [
        "纪念币怎么预约", "龙年纪念币在哪预约", "你们这能换纪念币吗", "纪念币预约了去哪领", "想预约纪念币",
        "纪念币什么时候可以兑换", "纪念币兑换要带身份证吗", "纪念币还能约吗",
    ],
    "ETC": [
        "ETC怎么办理", "在你们这能办ETC吗", "ETC办理要带什么", "想给车办个ETC", "ETC在哪办理",
        "ETC卡怎么申请", "货车ETC怎么办理", "ETC卡办理流程",
    ],
    "破损钱": [
        "钱被老鼠咬坏了能换吗", "破了的钱能换新的吗", "残缺的钱怎么兑换", "钱烧坏了一半还能换吗",
        "被水泡烂的钱能换吗", "破钱可以去柜台换吗", "撕坏的纸币能兑换吗", "钱被洗衣机洗烂了能换不",
    ],
    "金条": [
        "你们卖金条吗", "想买金条", "金条多少钱一克", "买黄金去哪个网点", "投资金条怎么买",
        "金条能回购吗", "你们有没有金条卖", "买点黄金怎么办理",
    ],
}
NORMAL_TRAFFIC = ["银行卡丢了怎么挂失", "手机银行转账限额是多少", "银行卡密码忘了怎么办", "补办银行卡要多少钱"]
UNSEEN = {"纪念币": "纪念币要怎么预约", "ETC": "ETC要怎么办理", "破损钱": "坏了的钱能兑换吗",
          "金条": "金条怎么买"}  # fmt: skip


def _tracker(sender_id: str, text: str) -> Tracker:
    latest = {"text": text, "intent": {"name": "faq", "confidence": 0.42}, "entities": []}
    return Tracker(sender_id, {}, latest, [], False, None, {}, "action_listen")


def _ask(factory: sessionmaker[Session], service: FaqService, customer: int, text: str) -> str:
    """One customer turn as the stack runs it: the gateway stores the message, the FAQ action
    answers (recording a gap when not sure); a declined pick-list is stored like the gateway does."""
    external = f"visitor{customer}"
    with session_scope(factory) as session:
        conv = open_conversation(session, "web", external)
        record_messages(session, conv, [NewMessage("in", "customer", text)])
        sender_id = conv.sender_id
    dispatcher = CollectingDispatcher()
    asyncio.run(faq_action.ActionAnswerFaq().run(dispatcher, _tracker(sender_id, text), {}))
    kind = service.decide(text).kind
    if kind == "choose":  # the customer finds nothing fitting: 都不是，转人工
        with session_scope(factory) as session:
            conv = open_conversation(session, "web", external)
            buttons = [b for m in dispatcher.messages for b in (m.get("buttons") or [])]
            record_messages(session, conv, [NewMessage("out", "bot", "您是想问：", buttons)])
            transition(session, conv, "queued", "bot", "request_human")
            transition(session, conv, "bot", "customer", "customer_cancelled")
    return kind


@pytest.fixture
def service(kb_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch) -> FaqService:
    svc = FaqService(kb_factory, check_interval=0.0, background_reload=False)
    faq_action.set_service(svc)
    monkeypatch.setattr(action_insights, "session_factory", lambda: kb_factory)
    return svc


def test_new_topics_cluster_and_resolving_one_answers_an_unseen_paraphrase(
    kb_factory: sessionmaker[Session], service: FaqService
) -> None:
    truth: dict[str, str] = {}
    customer = 0
    traffic = [(topic, q) for topic, qs in NEW_TOPICS.items() for q in qs]
    for i, (topic, question) in enumerate(traffic):
        customer += 1
        truth[question] = topic
        _ask(kb_factory, service, customer, question)
        if i % 4 == 0:  # normal traffic in between, from other customers: answered, not pooled
            customer += 1
            assert _ask(kb_factory, service, customer, NORMAL_TRAFFIC[i % len(NORMAL_TRAFFIC)]) == "answer"

    with session_scope(kb_factory) as session:
        harvest(session)
        pooled = [r.text for r in session.scalars(select(UnansweredQuestion))]
        assert set(pooled) <= set(truth), "answered questions must not enter the pool"
        assert len(pooled) >= 0.9 * len(truth)
        topics = build_topics(session, days=7, encoder=ENCODER)

    top = [t for t in topics if t.size >= 3]
    assert len(top) >= 4
    for t in top:  # every topic of 3 questions or more is one topic
        labels = Counter(truth[e] for e in t.examples)
        assert labels.most_common(1)[0][1] / t.size >= 0.8, (t.suggested_question, labels)
    covered = {Counter(truth[e] for e in t.examples).most_common(1)[0][0] for t in top}
    assert covered == set(NEW_TOPICS)

    biggest = top[0]
    topic = Counter(truth[e] for e in biggest.examples).most_common(1)[0][0]
    assert service.decide(UNSEEN[topic]).kind != "answer"
    done = resolve(kb_factory, biggest.id, "您好，这个问题的办理方式是……（工作人员撰写的答案）", "supervisor:test")
    service.refresh(force=True)
    decision = service.decide(UNSEEN[topic])
    assert decision.kind == "answer", (topic, decision.matches[:2], decision.thresholds)
    assert decision.matches[0].point_id == done.point_id

    with session_scope(kb_factory) as session:  # resolved questions stay out of later gap lists
        assert biggest.id not in {t.id for t in build_topics(session, days=7, encoder=ENCODER)}


def test_gaps_json_from_the_cli(kb_factory: sessionmaker[Session], service: FaqService,
                                monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for i, q in enumerate(NEW_TOPICS["ETC"] + NEW_TOPICS["金条"]):
        _ask(kb_factory, service, i, q)
    from bankcare import cli_insights
    from bankcare.cli import main

    monkeypatch.setattr(cli_insights, "_factory", lambda: kb_factory)
    assert main(["insights", "gaps", "--days", "3", "--json", "--lexical"]) == 0
    data: list[dict[str, Any]] = json.loads(capsys.readouterr().out)
    assert data and [d["size"] for d in data] == sorted((d["size"] for d in data), reverse=True)
    for d in data:
        assert {"id", "size", "suggested_question", "examples"} <= set(d)
        assert len(d["examples"]) == d["size"]
