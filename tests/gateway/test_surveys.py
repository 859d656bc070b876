"""Satisfaction surveys end to end through the real gateway (WeChat callbacks, fake Rasa) and SMS.

Invitations are planned into the outbox and dispatched like campaign messages; the customer answers
in their own words on WeChat, asks the bot something in the middle and is asked again; a low score
over SMS opens a 回访 task that the RM closes through the console API; the report shows it all.
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from care import survey_defs, survey_report
from care.compliance import TZ
from care.survey_planner import plan_surveys
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from core.db import session_scope
from core.settings import Settings
from crm.models import (
    CallbackTask,
    ChannelIdentity,
    Customer,
    Delivery,
    RelationshipManager,
    SurveyAnswer,
    SurveyResponse,
    Ticket,
)
from crm.models.care import DeliveryStatus
from crm.models.service import TicketStatus
from crm.models.sms import SmsServiceConsent
from gateway.keys import SESSION_FACTORY
from gateway.surveys import answer_from_sms
from gateway.wechat.messages import parse_xml_fields, render_xml
from gateway.wechat.settings import WeChatSettings
from outbound.contract import RecordingSender
from tests.gateway.console.support import console_login as login
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    db_url,
    fake_rasa,
    handoff_settings,
    http,
    template_db,
)
from tests.gateway.wechat.conftest import signed_query

TODAY = dt.datetime.now(TZ).date()
CHAT_SURVEY = "test_service_chat"
SMS_SURVEY = "test_service_sms"
WECHAT_A = "oBkc9zhangjianhua0000000001"  # 张建华: the WeChat survey
WECHAT_C = "oBkc9wangzhiqiang0000000003"  # 王志强: "不想答"
WECHAT_B = "oBkc9lixiulan00000000000002"  # 李秀兰: surveyed by SMS, so nothing on WeChat


def chat_survey() -> dict[str, Any]:
    return {
        "code": CHAT_SURVEY,
        "name": "测试：服务满意度（微信）",
        "audience": {"event": "ticket_resolved", "delay_days": 1},
        "channels": "wechat_only",
        "intro": "{{ salutation }}您好！您反映的问题已经处理完毕。",
        "questions": [
            {"code": "csat", "kind": "csat", "text": "您对处理结果满意吗？请回复1到5分。"},
            {"code": "nps", "kind": "nps", "text": "您有多大可能把我们推荐给亲友？请回复0到10分。"},
            {"code": "comment", "kind": "text", "text": "还有什么建议吗？"},
        ],
        "thanks": "感谢您的宝贵意见！",
    }


def sms_survey() -> dict[str, Any]:
    return {
        "code": SMS_SURVEY,
        "name": "测试：服务满意度（短信）",
        "audience": {"event": "ticket_resolved", "delay_days": 1},
        "channels": "sms_only",
        "sms_template": "survey_csat_invite",
        "questions": [{"code": "csat", "kind": "csat", "text": "您对处理结果满意吗？请回复1到5分。"}],
        "callback_working_days": 2,
    }


def customer_id(s: Session, openid: str) -> int:
    cid = s.scalar(select(ChannelIdentity.customer_id).where(ChannelIdentity.external_id == openid))
    assert cid is not None
    return cid


async def plan_and_send(factory: sessionmaker[Session]) -> dict[str, int]:
    """Resolved tickets yesterday for A, B and C; B agreed to service SMS. Plan both surveys, send
    the WeChat invitations through the dispatcher, and mark B's SMS as delivered (the SMS
    provider's part). Returns the customer ids."""
    yesterday = dt.datetime.combine(TODAY - dt.timedelta(days=1), dt.time(15, 0), tzinfo=TZ)
    with session_scope(factory) as s:
        ids = {name: customer_id(s, openid) for name, openid in (("a", WECHAT_A), ("b", WECHAT_B), ("c", WECHAT_C))}
        for name, cid in ids.items():
            s.add(Ticket(ref=f"T-SURVEY-{name}", customer_id=cid, kind="complaint", content="排队太久",
                         status=TicketStatus.RESOLVED, idempotency_key=f"survey-test-{name}", created_at=yesterday,
                         updated_at=yesterday))  # fmt: skip
        for name, cid in ids.items():  # whatever the demo bank says: only B takes service SMS
            s.merge(SmsServiceConsent(customer_id=cid, granted=name == "b", source="柜面", updated_at=yesterday))
        survey_defs.load_into_db(s, [survey_defs.parse(sms_survey()), survey_defs.parse(chat_survey())])
    with session_scope(factory) as s:
        first = plan_surveys(s, TODAY, codes=[SMS_SURVEY])  # B by SMS; A and C have no SMS consent
        second = plan_surveys(s, TODAY, codes=[CHAT_SURVEY])  # A and C on WeChat; B was just surveyed
    assert first.counts[(SMS_SURVEY, "no_channel")] == 2
    assert second.counts[(CHAT_SURVEY, "recently_surveyed")] == 1
    with session_scope(factory) as s:
        rows = {r.customer_id: r for r in s.scalars(select(Delivery).where(Delivery.idempotency_key.like("survey:%")))}
        assert rows[ids["b"]].channel == "sms" and rows[ids["b"]].sms_template == "survey_csat_invite"
        assert rows[ids["a"]].channel == "wechat" and "您对处理结果满意吗" in rows[ids["a"]].text
        send_at = max(r.not_before for r in rows.values())
        s.execute(update(Delivery).where(Delivery.id == rows[ids["b"]].id).values(status=DeliveryStatus.SENT, sent_at=send_at))
    clock = send_at + dt.timedelta(minutes=1)
    sender = RecordingSender()
    await Dispatcher(factory, sender, DispatchConfig(rate_per_second=0, batch_size=50), clock=lambda: clock).drain()
    assert len(sender.delivered) == 2
    return ids


