"""Conversations that hold up (#20), end to end on the real stack: 反诈 first in every state, the bot
answering while the customer waits (in and out of working hours), queue texts that agree, buttons read
as words, and no flow surviving a handoff, a close or a rating. Web chat and the WeChat sandbox.

The session's stack serves Rasa and the action server; this module adds two gateways of its own on the
same database, one always within working hours and one always outside them, so the queue texts do
not depend on when the suite runs (weekends and holidays are outside working hours for both).
"""

from __future__ import annotations

import asyncio
import re
import secrets
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.db import make_engine
from crm.models import ChannelIdentity, Conversation, ConversationTransition, Message, Ticket
from crm.models.conversations import ConversationState
from crm.models.handoff import HandoffState, ServiceRating
from devstack.stack import Stack, free_port, wait_http
from gateway.wechat.messages import render_xml
from gateway.wechat.sandbox import read_reply, sign_request
from gateway.wechat.settings import WeChatSettings
from tests.e2e.helpers import WebCustomer
from tests.e2e.test_handoff_e2e import Console, build_user_message_for

pytestmark = pytest.mark.e2e

POSITION = re.compile(r"下一位就是您|前面还有 (\d+) 位")
ZERO_AHEAD = "前面还有 0 位"


@dataclass(frozen=True)
class Gateways:
    open: str  # always working hours
    closed: str  # never working hours


@pytest.fixture(scope="module")
def gateways(stack: Stack) -> Iterator[Gateways]:
    urls: dict[str, str] = {}
    for name, (start, end) in {"open": ("00:00", "23:59"), "closed": ("00:00", "00:00")}.items():
        port = free_port()
        service = stack.start(
            f"gateway-{name}",
            [sys.executable, "-m", "gateway"],
            {
                "GATEWAY_PORT": str(port),
                "HANDOFF_WORK_START": start,
                "HANDOFF_WORK_END": end,
                # This module's customers are swept by the stack's own gateway; one sweeper is enough.
                "HANDOFF_SWEEP_INTERVAL_S": "3600",
            },
        )
        urls[name] = f"http://127.0.0.1:{port}"
        wait_http(f"{urls[name]}/readyz", 60, service.proc)
    yield Gateways(urls["open"], urls["closed"])
    stack.stop("gateway-open")
    stack.stop("gateway-closed")


@pytest.fixture(scope="module")
def engine(stack: Stack) -> Iterator[Engine]:
    engine = make_engine(stack.database_url)
    yield engine
    engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


