"""The conversation core when Rasa misbehaves: down, slow, erroring or silent.

Every case must end in a polite reply that offers a way forward, with the customer's message
stored exactly as sent (it is kept, not lost).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import crm.models  # noqa: F401 - registers every table on Base.metadata
from core.db import make_engine, make_sessionmaker
from crm.models import Message
from crm.models.base import Base
from gateway.chat_types import InboundMessage
from gateway.conversation import NO_REPLY, RASA_DOWN_REPLY, RASA_SLOW_REPLY, ConversationService
from gateway.rasa_client import RasaClient


@dataclass
class MisbehavingRasa:
    """A REST channel whose behaviour the test chooses: ok, empty, error or slow."""

    mode: str = "ok"
    delay_s: float = 0.0
    calls: list[dict[str, Any]] = field(default_factory=list)

    def app(self) -> web.Application:
        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            self.calls.append(body)
            if self.mode == "slow":
                await asyncio.sleep(self.delay_s)
            if self.mode == "error":
                return web.json_response({"error": "action server down"}, status=500)
            if self.mode == "empty":
                return web.json_response([])
            if self.mode == "junk":
                return web.json_response({"not": "a list"})
            return web.json_response([{"recipient_id": body["sender"], "text": f"收到：{body['message']}"}])

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        return app


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'conv.db'}")
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
async def rasa() -> AsyncIterator[tuple[MisbehavingRasa, str]]:
    fake = MisbehavingRasa()
    server = TestServer(fake.app())
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


def dead_url() -> str:
    """A local port with nothing listening (connection refused, as when Rasa is down)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


async def talk(
    factory: sessionmaker[Session],
    url: str,
    text: str,
    channel: str = "web",
    *,
    timeout_s: float = 5.0,
    channel_timeouts_s: dict[str, float] | None = None,
) -> list[str]:
    async with aiohttp.ClientSession() as http:
        chat = ConversationService(
            factory, RasaClient(url, timeout_s=timeout_s, session=http), channel_timeouts_s=channel_timeouts_s
        )
        replies = await chat.handle_message(InboundMessage(channel, "user-1", text))
        await chat.drain(timeout_s=10)  # late answers still on their way (a slow Rasa)
    return [r.text for r in replies]