def wechat_settings() -> WeChatSettings:
    return WeChatSettings.from_settings(Settings(demo_mode=True, wechat_mode="compatible"))


@pytest.fixture
async def gateway(db_url: str, fake_rasa: tuple[Any, str]) -> AsyncIterator[TestClient]:
    """The real gateway app (plaintext WeChat callbacks allowed) talking to the fake Rasa."""
    from gateway.app import create_app

    settings = Settings(database_url=db_url, rasa_url=fake_rasa[1], demo_mode=True, wechat_mode="compatible")
    client = TestClient(TestServer(create_app(settings, handoff_settings())))
    await client.start_server()
    yield client
    await client.close()


async def say(client: TestClient, openid: str, content: str, msg_id: int) -> str:
    xml = render_xml({
        "ToUserName": "gh_bankcare", "FromUserName": openid, "CreateTime": 1733000000,
        "MsgType": "text", "Content": content, "MsgId": msg_id,
    })  # fmt: skip
    resp = await client.post("/wechat", params=signed_query(wechat_settings()), data=xml)
    assert resp.status == 200, await resp.text()
    body = await resp.text()
    return "" if body == "success" else parse_xml_fields(body.encode())["Content"]


async def test_survey_answered_in_words_with_a_question_in_the_middle_and_a_low_sms_score_called_back(
    gateway: TestClient, http: aiohttp.ClientSession
) -> None:
    factory = gateway.app[SESSION_FACTORY]
    ids = await plan_and_send(factory)

    # A answers in their own words; an off-topic question goes to the bot, then the survey resumes.
    reply = await say(gateway, WECHAT_A, "还行吧", 1)
    assert "推荐给亲友" in reply and "小农收到" not in reply
    reply = await say(gateway, WECHAT_A, "我卡里还有多少钱", 2)
    assert reply.startswith("小农收到：我卡里还有多少钱")
    assert "顺便说一句，刚才的问题" in reply and "推荐给亲友" in reply
    reply = await say(gateway, WECHAT_A, "九分", 3)
    assert "还有什么建议" in reply
    reply = await say(gateway, WECHAT_A, "排队等了半天，柜员态度倒是挺好，手机号13812345678", 4)
    assert reply == "感谢您的宝贵意见！"
    # Finished: the next message is the bot's again, with nothing about the survey.
    reply = await say(gateway, WECHAT_A, "挺好", 5)
    assert reply == "小农收到：挺好"

    # C does not want to answer: ended politely, and never asked again.
    reply = await say(gateway, WECHAT_C, "不想答", 6)
    assert "不打扰您了" in reply
    assert await say(gateway, WECHAT_C, "五分", 7) == "小农收到：五分"
    # B's survey went by SMS: nothing leaks into B's WeChat conversation.
    assert await say(gateway, WECHAT_B, "还行吧", 8) == "小农收到：还行吧"

    with session_scope(factory) as s:
        answers = {
            (a.question, a.score, a.comment)
            for a in s.scalars(
                select(SurveyAnswer).join(SurveyResponse).where(SurveyResponse.customer_id == ids["a"])
            )
        }
        assert answers == {("csat", 3, None), ("nps", 9, None),
                           ("comment", None, "排队等了半天，柜员态度倒是挺好，手机号138****5678")}  # fmt: skip
        statuses = dict(s.execute(select(SurveyResponse.customer_id, SurveyResponse.status)).all())
        assert statuses == {ids["a"]: "completed", ids["b"]: "invited", ids["c"]: "refused"}
        phone = s.scalar(select(Customer.phone).where(Customer.id == ids["b"]))
        assert phone is not None
        # B replies to the SMS: not an answer first (left to the SMS inbox), then a digit.
        assert answer_from_sms(s, phone, "你们几点开门") is None
    with session_scope(factory) as s:
        assert answer_from_sms(s, f"+86 {phone}", "2") is not None
    with session_scope(factory) as s:
        task = s.scalar(select(CallbackTask).where(CallbackTask.customer_id == ids["b"]))
        assert task is not None and (task.scale, task.score, task.status) == ("csat", 2, "open")
        assert task.due_on > TODAY
        rm = s.get(RelationshipManager, task.rm_id) if task.rm_id else None
        assert rm is not None, "the demo persona has an RM"
        rm_login, task_id = rm.login, task.id
        assert s.scalar(select(CallbackTask).where(CallbackTask.customer_id == ids["a"])) is None  # 3 and 9

    # The RM sees the task in the console and records the call.
    csrf = await login(http, rm_login)
    resp = await http.get("/console/api/callbacks")
    assert resp.status == 200
    tasks = (await resp.json())["callbacks"]
    assert [t["id"] for t in tasks] == [task_id]
    assert tasks[0]["score"] == 2 and "****" in tasks[0]["phone"] and "*" in tasks[0]["customer"]
    resp = await http.post(f"/console/api/callbacks/{task_id}", json={"outcome": "done", "note": "已致电道歉"})
    assert resp.status == 403  # no CSRF token
    resp = await http.post(
        f"/console/api/callbacks/{task_id}", json={"outcome": "done", "note": "已致电道歉，客户表示理解"},
        headers={"X-CSRF-Token": csrf},
    )  # fmt: skip
    assert resp.status == 200 and (await resp.json())["status"] == "done"
    assert (await (await http.get("/console/api/callbacks")).json())["callbacks"] == []

    with session_scope(factory) as s:
        sms = survey_report.build(s, SMS_SURVEY, "channel")
        chat = survey_report.build(s, CHAT_SURVEY)
    assert (sms.overall.invited, sms.overall.responded) == (1, 1)
    assert sms.overall.csat is not None and sms.overall.csat.mean == 2.0
    assert sms.callbacks.as_dict() == {
        "opened": 1, "closed": 1, "in_time": 1, "overdue_open": 0, "compared": 0, "improved": 0
    }  # fmt: skip
    assert [g.label for g in sms.groups] == ["短信"]
    assert (chat.overall.invited, chat.overall.responded) == (2, 1)
    assert chat.overall.nps is not None and chat.overall.nps.nps == 100.0
    assert chat.overall.csat is not None and chat.overall.csat.mean == 3.0
    assert {t["topic"] for t in chat.topics} >= {"排队等候", "服务态度"}

    # Next quarter B answers again, happier: the report counts the improvement after the call.
    with session_scope(factory) as s:
        first = s.scalar(select(SurveyResponse).where(SurveyResponse.customer_id == ids["b"]))
        assert first is not None
        later = SurveyResponse(
            survey_id=first.survey_id, customer_id=ids["b"], delivery_key="survey:later:b", channel="sms",
            trigger="ticket_resolved", status="completed", question_index=1, misses=0,
            invited_on=TODAY + dt.timedelta(days=91), expires_at=first.expires_at + dt.timedelta(days=91),
        )  # fmt: skip
        s.add(later)
        s.flush()
        s.add(SurveyAnswer(response_id=later.id, question="csat", kind="csat", score=4,
                           answered_at=dt.datetime.now(dt.UTC) + dt.timedelta(days=91)))  # fmt: skip
    with session_scope(factory) as s:
        again = survey_report.build(s, SMS_SURVEY)
    assert (again.callbacks.compared, again.callbacks.improved) == (1, 1)


