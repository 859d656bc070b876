"""Nothing customers typed leaves the masking (pool, topics, leads); leads from product interest
with their RM and outcome; intent review exported as Rasa NLU YAML; spikes raise alerts."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from crm.access import insights as store
from crm.access.conversations import NewMessage, open_conversation, record_messages
from crm.models import Branch, ChannelIdentity, Customer, RelationshipManager
from crm.models.base import utcnow
from crm.models.insights import InsightAlert, LeadStatus, PoolSource
from insights.harvest import harvest
from insights.nlu_export import export_reviewed
from insights.topics import build_topics
from insights.trends import build_trends, detect_spikes

PHONE, ID_NUMBER, CARD, CODE = "13812345678", "11010519491231002X", "6222021234567890123", "493817"
SECRETS = (PHONE, ID_NUMBER, CARD, "1234567890123", CODE)


def _customer(session: Session, external: str, rm_code: str = "RM01") -> int:
    """A verified customer of branch 1 with RM ``rm_code`` behind web identity ``external``."""
    branch = session.scalars(select(Branch)).first()
    if branch is None:
        branch = Branch(code="B01", name="城关支行", town="城关镇", address="人民路1号", phone="0000",
                        latitude=0.0, longitude=0.0, opening_hours={})
        session.add(branch)
        session.flush()
    rm = session.scalars(select(RelationshipManager).where(RelationshipManager.code == rm_code)).first()
    if rm is None:
        rm = RelationshipManager(code=rm_code, name="王经理", phone="0000", branch_id=branch.id, login=rm_code)
        session.add(rm)
        session.flush()
    customer = Customer(cif_no=f"C{external}", kind="个人", name="张三", gender="M", birthday=dt.date(1970, 1, 1),
                        phone="13900000000", id_number="000", town="城关镇", village="东村", occupation="种植户",
                        rm_id=rm.id, branch_id=branch.id, opened_on=dt.date(2020, 1, 1))
    session.add(customer)
    session.flush()
    conv = open_conversation(session, "web", external)
    identity = session.get(ChannelIdentity, conv.identity_id)
    assert identity is not None
    identity.customer_id, identity.verified_at = customer.id, utcnow()
    identity.verified_until = utcnow() + dt.timedelta(hours=1)  # verification still current
    return customer.id


def _no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text, text


def test_pool_topics_and_leads_are_masked(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        _customer(session, "c1")
        conv = open_conversation(session, "web", "c1")
        for text in (f"我手机号{PHONE}怎么开通ETC", f"身份证{ID_NUMBER}能办ETC吗", f"卡号{CARD}办ETC",
                     f"验证码 {CODE} ETC怎么办理"):
            store.record_unanswered(session, text, PoolSource.FAQ_UNSURE, sender_id=conv.sender_id)
        # Raw text straight into the lead path too (the harvest reads stored, masked messages;
        # record_lead masks again whatever it is given).
        store.record_lead(session, conv.id, "deposit", ["想", "定期"], f"想存个定期，打我电话{PHONE}")
        record_messages(session, conv, [NewMessage("in", "customer", f"想贷款买台收割机，电话{PHONE}")])
        harvest(session)
        topics = build_topics(session, days=1, encoder=None)
        for t in topics:
            _no_secret(t.suggested_question)
            for e in t.examples:
                _no_secret(e)
        found = store.leads(session)
        assert {lead.product for lead in found} == {"deposit", "loan"}
        for lead in found:
            _no_secret(lead.text + lead.trigger_words)
        for row in store.pool_since(session, utcnow() - dt.timedelta(days=1)):
            _no_secret(row.text)


def test_lead_reaches_the_rm_and_the_outcome_is_readable(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        customer_id = _customer(session, "c2")
        conv = open_conversation(session, "web", "c2")
        record_messages(session, conv, [
            NewMessage("in", "customer", "我想把养老金转过来"),
            NewMessage("in", "customer", "贷款逾期了怎么办"),  # a problem, not a lead
            NewMessage("in", "customer", "余额多少"),
        ])  # fmt: skip
        harvest(session)
        harvest(session)  # idempotent
        rm_id = session.scalars(select(RelationshipManager.id)).one()
        mine = store.leads(session, rm_id=rm_id)
        assert [(x.product, x.customer_id) for x in mine] == [("pension", customer_id)]
        assert "养老金转过来" in mine[0].trigger_words
        assert store.leads(session, customer_id=customer_id) == mine
        store.set_lead_outcome(session, mine[0].id, LeadStatus.WON, "rm:RM01", rm_id=rm_id)
        outcomes = store.lead_outcomes(session)
        assert [(o.customer_id, o.product, o.status) for o in outcomes] == [(customer_id, "pension", "won")]


def test_rm_answer_joins_the_pool_with_its_draft(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        conv = open_conversation(session, "web", "c3")
        record_messages(session, conv, [
            NewMessage("in", "customer", "你们网点能交电动车罚款吗"),
            NewMessage("out", "rm", "您好，可以在柜台代缴交通罚款，带上决定书即可。"),
            NewMessage("in", "customer", "好的谢谢"),
            NewMessage("out", "rm", "不客气"),
        ])  # fmt: skip
        harvest(session)
        rows = store.pool_since(session, utcnow() - dt.timedelta(days=1))
        assert [(r.text, r.source) for r in rows] == [("你们网点能交电动车罚款吗", "rm_answered")]
        assert rows[0].rm_reply and "决定书" in rows[0].rm_reply
        topics = build_topics(session, days=1, encoder=None)
        assert topics[0].draft_answer == rows[0].rm_reply


def test_reviewed_utterances_export_as_rasa_nlu_yaml(factory: sessionmaker[Session], tmp_path: Path) -> None:
    with session_scope(factory) as session:
        conv = open_conversation(session, "web", "c4")
        a = store.record_unanswered(session, "卡被吞了咋整", PoolSource.FALLBACK, sender_id=conv.sender_id,
                                    intent="greet", confidence=0.31)
        b = store.record_unanswered(session, "今天天气咋样", PoolSource.FALLBACK, sender_id=conv.sender_id,
                                    intent="faq", confidence=0.2)
        c = store.record_unanswered(session, f"ATM吞卡了 {PHONE}", "fallback", conversation_id=conv.id, confidence=0.4)
        assert a and b and c
        assert [r.id for r in store.pending_reviews(session)] == [b.id, a.id, c.id]  # least confident first
        store.review(session, a.id, "report_loss", "supervisor")
        store.review(session, b.id, None, "supervisor")
        store.review(session, c.id, "report_loss", "supervisor")
        path, count = export_reviewed(session, tmp_path)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["version"] == "3.1" and count == 2
    assert [block["intent"] for block in data["nlu"]] == ["report_loss"]
    examples = [line.removeprefix("- ") for line in data["nlu"][0]["examples"].splitlines()]
    assert examples[0] == "卡被吞了咋整" and "今天天气咋样" not in examples
    _no_secret(path.read_text(encoding="utf-8"))


def test_spike_at_one_branch_raises_an_alert(factory: sessionmaker[Session]) -> None:
    now = utcnow()
    with session_scope(factory) as session:
        for i in range(6):
            _customer(session, f"s{i}")
        branch_id = session.scalars(select(Branch.id)).one()
        for i in range(6):
            conv = open_conversation(session, "web", f"s{i}")
            store.record_unanswered(session, "ATM吞卡了怎么办", "fallback", conversation_id=conv.id, now=now)
        conv = open_conversation(session, "web", "s0")
        store.record_unanswered(session, "ATM把卡吞了怎么办", "fallback", conversation_id=conv.id,
                                now=now - dt.timedelta(days=5))
        build_topics(session, days=7, now=now + dt.timedelta(seconds=1), encoder=None)
        spikes = detect_spikes(session, now=now + dt.timedelta(seconds=1))
        assert [(s.branch_id, s.count) for s in spikes] == [(branch_id, 6)]
        assert session.scalars(select(InsightAlert)).one().branch_id == branch_id
        trends = build_trends(session, days=7, now=now + dt.timedelta(seconds=1))
        assert sum(sum(v.values()) for v in trends.topics_by_branch.values()) == 7


def test_harvest_continues_where_it_stopped(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        for i, text in enumerate(["想存个定期", "想买理财", "想贷款买台收割机"]):
            _customer(session, f"h{i}")
            conv = open_conversation(session, "web", f"h{i}")
            record_messages(session, conv, [NewMessage("in", "customer", text)])
        seen = []
        for _ in range(4):
            harvest(session, batch=1, max_batches=1)
            seen.append(len(store.leads(session)))
        assert seen == [1, 2, 3, 3]