def stored(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as s:
        return [(m.direction, m.text) for m in s.scalars(select(Message).order_by(Message.id))]


async def test_rasa_down_apologises_and_keeps_the_message(factory: sessionmaker[Session]) -> None:
    replies = await talk(factory, dead_url(), "我的卡丢了，赶紧帮我挂失！")
    assert replies == [RASA_DOWN_REPLY.text]
    assert stored(factory) == [("in", "我的卡丢了，赶紧帮我挂失！"), ("out", RASA_DOWN_REPLY.text)]
    assert {b.payload for b in RASA_DOWN_REPLY.buttons} == {"/request_human", "/leave_message"}


@pytest.mark.parametrize("mode", ["error", "junk"])
async def test_rasa_error_apologises(
    factory: sessionmaker[Session], rasa: tuple[MisbehavingRasa, str], mode: str
) -> None:
    rasa[0].mode = mode
    assert await talk(factory, rasa[1], "查余额") == [RASA_DOWN_REPLY.text]
    assert stored(factory)[0] == ("in", "查余额")


async def test_silent_rasa_gets_a_polite_answer_instead_of_nothing(
    factory: sessionmaker[Session], rasa: tuple[MisbehavingRasa, str]
) -> None:
    """Rasa answers ``[]`` when a custom action fails (action server down)."""
    rasa[0].mode = "empty"
    assert await talk(factory, rasa[1], "查一下我的流水") == [NO_REPLY.text]
    assert stored(factory) == [("in", "查一下我的流水"), ("out", NO_REPLY.text)]


async def test_healthy_rasa_is_not_replaced(
    factory: sessionmaker[Session], rasa: tuple[MisbehavingRasa, str]
) -> None:
    assert await talk(factory, rasa[1], "你好") == ["收到：你好"]


async def test_wechat_gets_a_tighter_rasa_deadline_than_web(
    factory: sessionmaker[Session], rasa: tuple[MisbehavingRasa, str]
) -> None:
    """A slow Rasa: WeChat (must answer within 5 s) stops waiting at its own budget, the web waits longer."""
    rasa[0].mode, rasa[0].delay_s = "slow", 0.6
    budgets = {"wechat": 0.2}
    assert await talk(factory, rasa[1], "在吗", "wechat", channel_timeouts_s=budgets) == [RASA_SLOW_REPLY.text]
    assert await talk(factory, rasa[1], "在吗", "web", channel_timeouts_s=budgets) == ["收到：在吗"]


async def test_a_slow_answer_is_delivered_late_not_lost(
    factory: sessionmaker[Session], rasa: tuple[MisbehavingRasa, str]
) -> None:
    """Rasa acts on a message even after the customer was told to wait (it may freeze a card), so
    its answer must still reach the customer, once, after the holding reply."""
    rasa[0].mode, rasa[0].delay_s = "slow", 0.6
    replies = await talk(factory, rasa[1], "我的卡丢了", "wechat", channel_timeouts_s={"wechat": 0.2})
    assert replies == [RASA_SLOW_REPLY.text]
    assert stored(factory) == [("in", "我的卡丢了"), ("out", RASA_SLOW_REPLY.text), ("out", "收到：我的卡丢了")]
    assert len(rasa[0].calls) == 1  # waited for, never asked again


async def test_the_deadline_is_the_tighter_of_channel_and_client(
    factory: sessionmaker[Session], rasa: tuple[MisbehavingRasa, str]
) -> None:
    rasa[0].mode, rasa[0].delay_s = "slow", 0.6
    replies = await talk(
        factory, rasa[1], "在吗", "wechat", timeout_s=0.2, channel_timeouts_s={"wechat": 30.0}
    )
    assert replies == [RASA_SLOW_REPLY.text]


async def test_a_late_failure_leaves_the_holding_reply_alone(
    factory: sessionmaker[Session], rasa: tuple[MisbehavingRasa, str]
) -> None:
    rasa[0].mode, rasa[0].delay_s = "slow", 0.6

    async def fail_later(request: web.Request) -> web.Response:
        await asyncio.sleep(0.6)
        return web.json_response({"error": "boom"}, status=500)

    server = TestServer(_app_with(fail_later))
    await server.start_server()
    try:
        url = str(server.make_url("")).rstrip("/")
        assert await talk(factory, url, "在吗", "web", timeout_s=0.2) == [RASA_SLOW_REPLY.text]
    finally:
        await server.close()
    assert stored(factory) == [("in", "在吗"), ("out", RASA_SLOW_REPLY.text)]


def _app_with(handler: Any) -> web.Application:
    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", handler)
    return app


class RecordingHandoff:
    """Stands in for the handoff service: answers a handoff control, records what it was given."""

    def __init__(self) -> None:
        self.controls: list[dict[str, Any]] = []

    def may_intercept(self, *_args: object) -> bool:
        return False

    def intercept(self, *_args: object) -> None:
        return None

    def may_act_after_bot(self, _fallbacks: int, _text: str, controls: list[dict[str, Any]]) -> bool:
        return bool(controls)

    def after_bot(
        self, _s: object, _c: object, _text: str, controls: list[dict[str, Any]], _fx: object
    ) -> list[Any]:
        from gateway.chat_types import BotReply

        self.controls.extend(controls)
        return [BotReply("正在为您转接客户经理", author="system")] if controls else []


async def test_request_human_still_works_while_rasa_is_down(factory: sessionmaker[Session]) -> None:
    """The apology's "转人工客服" button must not lead to the same apology again."""
    handoff = RecordingHandoff()
    async with aiohttp.ClientSession() as http:
        chat = ConversationService(
            factory, RasaClient(dead_url(), timeout_s=5, session=http), handoff=handoff
        )  # type: ignore[arg-type]
        first = await chat.handle_message(InboundMessage("wechat", "user-1", "查余额"))
        second = await chat.handle_message(InboundMessage("wechat", "user-1", "/request_human"))
    assert [r.text for r in first] == [RASA_DOWN_REPLY.text]
    assert [r.text for r in second] == ["正在为您转接客户经理"]
    assert handoff.controls == [{"handoff": {"reason": "request_human", "priority": 0}}]