class RM(Console):
    """The console as an RM uses it, present (heartbeat) before every action."""

    async def act(self, conv_id: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        await self.post("/console/api/heartbeat")
        return await super().act(conv_id, action, body)

    async def row(self, conv_id: int) -> dict[str, Any]:
        return dict((await self.get(f"/console/api/conversations/{conv_id}"))["conversation"])

    async def end(self, conv_id: int) -> None:
        """Leave nothing queued for later tests: take (if still waiting) and close."""
        state = (await self.row(conv_id))["state"]
        if state == ConversationState.QUEUED:
            await self.act(conv_id, "take")
            state = ConversationState.AGENT
        if state == ConversationState.AGENT:
            await self.act(conv_id, "close")


@pytest.fixture
async def rm(gateways: Gateways) -> AsyncIterator[RM]:
    console = RM(gateways.open)
    await console.login("rm001")
    yield console
    await console.post("/console/api/logout")
    await console.close()


class Visitor(WebCustomer):
    """A web chat visitor whose ``say`` returns the answers to this message only (status frames are
    kept apart by ``WebCustomer``)."""

    last_id = 0

    async def say(self, text: str) -> list[dict[str, Any]]:
        after = max([self.last_id, *(m["id"] for m in self.pushed)])
        async with self.http.post(f"{self.base}/api/messages", json={"text": text, "after": after}) as r:
            assert r.status == 200, await r.text()
            messages = list((await r.json())["messages"])
        self.last_id = max([after, *(m["id"] for m in messages)])
        return [m for m in messages if m["direction"] == "out"]

    async def said(self, text: str) -> list[dict[str, Any]]:
        """Send ``text``; every message of the response, the customer's own echo included."""
        after = max([self.last_id, *(m["id"] for m in self.pushed)])
        async with self.http.post(f"{self.base}/api/messages", json={"text": text, "after": after}) as r:
            assert r.status == 200, await r.text()
            messages = list((await r.json())["messages"])
        self.last_id = max([after, *(m["id"] for m in messages)])
        return messages


@pytest.fixture
async def web(gateways: Gateways) -> AsyncIterator[Visitor]:
    person = Visitor(gateways.open)
    await person.start()
    yield person
    await person.close()


@pytest.fixture
async def night_web(gateways: Gateways) -> AsyncIterator[Visitor]:
    person = Visitor(gateways.closed)
    await person.start()
    yield person
    await person.close()


class WeChat:
    """A WeChat user posting signed plaintext callbacks to one of this module's gateways."""

    def __init__(self, stack: Stack, base: str, http: aiohttp.ClientSession) -> None:
        self.stack, self.base, self.http = stack, base, http
        self.settings = WeChatSettings.from_env(stack.env)
        self.openid = "oBkc20e2e" + secrets.token_hex(9)

    @property
    def sender_id(self) -> str:
        return f"wechat:{self.openid}"

    async def say(self, text: str) -> str:
        fields = build_user_message_for(self.openid, text)
        query, body = sign_request(self.settings, render_xml(fields), encrypt=False, original_id="gh_bankcare_demo")
        async with self.http.post(
            f"{self.stack.sandbox_url}/sandbox/control", json={"action": "touch_user", "openid": self.openid}
        ) as r:
            assert r.status == 200
        async with self.http.post(f"{self.base}/wechat", params=query, data=body.encode()) as r:
            assert r.status == 200
            return read_reply(self.settings, await r.text()) or ""

    async def received(self) -> list[str]:
        async with self.http.get(f"{self.stack.sandbox_url}/sandbox/messages") as r:
            data = await r.json()
        return [m.get("content", "") for m in data["received"] if m["touser"] == self.openid and m["kind"] == "custom"]

    async def wait_received(self, needle: str) -> str:
        for _ in range(100):
            for text in await self.received():
                if needle in text:
                    return text
            await asyncio.sleep(0.2)
        raise AssertionError(f"{needle!r} never reached the sandbox; got {await self.received()}")


def conv_of(engine: Engine, sender_id: str) -> Conversation:
    with Session(engine) as s:
        conv = s.scalar(select(Conversation).where(Conversation.sender_id == sender_id))
        assert conv is not None, sender_id
        return conv


def hs_of(engine: Engine, conv_id: int) -> HandoffState:
    with Session(engine) as s:
        hs = s.get(HandoffState, conv_id)
        assert hs is not None
        return hs


def transcript(engine: Engine, conv_id: int) -> list[tuple[str, str]]:
    with Session(engine) as s:
        rows = s.scalars(select(Message).where(Message.conversation_id == conv_id).order_by(Message.id))
        return [(m.author, m.text) for m in rows]


def queued_count(engine: Engine, conv_id: int) -> int:
    with Session(engine) as s:
        return int(
            s.scalar(
                select(func.count()).select_from(ConversationTransition).where(
                    ConversationTransition.conversation_id == conv_id, ConversationTransition.to_state == ConversationState.QUEUED
                )
            )
            or 0
        )


async def tracker(http: aiohttp.ClientSession, stack: Stack, sender_id: str) -> dict[str, Any]:
    async with http.get(
        f"{stack.rasa_url}/conversations/{quote(sender_id, safe='')}/tracker",
        params={"include_events": "ALL", "token": stack.env["RASA_TOKEN"]},
    ) as r:
        assert r.status == 200, await r.text()
        return dict(await r.json())


def active_loop(state: dict[str, Any]) -> str | None:
    loop = state.get("active_loop") or {}
    return loop.get("name") if isinstance(loop, dict) else None


def texts_of(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def no_contradiction(told: str) -> None:
    """Queue texts never contradict each other, never say 0 ahead, never repeat a sentence."""
    assert ZERO_AHEAD not in told, told
    if "非工作时间" in told:
        assert "预计等待" not in told, told
    sentences = [s for s in re.split(r"[。！？\n]", told) if s.strip()]
    assert len(sentences) == len(set(sentences)), told


async def queue(web: Visitor) -> str:
    told = texts_of(await web.say("/request_human"))
    no_contradiction(told)
    return told


SCAMS = {
    "police": "公安局的人打电话说俺涉嫌洗钱 让俺把钱转到安全账户",
    "prize": "有人说俺中奖了 要先交手续费才能领",
    "orders": "网上有人让俺帮忙刷单 说一单返好几十",
    "refund": "有个自称淘宝客服的说给俺退款 让俺把验证码报给他",
    "loan_fee": "有个网贷说给俺放款 让先交5000保证金",
    "boss": "有个自称俺领导的人加俺微信 让俺先转3万给他 说急用",
    "screen": "对方让俺下载个会议软件开屏幕共享 说帮俺操作",
}
PAID = "俺被骗了 刚才已经转了两万到他说的安全账户"


def is_warning(text: str) -> bool:
    return "96110" in text and "不要转账" in text


# --- 反诈 first, in every state ------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", sorted(SCAMS))
async def test_web_scam_in_bot_state_is_warned_and_the_bot_never_sees_it(
    scheme: str, stack: Stack, engine: Engine, http: aiohttp.ClientSession, web: Visitor
) -> None:
    replies = await web.say(SCAMS[scheme])
    assert len(replies) == 1 and is_warning(replies[0]["text"]), replies
    assert "挂断" in replies[0]["text"] and "验证码" in replies[0]["text"]
    sender = f"web:{web.web_id}"
    assert conv_of(engine, sender).state == ConversationState.BOT
    events = (await tracker(http, stack, sender))["events"]
    assert not any(e.get("event") == "user" and e.get("text") == SCAMS[scheme] for e in events)


async def test_web_money_gone_stop_payment_and_first_in_line_with_fraud_badge(
    engine: Engine, web: Visitor, rm: RM
) -> None:
    told = texts_of(await web.say(PAID))
    assert is_warning(told) and "止付" in told and "110" in told and "收款账号" in told and "冻结" in told
    assert "下一位就是您" in told  # before every VIP
    no_contradiction(told)
    conv = conv_of(engine, f"web:{web.web_id}")
    assert conv.state == ConversationState.QUEUED and conv.priority >= 100
    row = await rm.row(conv.id)
    assert row["fraud"] is True
    listing = (await rm.get("/console/api/conversations"))["conversations"]
    mine = next(r for r in listing if r["id"] == conv.id)
    assert mine["fraud"] is True
    assert max(r["priority"] for r in listing if r["state"] == ConversationState.QUEUED) == mine["priority"]
    await rm.end(conv.id)


async def test_web_scam_inside_a_form_warns_and_the_form_waits(
    stack: Stack, engine: Engine, http: aiohttp.ClientSession, web: Visitor
) -> None:
    await web.say("/bind_account")
    sender = f"web:{web.web_id}"
    assert active_loop(await tracker(http, stack, sender)) == "bind_account_form"
    replies = await web.say(SCAMS["refund"])
    assert len(replies) == 1 and is_warning(replies[0]["text"])
    assert active_loop(await tracker(http, stack, sender)) == "bind_account_form"  # untouched by the scam text


async def test_web_scam_while_queued_is_warned_flagged_and_moved_up(
    engine: Engine, web: Visitor, rm: RM
) -> None:
    await queue(web)
    conv = conv_of(engine, f"web:{web.web_id}")
    before = conv.priority
    told = texts_of(await web.say(SCAMS["police"]))
    assert is_warning(told) and "优先处理" in told
    after = conv_of(engine, f"web:{web.web_id}")
    assert after.state == ConversationState.QUEUED and after.priority > before
    assert (await rm.row(conv.id))["fraud"] is True
    await rm.end(conv.id)


async def test_web_scam_while_an_rm_serves_reaches_both(engine: Engine, web: Visitor, rm: RM) -> None:
    await queue(web)
    conv_id = conv_of(engine, f"web:{web.web_id}").id
    await rm.act(conv_id, "take")
    await web.wait_for("很高兴为您服务")
    replies = await web.say(SCAMS["boss"])
    assert len(replies) == 1 and is_warning(replies[0]["text"])
    shown = [m["text"] for m in await rm.transcript(conv_id)]
    assert SCAMS["boss"] in shown and replies[0]["text"] in shown
    assert (await rm.row(conv_id))["fraud"] is True
    await rm.end(conv_id)


async def test_wechat_scam_in_bot_state(stack: Stack, gateways: Gateways, http: aiohttp.ClientSession) -> None:
    user = WeChat(stack, gateways.open, http)
    reply = await user.say(SCAMS["prize"])
    assert is_warning(reply) and "中奖" in reply


async def test_wechat_scam_while_queued(
    stack: Stack, gateways: Gateways, http: aiohttp.ClientSession, engine: Engine, rm: RM
) -> None:
    user = WeChat(stack, gateways.open, http)
    no_contradiction(await user.say("/request_human"))
    reply = await user.say(SCAMS["orders"])
    assert is_warning(reply) and "优先处理" in reply
    conv = conv_of(engine, user.sender_id)
    assert conv.state == ConversationState.QUEUED and hs_of(engine, conv.id).reason == "fraud"
    await rm.end(conv.id)


async def test_wechat_scam_while_an_rm_serves(
    stack: Stack, gateways: Gateways, http: aiohttp.ClientSession, engine: Engine, rm: RM
) -> None:
    user = WeChat(stack, gateways.open, http)
    await user.say("/request_human")
    conv_id = conv_of(engine, user.sender_id).id
    await rm.act(conv_id, "take")
    await user.wait_received("很高兴为您服务")
    reply = await user.say(SCAMS["screen"])
    assert is_warning(reply) and "屏幕共享" in reply
    shown = [m["text"] for m in await rm.transcript(conv_id)]
    assert SCAMS["screen"] in shown and reply in shown
    await rm.end(conv_id)


async def test_wechat_money_gone_stop_payment_and_handoff(
    stack: Stack, gateways: Gateways, http: aiohttp.ClientSession, engine: Engine, rm: RM
) -> None:
    user = WeChat(stack, gateways.open, http)
    reply = await user.say(PAID)
    assert is_warning(reply) and "止付" in reply and POSITION.search(reply)
    conv = conv_of(engine, user.sender_id)
    assert conv.state == ConversationState.QUEUED and hs_of(engine, conv.id).reason == "fraud"
    await rm.end(conv.id)


# --- waiting for a person never silences the bot -------------------------------------------------------


async def test_web_queued_in_hours_gets_bot_answers_the_rm_sees_them(
    engine: Engine, web: Visitor, rm: RM
) -> None:
    told = await queue(web)
    assert POSITION.search(told) and "非工作时间" not in told
    conv_id = conv_of(engine, f"web:{web.web_id}").id
    answer = await web.say("你好")
    assert answer and answer[0]["author"] == "bot", answer
    assert conv_of(engine, f"web:{web.web_id}").state == ConversationState.QUEUED
    assert answer[0]["text"] in [m["text"] for m in await rm.transcript(conv_id)]
    await rm.end(conv_id)


async def test_web_queued_reminder_now_and_then(engine: Engine, web: Visitor, rm: RM) -> None:
    await queue(web)
    answers = [await web.say(q) for q in ("你好", "谢谢", "你好", "谢谢", "你好")]
    reminders = sum(1 for a in answers if any("仍在排队" in m["text"] for m in a))
    assert 1 <= reminders <= 3, [texts_of(a) for a in answers]
    for a in answers:
        no_contradiction(texts_of(a))
    await rm.end(conv_of(engine, f"web:{web.web_id}").id)


async def test_web_asking_for_a_person_again_while_queued_never_queues_twice(
    engine: Engine, web: Visitor, rm: RM
) -> None:
    await queue(web)
    for text in ("转人工", "/request_human", "人工客服"):
        told = texts_of(await web.say(text))
        assert POSITION.search(told), told
        no_contradiction(told)
    conv_id = conv_of(engine, f"web:{web.web_id}").id
    assert queued_count(engine, conv_id) == 1
    await rm.end(conv_id)


async def test_web_not_understood_while_queued_tells_the_place_not_a_second_handoff(
    engine: Engine, web: Visitor, rm: RM
) -> None:
    await queue(web)
    for text in ("啊吧啊吧咕噜咕噜", "嗯嗯啊啊哦哦"):
        replies = await web.say(text)
        told = texts_of(replies)
        no_contradiction(told)
        assert not any(b["payload"] == "/request_human" for m in replies for b in m.get("buttons", [])), replies
    conv_id = conv_of(engine, f"web:{web.web_id}").id
    assert queued_count(engine, conv_id) == 1 and conv_of(engine, f"web:{web.web_id}").state == ConversationState.QUEUED
    await rm.end(conv_id)


async def test_web_positions_only_move_forward(gateways: Gateways, engine: Engine, rm: RM) -> None:
    first, second, jumper = (Visitor(gateways.open) for _ in range(3))
    for person in (first, second, jumper):
        await person.start()
    try:
        await queue(first)
        told = [await queue(second)]
        await jumper.say(PAID)  # served before everyone
        for text in ("啊吧啊吧", "还要等多久呀", "咕噜咕噜"):
            told.append(texts_of(await second.say(text)))
        places = [int(m.group(1)) + 1 if m.group(1) else 1 for t in told if (m := POSITION.search(t))]
        assert places and places == sorted(places, reverse=True), told
    finally:
        for person in (first, second, jumper):
            await rm.end(conv_of(engine, f"web:{person.web_id}").id)
            await person.close()


async def test_web_rm_takes_over_and_the_bot_falls_silent(
    stack: Stack, engine: Engine, http: aiohttp.ClientSession, web: Visitor, rm: RM
) -> None:
    await queue(web)
    sender = f"web:{web.web_id}"
    conv_id = conv_of(engine, sender).id
    await rm.act(conv_id, "take")
    await web.wait_for("很高兴为您服务")
    assert await web.say("你好") == []
    state = await tracker(http, stack, sender)
    assert state["paused"] is True and active_loop(state) is None
    await rm.act(conv_id, "handback")
    await web.wait_for("满意吗")
    answer = await web.say("你好")
    assert answer and answer[0]["author"] == "bot"


async def test_wechat_queued_in_hours_gets_bot_answers(
    stack: Stack, gateways: Gateways, http: aiohttp.ClientSession, engine: Engine, rm: RM
) -> None:
    user = WeChat(stack, gateways.open, http)
    told = await user.say("/request_human")
    assert POSITION.search(told) and "非工作时间" not in told
    no_contradiction(told)
    answer = await user.say("你好")
    assert answer and "您的消息已记下" not in answer
    conv = conv_of(engine, user.sender_id)
    assert conv.state == ConversationState.QUEUED
    await rm.end(conv.id)


async def test_web_out_of_hours_said_once_and_the_bot_keeps_serving(
    engine: Engine, night_web: Visitor, rm: RM
) -> None:
    replies = await night_web.say("/request_human")
    told = texts_of(replies)
    assert "非工作时间" in told and "上班后" in told and "留言" in told
    assert "预计等待" not in told and not POSITION.search(told)
    assert {b["title"] for m in replies for b in m["buttons"]} == {"给客户经理留言", "不用了，继续问小农"}
    assert "+" not in told and "加号" not in told
    later = [texts_of(await night_web.say(q)) for q in ("你好", "谢谢", "啊吧啊吧")]
    assert later[0] and all("非工作时间" not in t and "预计等待" not in t for t in later), later
    conv = conv_of(engine, f"web:{night_web.web_id}")
    assert conv.state == ConversationState.QUEUED
    await rm.end(conv.id)


async def test_web_out_of_hours_leave_a_message(engine: Engine, night_web: Visitor) -> None:
    await night_web.say("/request_human")
    assert "请直接输入" in texts_of(await night_web.say("/leave_message"))
    done = texts_of(await night_web.say("明天上午给俺回个电话 说说贷款的事"))
    assert "工单号" in done
    conv = conv_of(engine, f"web:{night_web.web_id}")
    assert conv.state == ConversationState.BOT
    with Session(engine) as s:
        assert s.scalar(select(Ticket).where(Ticket.identity_id == conv.identity_id, Ticket.kind == "message"))


async def test_wechat_out_of_hours_numbered_choices(
    stack: Stack, gateways: Gateways, http: aiohttp.ClientSession, engine: Engine
) -> None:
    user = WeChat(stack, gateways.closed, http)
    told = await user.say("/request_human")
    assert "非工作时间" in told and "回复 1：给客户经理留言" in told and "回复 2：不用了，继续问小农" in told
    assert "预计等待" not in told and "点击" not in told and "+" not in told
    asked = await user.say("1")
    assert "请直接输入" in asked
    conv = conv_of(engine, user.sender_id)
    assert ("customer", "给客户经理留言") in transcript(engine, conv.id)
    assert "工单号" in await user.say("麻烦明天给俺回电话")


async def test_wechat_out_of_hours_cancel_by_number(
    stack: Stack, gateways: Gateways, http: aiohttp.ClientSession, engine: Engine
) -> None:
    user = WeChat(stack, gateways.closed, http)
    await user.say("/request_human")
    assert "已为您取消转人工" in await user.say("2")
    conv = conv_of(engine, user.sender_id)
    assert conv.state == ConversationState.BOT
    assert ("customer", "不用了，继续问小农") in transcript(engine, conv.id)


# --- buttons read as words ------------------------------------------------------------------------------


async def test_web_cancel_button_echoes_its_title(engine: Engine, web: Visitor) -> None:
    await queue(web)
    messages = await web.said("/cancel_handoff")
    mine = [m for m in messages if m["direction"] == "in"]
    assert mine[-1]["text"] == "不用了，继续问小农"
    assert not any(m["text"].startswith("/") for m in mine)
    assert conv_of(engine, f"web:{web.web_id}").state == ConversationState.BOT


async def test_web_rating_button_reads_as_words_in_chat_and_console(
    engine: Engine, web: Visitor, rm: RM
) -> None:
    await queue(web)
    conv_id = conv_of(engine, f"web:{web.web_id}").id
    await rm.act(conv_id, "take")
    await rm.act(conv_id, "handback")
    await web.wait_for("满意吗")
    messages = await web.said('/rate_service{"score": 4}')
    assert [m["text"] for m in messages if m["direction"] == "in"][-1] == "4分 满意"
    # Handed back, the conversation is no longer the RM's to open: the stored transcript is what
    # the console shows (gateway/console/panel.py reads it as stored).
    shown = [t for a, t in transcript(engine, conv_id) if a == "customer"]
    assert "4分 满意" in shown and not any(t.startswith("/") for t in shown)
    with Session(engine) as s:
        rating = s.scalar(select(ServiceRating).where(ServiceRating.conversation_id == conv_id))
        assert rating is not None and rating.score == 4


async def test_web_stale_cancel_while_an_rm_serves_never_reaches_the_rm(
    engine: Engine, web: Visitor, rm: RM
) -> None:
    await queue(web)
    conv_id = conv_of(engine, f"web:{web.web_id}").id
    await rm.act(conv_id, "take")
    await web.wait_for("很高兴为您服务")
    replies = await web.say("/cancel_handoff")
    assert len(replies) == 1 and "人工服务中" in replies[0]["text"]
    assert conv_of(engine, f"web:{web.web_id}").state == ConversationState.AGENT
    assert hs_of(engine, conv_id).awaiting_since is None
    shown = [m["text"] for m in await rm.transcript(conv_id)]
    assert "/cancel_handoff" not in shown
    await rm.end(conv_id)


async def test_web_payload_typed_without_a_button_reads_as_words(engine: Engine, web: Visitor) -> None:
    await web.say("/bind_account")
    conv = conv_of(engine, f"web:{web.web_id}")
    customer = [t for a, t in transcript(engine, conv.id) if a == "customer"]
    assert customer == ["（选择了：绑定账户）"]


async def test_wechat_rating_by_number_is_the_score(
    stack: Stack, gateways: Gateways, http: aiohttp.ClientSession, engine: Engine, rm: RM
) -> None:
    user = WeChat(stack, gateways.open, http)
    await user.say("/request_human")
    conv_id = conv_of(engine, user.sender_id).id
    await rm.act(conv_id, "take")
    await rm.act(conv_id, "handback")
    question = await user.wait_received("满意吗")
    assert "回复 1：" not in question  # the question itself says 回复 1–5 分
    assert "原因" in await user.say("4")
    with Session(engine) as s:
        rating = s.scalar(select(ServiceRating).where(ServiceRating.conversation_id == conv_id))
        assert rating is not None and rating.score == 4
    assert ("customer", "4分 满意") in transcript(engine, conv_id)


# --- flows that end ---------------------------------------------------------------------------------------


async def test_web_complaint_then_handoff_close_rating_and_a_balance_question_is_not_a_complaint(
    stack: Stack, engine: Engine, http: aiohttp.ClientSession, web: Visitor, rm: RM
) -> None:
    sender = f"web:{web.web_id}"
    await web.say("我要投诉")
    assert active_loop(await tracker(http, stack, sender)) == "complain_form"
    await web.say("你们城关网点排队太久了 等了两个小时 柜员态度也不好")
    if conv_of(engine, sender).state != ConversationState.QUEUED:
        await web.say("/request_human")
    conv = conv_of(engine, sender)
    assert conv.state == ConversationState.QUEUED
    assert active_loop(await tracker(http, stack, sender)) is None
    await rm.act(conv.id, "take")
    await rm.end(conv.id)
    await web.wait_for("满意吗")
    await web.say("5")
    await web.say("跳过")
    with Session(engine) as s:
        complaints = s.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.identity_id == conv.identity_id, Ticket.kind == "complaint"))
    answer = texts_of(await web.say("俺卡里还剩多少钱"))
    assert "说说遇到了什么问题" not in answer, answer
    state = await tracker(http, stack, sender)
    assert active_loop(state) != "complain_form"
    assert state["slots"].get("complaint_text") in (None, "")
    with Session(engine) as s:
        again = s.scalar(select(func.count()).select_from(Ticket).where(
            Ticket.identity_id == conv.identity_id, Ticket.kind == "complaint"))
    assert again == complaints