async def test_expired_invitation_is_not_a_survey_any_more(gateway: TestClient) -> None:
    factory = gateway.app[SESSION_FACTORY]
    ids = await plan_and_send(factory)
    with session_scope(factory) as s:
        s.execute(
            update(SurveyResponse)
            .where(SurveyResponse.customer_id == ids["a"])
            .values(expires_at=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1))
        )
    assert await say(gateway, WECHAT_A, "还行吧", 11) == "小农收到：还行吧"


def test_the_shipped_survey_definitions_load() -> None:
    codes = {d.code for d in survey_defs.read_files()}
    assert {"quarterly_nps", "after_appointment", "after_complaint", "loan_disbursed"} <= codes


async def test_supervisor_report_page_and_chart_rm_forbidden(gateway: TestClient, http: aiohttp.ClientSession) -> None:
    factory = gateway.app[SESSION_FACTORY]
    ids = await plan_and_send(factory)
    assert await say(gateway, WECHAT_A, "满意", 21)
    with session_scope(factory) as s:
        phone = s.scalar(select(Customer.phone).where(Customer.id == ids["b"]))
        assert phone is not None and answer_from_sms(s, phone, "1") is not None
        supervisor = s.scalar(select(RelationshipManager.login).where(RelationshipManager.role == "supervisor"))
        rm = s.scalar(select(RelationshipManager.login).where(RelationshipManager.role == "rm"))
    assert supervisor and rm
    resp = await http.get("/console/surveys")
    assert resp.status == 200 and "满意度调查" in await resp.text()
    assert (await http.get(f"/console/api/surveys/{SMS_SURVEY}")).status == 401
    await login(http, rm)
    assert (await http.get(f"/console/api/surveys/{SMS_SURVEY}")).status == 403
    http.cookie_jar.clear()
    await login(http, supervisor)
    listed = (await (await http.get("/console/api/surveys")).json())["surveys"]
    assert {s["code"]: s["invitations"] for s in listed if s["code"].startswith("test_")} == {
        CHAT_SURVEY: 2, SMS_SURVEY: 1
    }  # fmt: skip
    resp = await http.get(f"/console/api/surveys/{CHAT_SURVEY}", params={"by": "branch"})
    assert resp.status == 200
    body = await resp.json()
    assert body["overall"]["csat"]["n"] == 1 and body["overall"]["response_rate"] == 0.5
    assert "Wilson" in body["method"] and len(body["groups"]) >= 1
    resp = await http.get(f"/console/api/surveys/{SMS_SURVEY}/chart.png", params={"by": "channel"})
    assert resp.status == 200 and resp.content_type == "image/png"
    assert (await resp.read()).startswith(b"\x89PNG")
    assert (await http.get(f"/console/api/surveys/{SMS_SURVEY}", params={"by": "x"})).status == 400
    assert (await http.get("/console/api/surveys/no_such")).status == 404


