"""Relationship-manager handoff end to end: the real bot queues, an RM answers from the console API,
the customer gets the reply (web chat WebSocket / WeChat sandbox), the bot resumes and asks for a rating.

Runs on the session's stack (real Rasa with the trained model, real actions server, gateway and
WeChat sandbox). Customers are fresh web visitors and fresh openids, so other tests sharing the
stack do not disturb them; the RM takes *this* conversation by id, whatever else is queued.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from core.db import make_engine
from crm.models import ChannelIdentity, Conversation, Message
from crm.models.conversations import ConversationState
from crm.models.handoff import ServiceRating
from crm.models.outbound import OutboundSend
from devstack.stack import Stack
from gateway.wechat.messages import render_xml
from gateway.wechat.sandbox import build_user_message, read_reply, sign_request
from gateway.wechat.settings import WeChatSettings
from tests.e2e.helpers import WebCustomer

pytestmark = pytest.mark.e2e

PASSWORD = "bankcare-demo"
POSITION = re.compile(r"下一位就是您|前面还有 \d+ 位")
WAIT_S = 20.0


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        yield session


class Console:
    """An RM in the console, through its HTTP API exactly as the page uses it (cookie + CSRF header)."""

    def __init__(self, base: str) -> None:
        self.base = base
        # unsafe: the gateway is addressed by IP, and aiohttp's jar skips IP cookies otherwise.
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def login(self, login: str) -> None:
        async with self.http.post(f"{self.base}/console/api/login", json={"login": login, "password": PASSWORD}) as r:
            assert r.status == 200, await r.text()
            cookie = r.headers["Set-Cookie"]
            assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
            self.csrf = (await r.json())["csrf"]

    async def get(self, path: str) -> dict[str, Any]:
        async with self.http.get(self.base + path) as r:
            assert r.status == 200, await r.text()
            return dict(await r.json())

    async def post(self, path: str, body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
        async with self.http.post(self.base + path, json=body or {}, headers={"X-CSRF-Token": self.csrf}) as r:
            return r.status, dict(await r.json())

    async def act(self, conv_id: int, action: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        status, data = await self.post(f"/console/api/conversations/{conv_id}/{action}", body)
        assert status == 200, (action, status, data)
        return data

    async def transcript(self, conv_id: int) -> list[dict[str, Any]]:
        return list((await self.get(f"/console/api/conversations/{conv_id}"))["messages"])

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def console(stack: Stack) -> AsyncIterator[Console]:
    rm = Console(stack.gateway_url)
    await rm.login("rm001")
    yield rm
    # Logging out marks the RM offline, so later tests on the shared stack route as if they never came.
    assert (await rm.post("/console/api/logout"))[0] == 200
    await rm.close()


@pytest.fixture
async def customer(stack: Stack) -> AsyncIterator[WebCustomer]:
    person = WebCustomer(stack.gateway_url)
    await person.start()
    yield person
    await person.close()


@pytest.fixture
def engine(stack: Stack) -> Iterator[Engine]:
    engine = make_engine(stack.database_url)
    yield engine
    engine.dispose()


def conversation_of(engine: Engine, sender_id: str) -> Conversation:
    with Session(engine) as s:
        conv = s.scalar(select(Conversation).where(Conversation.sender_id == sender_id))
        assert conv is not None, sender_id
        return conv


async def tracker_events(http: aiohttp.ClientSession, stack: Stack, sender_id: str) -> list[dict[str, Any]]:
    """The conversation as Rasa keeps it (its REST API, as an operator would read it)."""
    async with http.get(
        f"{stack.rasa_url}/conversations/{quote(sender_id, safe='')}/tracker",
        params={"include_events": "ALL", "token": stack.env["RASA_TOKEN"]},
    ) as r:
        assert r.status == 200, await r.text()
        return list((await r.json())["events"])


async def test_web_customer_rm_takes_replies_hands_back_and_rating_is_stored(
    stack: Stack, engine: Engine, http: aiohttp.ClientSession, console: Console, customer: WebCustomer
) -> None:
    # The real bot understands 转人工; the gateway queues the conversation and tells the position.
    queued = await customer.say("转人工")
    told = "\n".join(m["text"] for m in queued)
    assert "转接客户经理" in told and POSITION.search(told), told
    sender_id = f"web:{customer.web_id}"
    conv = conversation_of(engine, sender_id)
    assert conv.state == ConversationState.QUEUED

    listing = (await console.get("/console/api/conversations"))["conversations"]
    assert conv.id in [c["id"] for c in listing]
    await console.act(conv.id, "take")
    await customer.wait_for("很高兴为您服务")  # the RM's greeting, pushed

    reply = await console.act(conv.id, "reply", {"text": "您好，我帮您查一下，请稍等。", "key": secrets.token_hex(8)})
    assert reply["delivery"] == "sent" and reply["delivery_label"] == "已送达"
    pushed = await customer.wait_for("我帮您查一下")
    assert pushed["author"] == "rm"

    # While the RM owns the conversation the bot stays silent, but the message is recorded.
    answers = await customer.say("我想问下贷款利率是多少")
    assert answers == []
    with Session(engine) as s:
        stored = s.scalars(select(Message.text).where(Message.conversation_id == conv.id, Message.author == "customer"))
        assert "我想问下贷款利率是多少" in list(stored)
    events = await tracker_events(http, stack, sender_id)
    names = [e["event"] for e in events]
    assert "pause" in names
    user_texts = [e.get("text") for e in events[names.index("pause") :] if e["event"] == "user"]
    assert "我想问下贷款利率是多少" in user_texts
    assert any(e["event"] == "bot" and e.get("text") == "您好，我帮您查一下，请稍等。" for e in events)

    # Hand back: the tracker resumes and the bot asks for the rating; the customer answers 5.
    await console.act(conv.id, "handback")
    question = await customer.wait_for("满意吗")
    assert question["author"] == "bot" and len(question["buttons"]) == 5
    events = await tracker_events(http, stack, sender_id)
    assert [e["event"] for e in events].count("resume") >= 1
    thanks = await customer.say("5")
    assert any("谢谢您的评价" in m["text"] for m in thanks), thanks
    with Session(engine) as s:
        rating = s.scalar(select(ServiceRating).where(ServiceRating.conversation_id == conv.id))
        assert rating is not None and rating.score == 5 and rating.rm_id is not None

    # Everything the RM sent reached the web chat exactly once, over the WebSocket.
    rm_texts = [m["text"] for m in customer.pushed if m["author"] == "rm"]
    assert rm_texts.count("您好，我帮您查一下，请稍等。") == 1
    assert len({m["id"] for m in customer.pushed}) == len(customer.pushed)


async def test_a_retried_console_reply_is_sent_once(engine: Engine, console: Console, customer: WebCustomer) -> None:
    await customer.say("转人工")
    conv = conversation_of(engine, f"web:{customer.web_id}")
    await console.act(conv.id, "take")
    key = secrets.token_hex(8)
    first, second = await asyncio.gather(
        console.post(f"/console/api/conversations/{conv.id}/reply", {"text": "请稍等，马上好。", "key": key}),
        console.post(f"/console/api/conversations/{conv.id}/reply", {"text": "请稍等，马上好。", "key": key}),
    )
    assert first[0] == second[0] == 200 and first[1]["id"] == second[1]["id"]
    again = await console.act(conv.id, "reply", {"text": "请稍等，马上好。", "key": key})
    assert again["id"] == first[1]["id"]
    await customer.wait_for("马上好")
    await asyncio.sleep(1.5)  # a second copy would be pushed within a poll or two
    assert [m["text"] for m in customer.pushed].count("请稍等，马上好。") == 1
    await console.act(conv.id, "handback")


# --- WeChat ------------------------------------------------------------------------------------


class WeChatUser:
    """A WeChat user: signed XML posted to /wechat as WeChat does; the sandbox is told the user wrote
    (that opens its 48-hour customer-service window, as on WeChat's servers)."""

    def __init__(self, stack: Stack, http: aiohttp.ClientSession) -> None:
        self.stack = stack
        self.http = http
        self.settings = WeChatSettings.from_env(stack.env)
        self.openid = "oBkc9e2e" + secrets.token_hex(10)

    async def say(self, text: str) -> str | None:
        fields = build_user_message_for(self.openid, text)
        query, body = sign_request(self.settings, render_xml(fields), encrypt=False, original_id="gh_bankcare_demo")
        async with self.http.post(
            f"{self.stack.sandbox_url}/sandbox/control", json={"action": "touch_user", "openid": self.openid}
        ) as r:
            assert r.status == 200
        async with self.http.post(f"{self.stack.gateway_url}/wechat", params=query, data=body.encode()) as r:
            assert r.status == 200
            return read_reply(self.settings, await r.text())

    async def received(self) -> list[str]:
        """Customer-service texts the sandbox (WeChat) accepted for this user."""
        async with self.http.get(f"{self.stack.sandbox_url}/sandbox/messages") as r:
            data = await r.json()
        return [m.get("content", "") for m in data["received"] if m["touser"] == self.openid and m["kind"] == "custom"]

    async def wait_received(self, needle: str) -> list[str]:
        for _ in range(int(WAIT_S / 0.2)):
            got = await self.received()
            if any(needle in t for t in got):
                return got
            await asyncio.sleep(0.2)
        raise AssertionError(f"{needle!r} never reached the sandbox; got {await self.received()}")


def build_user_message_for(openid: str, text: str) -> dict[str, str | int | float]:
    from gateway.wechat.sandbox import SandboxSettings

    return build_user_message(SandboxSettings(wechat=WeChatSettings.from_env({})), {"openid": openid, "content": text})


async def queue_wechat_customer(user: WeChatUser, console: Console, engine: Engine) -> int:
    reply = await user.say("转人工")
    assert reply is not None and POSITION.search(reply), reply
    conv = conversation_of(engine, f"wechat:{user.openid}")
    assert conv.state == ConversationState.QUEUED
    await console.act(conv.id, "take")
    await user.wait_received("很高兴为您服务")
    return conv.id


async def test_wechat_rm_reply_goes_through_the_customer_service_api(
    stack: Stack, engine: Engine, http: aiohttp.ClientSession, console: Console
) -> None:
    user = WeChatUser(stack, http)
    conv_id = await queue_wechat_customer(user, console, engine)
    sent = await console.act(conv_id, "reply", {"text": "您好，您的问题我已记下。", "key": secrets.token_hex(8)})
    assert (sent["delivery"], sent["delivery_label"]) == ("sent", "已送达")
    assert (await user.wait_received("您的问题我已记下")).count("您好，您的问题我已记下。") == 1
    shown = [m for m in await console.transcript(conv_id) if m["text"] == "您好，您的问题我已记下。"]
    assert [(m["author"], m["delivery_label"]) for m in shown] == [("rm", "已送达")]
    with Session(engine) as s:
        row = s.scalar(select(OutboundSend).where(OutboundSend.message_id == shown[0]["id"]))
        assert row is not None and (row.channel, row.route, row.status) == ("wechat", "custom", "sent")

    # While the RM has it, the customer's WeChat message is recorded and gets no bot answer.
    assert await user.say("好的谢谢") in (None, "")
    await console.act(conv_id, "handback")
    await user.wait_received("满意吗")


async def test_wechat_rm_reply_outside_48_hours_is_shown_as_not_delivered(
    stack: Stack, engine: Engine, http: aiohttp.ClientSession, console: Console
) -> None:
    user = WeChatUser(stack, http)
    conv_id = await queue_wechat_customer(user, console, engine)
    # The customer's last message was three days ago: WeChat no longer accepts customer-service messages.
    with Session(engine) as s, s.begin():
        s.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.channel == "wechat", ChannelIdentity.external_id == user.openid)
            .values(last_inbound_at=dt.datetime.now(dt.UTC) - dt.timedelta(days=3))
        )
    sent = await console.act(conv_id, "reply", {"text": "您好，还在吗？", "key": secrets.token_hex(8)})
    assert (sent["delivery"], sent["delivery_label"]) == ("outside_window", "超出48小时窗口，未送达")
    shown = [m for m in await console.transcript(conv_id) if m["text"] == "您好，还在吗？"]
    assert [m["delivery"] for m in shown] == ["outside_window"]
    await asyncio.sleep(0.5)
    assert "您好，还在吗？" not in await user.received()
    with Session(engine) as s:
        row = s.scalar(select(OutboundSend).where(OutboundSend.message_id == shown[0]["id"]))
        assert row is not None and (row.status, row.reason) == ("failed", "outside_48h_window")
    await console.act(conv_id, "close")
