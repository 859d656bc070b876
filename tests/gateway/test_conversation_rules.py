"""Conversation rules of the gateway (#20): 反诈 first in every state, flows that end at a handoff,
the bot answering while the customer waits, queue texts that agree, buttons read as words.

Driven through the conversation core with the real handoff machine and a fake Rasa (HTTP).
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from crm.models import ChannelIdentity, Conversation, ConversationTransition, Message, utcnow
from crm.models.conversations import ConversationState
from crm.models.handoff import HandoffState, ServiceRating
from gateway import texts
from gateway.antifraud import FraudAlert
from gateway.chat_types import InboundMessage
from gateway.conversation import ConversationService
from gateway.handoff.hours import next_work_start
from gateway.handoff.machine import FRAUD_PRIORITY, Effects
from gateway.handoff.service import HandoffService
from gateway.rasa_client import RasaClient
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PLAIN_WEB_ID,
    VIP_WEB_ID,
    FakeRasa,
    db_url,
    factory,
    handoff_settings,
    rm_by_login,
    set_online,
    template_db,
)

CARD_BUTTONS = [
    {"title": "尾号0003的借记卡", "payload": '/inform{"card_tail":"0003"}'},
    {"title": "尾号8812的社保卡", "payload": '/inform{"card_tail":"8812"}'},
]


@dataclass
class ScriptedRasa(FakeRasa):
    """FakeRasa plus a complaint form, an unsure FAQ answer, buttons and a balance answer."""

    in_form: set[str] = field(default_factory=set)

    def answer(self, text: str) -> list[dict[str, Any]]:
        if "投诉" in text and not text.startswith("我要投诉"):
            return [{"text": "请您说一下具体遇到了什么问题？"}]
        if text.startswith("/inform"):
            return [{"text": "好的，已为您选中这张卡。"}]
        if "挂失" in text:
            return [{"text": "请问要挂失哪张卡？", "buttons": CARD_BUTTONS}]
        if "明天下雨" in text:
            return [
                {
                    "text": "抱歉，这个问题我还不太确定怎么回答。",
                    "buttons": [{"title": "转人工客服", "payload": "/request_human"}],
                }
            ]
        if "余额" in text or "还剩多少钱" in text:
            return [{"text": "您尾号0003的卡可用余额为 1,234.00 元。"}]
        return super().answer(text)


@dataclass
class Rig:
    chat: ConversationService
    handoff: HandoffService
    rasa: ScriptedRasa
    factory: sessionmaker[Session]

    async def say(self, web_id: str, text: str, channel: str = "web") -> list[str]:
        return [r.text for r in await self.chat.handle_message(InboundMessage(channel, web_id, text))]

    def conv(self, web_id: str) -> Conversation:
        with self.factory() as s:
            identity = s.scalar(select(ChannelIdentity).where(ChannelIdentity.external_id == web_id))
            assert identity is not None
            conv = s.scalar(select(Conversation).where(Conversation.identity_id == identity.id))
            assert conv is not None
            return conv

    def hs(self, web_id: str) -> HandoffState:
        with self.factory() as s:
            hs = s.get(HandoffState, self.conv(web_id).id)
            assert hs is not None
            return hs

    def messages(self, web_id: str) -> list[tuple[str, str]]:
        """(author, text) of the whole transcript, as the RM console reads it."""
        with self.factory() as s:
            rows = s.scalars(
                select(Message).where(Message.conversation_id == self.conv(web_id).id).order_by(Message.id)
            )
            return [(m.author, m.text) for m in rows]

    def reasons(self, web_id: str) -> list[str]:
        with self.factory() as s:
            rows = s.scalars(
                select(ConversationTransition.reason).where(
                    ConversationTransition.conversation_id == self.conv(web_id).id
                )
            )
            return list(rows)

    def events(self, web_id: str) -> list[str]:
        return self.rasa.event_names(f"web:{web_id}")

    async def act(self, login: str, web_id: str, what: str, *args: object) -> object:
        conv_id = self.conv(web_id).id
        rm = rm_by_login(self.factory, login)

        def work(s: Session, fx: Effects) -> object:
            conv = s.get(Conversation, conv_id)
            assert conv is not None
            return getattr(self.handoff.machine, what)(s, conv, s.merge(rm), *args, fx)

        return await self.handoff.run(work)


async def _rig(factory: sessionmaker[Session], hotline: str = "", **hours: str) -> AsyncIterator[Rig]:
    rasa = ScriptedRasa()
    server = TestServer(rasa.app())
    await server.start_server()
    async with aiohttp.ClientSession() as http:
        client = RasaClient(str(server.make_url("")).rstrip("/"), timeout_s=5, session=http)
        service = HandoffService(handoff_settings(**hours), factory, client)
        yield Rig(ConversationService(factory, client, handoff=service, bank_hotline=hotline), service, rasa, factory)
    await server.close()


@pytest.fixture
async def rig(factory: sessionmaker[Session]) -> AsyncIterator[Rig]:
    set_online(factory, "rm001", utcnow() + dt.timedelta(hours=2))
    async for r in _rig(factory):
        yield r


@pytest.fixture
async def closed_rig(factory: sessionmaker[Session]) -> AsyncIterator[Rig]:
    """Never working time: every queue is out of hours."""
    async for r in _rig(factory, hotline="96268", work_start="00:00", work_end="00:00"):
        yield r


SCAM = "公安局的人打电话说俺涉嫌洗钱 让俺把钱转到安全账户"
SCAM_PAID = "俺按他说的已经把钱转过去了 转了两万到安全账户"


# --- 反诈 ------------------------------------------------------------------------------------------


async def test_scam_story_in_bot_state_is_warned_at_once_and_never_reaches_the_bot(rig: Rig) -> None:
    replies = await rig.say(PLAIN_WEB_ID, SCAM)
    assert len(replies) == 1
    for words in ("不要转账", "挂断", "验证码", "屏幕共享", "96110", "110", "银行卡背面的本行客服热线"):
        assert words in replies[0], words
    assert rig.rasa.received == []  # nothing for Rasa: no form, no "not understood"
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.BOT
    assert rig.messages(PLAIN_WEB_ID)[-1] == ("bot", replies[0])


async def test_money_gone_gets_stop_payment_steps_and_the_first_place_in_line(rig: Rig) -> None:
    await rig.say(VIP_WEB_ID, "人工")  # a VIP already waits
    replies = await rig.say(PLAIN_WEB_ID, SCAM_PAID)
    joined = "\n".join(replies)
    assert "止付" in joined and "收款账号" in joined and "冻结" in joined and "保留" in joined
    conv = rig.conv(PLAIN_WEB_ID)
    assert conv.state == ConversationState.QUEUED and conv.priority >= FRAUD_PRIORITY
    assert rig.hs(PLAIN_WEB_ID).reason == "fraud"
    assert "加急" in joined and "下一位就是您" in joined  # ahead of the VIP
    assert rig.conv(VIP_WEB_ID).priority < conv.priority
    assert len(set(re.split(r"[。！\n]", joined)) - {""}) == len([p for p in re.split(r"[。！\n]", joined) if p])


async def test_scam_while_queued_is_warned_flagged_and_moved_up(rig: Rig) -> None:
    await rig.say(VIP_WEB_ID, "人工")
    await rig.say(PLAIN_WEB_ID, "人工")
    sent = len(rig.rasa.received)
    replies = await rig.say(PLAIN_WEB_ID, "有人说俺中奖了 要先交手续费")
    assert "中奖" in replies[0] and "96110" in replies[0]
    assert "优先处理" in replies[-1]
    assert len(rig.rasa.received) == sent
    assert rig.hs(PLAIN_WEB_ID).reason == "fraud"
    assert rig.conv(PLAIN_WEB_ID).priority > rig.conv(VIP_WEB_ID).priority
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.QUEUED


async def test_scam_while_an_rm_serves_warns_the_customer_and_the_rm_sees_it(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    replies = await rig.say(PLAIN_WEB_ID, "网上有人让俺帮忙刷单 说能返佣金")
    assert len(replies) == 1 and "刷单返利" in replies[0]
    transcript = rig.messages(PLAIN_WEB_ID)
    assert transcript[-2] == ("customer", "网上有人让俺帮忙刷单 说能返佣金")
    assert transcript[-1] == ("bot", replies[0])
    hs = rig.hs(PLAIN_WEB_ID)
    assert hs.reason == "fraud" and hs.awaiting_since is not None
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.AGENT


async def test_second_scam_message_gets_a_short_reminder_not_the_same_text(rig: Rig) -> None:
    first = await rig.say(PLAIN_WEB_ID, SCAM)
    second = await rig.say(PLAIN_WEB_ID, "那个警察又打电话来了 说俺涉嫌洗钱 不转钱就抓俺")
    assert second == [texts.FRAUD_AGAIN] and second[0] != first[0]


async def test_the_banks_hotline_is_named_when_configured(closed_rig: Rig) -> None:
    replies = await closed_rig.say(PLAIN_WEB_ID, SCAM)
    assert "本行客服热线 96268" in replies[0] and "银行卡背面" not in replies[0]


async def test_scam_inside_a_form_leaves_the_bot_alone(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "投诉网点")
    sent = len(rig.rasa.received)
    replies = await rig.say(PLAIN_WEB_ID, "还有个事 有个客服说要给俺退款 让俺把验证码告诉他")
    assert "验证码" in replies[0] and len(rig.rasa.received) == sent


async def test_anger_at_the_bank_is_not_a_scam(rig: Rig) -> None:
    replies = await rig.say(PLAIN_WEB_ID, "你们就是骗子，气死我了")
    assert not any("96110" in r for r in replies)
    assert rig.reasons(PLAIN_WEB_ID)[-1] == "negative_sentiment"


# --- flows end at a handoff, a close and a rating ---------------------------------------------------


async def test_no_form_survives_handoff_close_and_rating(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "投诉网点")  # the complaint form asks for details
    await rig.say(PLAIN_WEB_ID, "我要投诉 你们网点排队太久了")  # filed, queued
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.QUEUED
    assert rig.events(PLAIN_WEB_ID)[:3] == ["active_loop", "slot", "reset_slots"]
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    await rig.act("rm001", PLAIN_WEB_ID, "close")
    names = rig.events(PLAIN_WEB_ID)
    assert names[-5:] == ["active_loop", "slot", "reset_slots", "resume", "bot"]
    assert "原因" in (await rig.say(PLAIN_WEB_ID, '/rate_service{"score": 4}'))[0]
    await rig.say(PLAIN_WEB_ID, "跳过")
    sent = len(rig.rasa.received)
    answer = await rig.say(PLAIN_WEB_ID, "俺卡里还剩多少钱")
    assert answer == ["您尾号0003的卡可用余额为 1,234.00 元。"]
    assert rig.rasa.received[sent:] == ["俺卡里还剩多少钱"]
    with rig.factory() as s:
        rating = s.scalar(select(ServiceRating))
        assert rating is not None and rating.score == 4


async def test_cancelled_queue_resumes_without_a_pause_ever_sent(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.say(PLAIN_WEB_ID, "不用了，继续问小农")
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.BOT
    assert "pause" not in rig.events(PLAIN_WEB_ID)


# --- waiting never silences the bot -------------------------------------------------------------------


async def test_queued_customer_gets_sure_answers_with_an_occasional_reminder(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "我要投诉 你们网点排队太久了")
    answers = [await rig.say(PLAIN_WEB_ID, q) for q in ("俺卡里还剩多少钱", "那贷款啥时候还", "查余额", "网点几点开门")]
    assert answers[0][0].startswith("您尾号0003") and answers[1][0] == "小农收到：那贷款啥时候还"
    reminders = [a for a in answers if len(a) == 2 and "仍在排队" in a[1]]
    assert 1 <= len(reminders) <= 2  # now and then, not after every answer
    assert not any("您的消息已记下" in r for a in answers for r in a)
    # The RM sees the bot's answers too.
    assert ("bot", "小农收到：那贷款啥时候还") in rig.messages(PLAIN_WEB_ID)


async def test_unsure_or_fallback_while_queued_tells_the_place_and_never_queues_twice(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    for text in ("明天下雨不", "???", "???", "人工", "/request_human"):
        replies = await rig.say(PLAIN_WEB_ID, text)
        assert len(replies) == 1 and "您的消息已记下" in replies[0] and "下一位就是您" in replies[0], (text, replies)
    assert rig.reasons(PLAIN_WEB_ID) == ["request_human"]
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.QUEUED


async def test_positions_only_move_forward(rig: Rig) -> None:
    await rig.say("visitor-a", "人工")
    second = await rig.say("visitor-b", "人工")
    assert "前面还有 1 位" in second[0]
    await rig.say(VIP_WEB_ID, "人工")  # a VIP is served first: visitor-b is now third in the computed order
    again = await rig.say("visitor-b", "???")
    assert "前面还有 1 位" in again[0] and "前面还有 2 位" not in again[0]
    with rig.factory() as s:
        told = s.scalar(select(HandoffState.last_position_told).where(
            HandoffState.conversation_id == rig.conv("visitor-b").id))
        assert told == 2
    report = await rig.handoff.sweep_once()
    assert report.updated == 0  # a place further back is never announced


async def test_out_of_hours_is_said_once_without_a_waiting_time_and_the_bot_keeps_serving(closed_rig: Rig) -> None:
    replies = await closed_rig.say(PLAIN_WEB_ID, "人工")
    assert len(replies) == 1
    told = replies[0]
    assert "非工作时间" in told and "明天 00:00" in told and "留言" in told
    assert "预计等待" not in told and "前面还有" not in told
    assert closed_rig.hs(PLAIN_WEB_ID).message_offered_at is not None
    answer = await closed_rig.say(PLAIN_WEB_ID, "俺卡里还剩多少钱")
    assert answer[0].startswith("您尾号0003")
    unsure = await closed_rig.say(PLAIN_WEB_ID, "明天下雨不")
    assert "上班后" in unsure[0] and "预计等待" not in unsure[0] and "非工作时间" not in unsure[0]
    await closed_rig.handoff.sweep_once()
    texts_seen = [t for _, t in closed_rig.messages(PLAIN_WEB_ID)]
    assert sum("非工作时间" in t for t in texts_seen) == 1
    assert not any("前面还有 0 位" in t for t in texts_seen)


async def test_leave_message_while_queued_out_of_hours(closed_rig: Rig) -> None:
    await closed_rig.say(PLAIN_WEB_ID, "人工")
    assert "请直接输入" in (await closed_rig.say(PLAIN_WEB_ID, "/leave_message"))[0]
    assert "工单号" in (await closed_rig.say(PLAIN_WEB_ID, "明天上午给俺回个电话"))[0]
    assert closed_rig.conv(PLAIN_WEB_ID).state == ConversationState.BOT


def test_next_work_start_reads_like_people_say_it() -> None:
    s = handoff_settings(work_start="08:30", work_end="17:30")
    tz = dt.timezone(dt.timedelta(hours=8))
    monday_early = dt.datetime(2026, 12, 7, 7, 0, tzinfo=tz)
    monday_late = dt.datetime(2026, 12, 7, 20, 0, tzinfo=tz)
    friday_late = dt.datetime(2026, 12, 11, 20, 0, tzinfo=tz)
    assert next_work_start(monday_early, s) == "今天 08:30"
    assert next_work_start(monday_late, s) == "明天 08:30"
    assert next_work_start(friday_late, s) == "12月14日（周一）08:30"


def test_queue_texts_never_say_zero_ahead() -> None:
    from gateway.handoff import texts as handoff_texts

    for online in (0, 1, 3):
        text = handoff_texts.queue_text(1, online, 180, "request_human")
        assert "0 位" not in text and "下一位就是您" in text
    assert "0 位" not in handoff_texts.position_update(1, 0, 180)


# --- buttons read as words ------------------------------------------------------------------------------


async def test_a_clicked_button_is_stored_as_its_title_and_rasa_gets_the_payload(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "卡丢了要挂失")
    await rig.say(PLAIN_WEB_ID, '/inform{"card_tail":"0003"}')
    assert rig.rasa.received[-1] == '/inform{"card_tail":"0003"}'
    customer = [t for a, t in rig.messages(PLAIN_WEB_ID) if a == "customer"]
    assert customer[-1] == "尾号0003的借记卡"
    assert not any(t.startswith("/") for t in customer)


async def test_payload_without_a_button_reads_as_words(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    await rig.act("rm001", PLAIN_WEB_ID, "hand_back")
    await rig.say(PLAIN_WEB_ID, '/rate_service{"score": 4}')
    customer = [t for a, t in rig.messages(PLAIN_WEB_ID) if a == "customer"]
    assert customer[-1] == "4分 满意"  # the rating question's own button
    await rig.say(PLAIN_WEB_ID, "跳过")
    await rig.say(PLAIN_WEB_ID, "/affirm")
    assert [t for a, t in rig.messages(PLAIN_WEB_ID) if a == "customer"][-1] == "（选择了：是的）"


async def test_stale_button_while_an_rm_serves_is_answered_and_not_passed_on(rig: Rig) -> None:
    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.act("rm001", PLAIN_WEB_ID, "take")
    await rig.act("rm001", PLAIN_WEB_ID, "rm_reply", "您好，请讲")
    user_events = rig.events(PLAIN_WEB_ID).count("user")
    replies = await rig.say(PLAIN_WEB_ID, "/cancel_handoff")
    assert replies == [texts.IN_SERVICE]
    assert rig.conv(PLAIN_WEB_ID).state == ConversationState.AGENT
    assert rig.hs(PLAIN_WEB_ID).awaiting_since is None  # nothing for the RM to answer
    assert rig.events(PLAIN_WEB_ID).count("user") == user_events
    assert not any(t.startswith("/") for _, t in rig.messages(PLAIN_WEB_ID))


def test_payload_words() -> None:
    assert texts.payload_words('/rate_service{"score": 4}') == "（选择了：评分 4 分）"
    assert texts.payload_words('/inform{"card_tail":"0003"}') == "（选择了：尾号0003的卡）"
    assert texts.payload_words("/something_new") == "（点选了一个选项）"
    assert texts.shown_text("/affirm", [{"title": "是的，挂失", "payload": "/affirm"}]) == "是的，挂失"
    assert texts.shown_text("俺要挂失", []) == "俺要挂失"
    assert not texts.is_payload("/ 你好") and texts.is_payload('/inform{"a": 1}')


def test_fraud_warning_names_the_scheme_plainly() -> None:
    text = texts.fraud_warning(FraudAlert("other", "诈骗", False))
    assert "很可能是诈骗" in text and "“诈骗”类诈骗" not in text


# --- the RM console -------------------------------------------------------------------------------------


async def test_console_flags_fraud_and_shows_buttons_as_words(rig: Rig) -> None:
    from gateway.console import panel

    await rig.say(PLAIN_WEB_ID, "人工")
    await rig.say(PLAIN_WEB_ID, SCAM_PAID)
    conv_id = rig.conv(PLAIN_WEB_ID).id
    with rig.factory.begin() as s:  # a click stored as a payload by an older gateway
        s.add(Message(conversation_id=conv_id, direction="in", author="customer", text="/affirm"))
    me = rm_by_login(rig.factory, "rm001").id
    with rig.factory() as s:
        conv = s.get(Conversation, conv_id)
        hs = s.get(HandoffState, conv_id)
        assert conv is not None and hs is not None
        row = panel.row(s, conv, hs, me, utcnow())
        assert row["fraud"] is True and row["last_text"] == "（选择了：是的）"
        shown = [m["text"] for m in panel.transcript(s, conv_id)]
    assert any("止付" in t for t in shown) and "/affirm" not in shown


def test_pushed_choices_on_wechat_are_numbered_and_resolvable(factory: sessionmaker[Session]) -> None:
    from crm import wechat_store as store
    from gateway.handoff import texts as handoff_texts
    from gateway.handoff.service import _numbered_for_wechat

    offer = [{"title": b.title, "payload": b.payload} for b in (handoff_texts.LEAVE_MESSAGE_BUTTON,
                                                                  handoff_texts.CANCEL_BUTTON)]
    rating = [{"title": b.title, "payload": b.payload} for b in handoff_texts.RATING_QUESTION.buttons]
    with factory.begin() as s:
        text = _numbered_for_wechat(s, "oNumbered", "让您久等了。", offer)
        assert text == "让您久等了。\n回复 1：给客户经理留言\n回复 2：不用了，继续问小农"
        assert store.resolve_choice(s, "oNumbered", 2, dt.timedelta(minutes=5)) == "/cancel_handoff"
        question = _numbered_for_wechat(s, "oNumbered", handoff_texts.RATING_QUESTION.text, rating)
        assert question == handoff_texts.RATING_QUESTION.text  # it already says 回复 1–5 分
        assert store.resolve_choice(s, "oNumbered", 4, dt.timedelta(minutes=5)) == '/rate_service{"score": 4}'