async def test_web_chat_survey_for_an_invitation_sent_to_the_web_identity(gateway: TestClient) -> None:
    """The same hook on web chat: the survey follows the identity the invitation went to."""
    factory = gateway.app[SESSION_FACTORY]
    ids = await plan_and_send(factory)
    with session_scope(factory) as s:
        web = s.scalar(select(ChannelIdentity.id).where(ChannelIdentity.external_id == "demo-zhangjianhua"))
        assert web is not None
        s.execute(update(SurveyResponse).where(SurveyResponse.customer_id == ids["a"]).values(identity_id=web))
    jar = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(base_url=str(gateway.make_url("")), cookie_jar=jar) as web_http:
        assert (await web_http.post("/api/session", json={"persona": "demo-zhangjianhua"})).status == 200

        async def web_say(text: str) -> list[str]:
            resp = await web_http.post("/api/messages", json={"text": text})
            assert resp.status == 200
            return [m["text"] for m in (await resp.json())["messages"] if m["direction"] == "out"]

        assert any("推荐给亲友" in t for t in await web_say("一般般"))
        out = await web_say("附近网点在哪")
        assert out[-2:] == ["小农收到：附近网点在哪", out[-1]] and out[-1].startswith("顺便说一句")
        assert any("建议" in t for t in await web_say("8"))
    # The WeChat identity of the same customer is not in the survey.
    assert await say(gateway, WECHAT_A, "还行吧", 31) == "小农收到：还行吧"
    with session_scope(factory) as s:
        scores = sorted(
            (a.question, a.score)
            for a in s.scalars(select(SurveyAnswer).join(SurveyResponse).where(SurveyResponse.customer_id == ids["a"]))
        )
    assert scores == [("csat", 3), ("nps", 8)]