async def test_web_form_then_money_gone_ends_the_form(
    stack: Stack, engine: Engine, http: aiohttp.ClientSession, web: Visitor, rm: RM
) -> None:
    sender = f"web:{web.web_id}"
    await web.say("/bind_account")
    assert active_loop(await tracker(http, stack, sender)) == "bind_account_form"
    await web.say(PAID)
    assert conv_of(engine, sender).state == ConversationState.QUEUED
    state = await tracker(http, stack, sender)
    assert active_loop(state) is None and state["slots"].get("requested_slot") is None
    await rm.end(conv_of(engine, sender).id)


async def test_web_after_the_rm_closes_the_bot_is_back_and_the_rating_may_be_skipped(
    stack: Stack, engine: Engine, http: aiohttp.ClientSession, web: Visitor, rm: RM
) -> None:
    await queue(web)
    sender = f"web:{web.web_id}"
    await rm.end(conv_of(engine, sender).id)
    await web.wait_for("本次会话已结束")
    state = await tracker(http, stack, sender)
    assert state["paused"] is False and active_loop(state) is None
    answer = await web.say("你好")
    assert answer and answer[0]["author"] == "bot"
    assert conv_of(engine, sender).state == ConversationState.BOT


async def test_wechat_binding_form_does_not_survive_a_handoff(
    stack: Stack, gateways: Gateways, http: aiohttp.ClientSession, engine: Engine, rm: RM
) -> None:
    user = WeChat(stack, gateways.open, http)
    await user.say("/bind_account")
    assert active_loop(await tracker(http, stack, user.sender_id)) == "bind_account_form"
    await user.say("/request_human")
    conv = conv_of(engine, user.sender_id)
    if conv.state != ConversationState.QUEUED:  # the form may have taken the payload as an answer: ask plainly
        await user.say("转人工")
        conv = conv_of(engine, user.sender_id)
    assert conv.state == ConversationState.QUEUED
    assert active_loop(await tracker(http, stack, user.sender_id)) is None
    await rm.end(conv.id)


async def test_identity_rows_are_stored_for_both_channels(engine: Engine) -> None:
    """Sanity for the module: every customer above wrote through the shared database."""
    with Session(engine) as s:
        channels = set(s.scalars(select(ChannelIdentity.channel)))
    assert {"web", "wechat"} <= channels
