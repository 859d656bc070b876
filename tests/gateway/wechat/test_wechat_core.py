"""``/wechat`` in front of the real conversation core, handoff and database (SQLite and PostgreSQL),
with a fake Rasa over HTTP.

The channel's dedupe claim, numbered choices and passive reply are written inside the core's two
transactions (``TurnHooks``); these tests pin what that must keep: one run per MsgId across
processes, everything recorded, nothing half-written, and no extra request to Rasa.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import Engine, event, func, select
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, make_sessionmaker
from core.metrics import get_metrics
from crm.models import Message
from crm.models.base import Base
from crm.models.wechat import WeChatChoice, WeChatInbound
from gateway.conversation import ANSWERED, FALLBACK, HANDOFF, RASA_UNAVAILABLE, ConversationService
from gateway.handoff.service import HandoffService
from gateway.handoff.settings import HandoffSettings
from gateway.rasa_client import RasaClient
from gateway.wechat import convert
from gateway.wechat.messages import parse_xml_fields, render_xml
from gateway.wechat.routes import setup_wechat
from gateway.wechat.settings import WeChatSettings

from .conftest import ORIGINAL_ID, signed_query, with_api_base

Client = TestClient[Any, Any]
OPENID = "oCoreTest0000000000000000001"


@dataclass
class FakeRasa:
    """Rasa's REST channel with canned answers; records every request it gets (any path)."""

    delay_s: float = 0.0
    down: bool = False
    requests: list[tuple[str, str]] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)

    def app(self) -> web.Application:
        async def any_request(request: web.Request) -> web.Response:
            self.requests.append((request.method, request.path))
            if request.path != "/webhooks/rest/webhook":
                return web.json_response({}, status=404)
            body = await request.json()
            text = body["message"]
            self.texts.append(text)
            if self.delay_s:
                await asyncio.sleep(self.delay_s)
            if self.down:
                return web.json_response({"error": "down"}, status=500)
            if text == "有啥理财":
                return web.json_response([{
                    "text": "请问您想了解哪类产品？",
                    "buttons": [{"title": "定期存款", "payload": "/ask_deposit_rate"},
                                {"title": "理财产品", "payload": "/ask_wealth_product"}],
                }])  # fmt: skip
            if text == "嗯嗯啊啊":
                return web.json_response([{"text": "抱歉，我没太听懂。"}, {"custom": {"fallback": True}}])
            if text == "转人工":
                return web.json_response([{"custom": {"handoff": {"reason": "request_human", "priority": 0}}}])
            return web.json_response([{"text": f"收到：{text}"}])

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", any_request)
        return app


@pytest.fixture
def factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    """The shared database, once on SQLite and once on PostgreSQL (two gateways share it)."""
    engine = make_engine(database_url)
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
async def rasa() -> AsyncIterator[tuple[FakeRasa, str]]:
    fake = FakeRasa()
    server = TestServer(fake.app())
    await server.start_server()
    yield fake, str(server.make_url("")).rstrip("/")
    await server.close()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def start(
    settings: WeChatSettings, factory: sessionmaker[Session], rasa_url: str, http: aiohttp.ClientSession
) -> Client:
    """One gateway process: the real core and handoff, as ``gateway.app.create_app`` wires them."""
    rasa = RasaClient(rasa_url, timeout_s=3.0, session=http)
    handoff = HandoffService(HandoffSettings(), factory, rasa)
    chat = ConversationService(factory, rasa, handoff=handoff)
    app = web.Application()
    setup_wechat(app, settings, chat, factory)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def gateway(
    settings: WeChatSettings, factory: sessionmaker[Session], rasa: tuple[FakeRasa, str], http: aiohttp.ClientSession
) -> AsyncIterator[Client]:
    client = await start(settings, factory, rasa[1], http)
    yield client
    await client.close()


def text_xml(content: str, msg_id: int, openid: str = OPENID) -> str:
    return render_xml({
        "ToUserName": ORIGINAL_ID, "FromUserName": openid, "CreateTime": 1733000000,
        "MsgType": "text", "Content": content, "MsgId": msg_id,
    })  # fmt: skip


async def say(client: Client, settings: WeChatSettings, content: str, msg_id: int, nonce: str | None = None) -> str:
    """POST one text message; the passive reply's text ("" for "success")."""
    resp = await client.post("/wechat", params=signed_query(settings, nonce=nonce), data=text_xml(content, msg_id))
    assert resp.status == 200
    body = await resp.text()
    return "" if body == "success" else parse_xml_fields(body.encode())["Content"]


def engine_of(factory: sessionmaker[Session]) -> Engine:
    bind = factory.kw["bind"]
    assert isinstance(bind, Engine)
    return bind


@contextmanager
def counting_commits(factory: sessionmaker[Session]) -> Iterator[list[int]]:
    commits: list[int] = []

    def on_commit(_conn: object) -> None:
        commits.append(1)

    engine = engine_of(factory)
    event.listen(engine, "commit", on_commit)
    try:
        yield commits
    finally:
        event.remove(engine, "commit", on_commit)


def stored(factory: sessionmaker[Session]) -> list[tuple[str, str]]:
    with factory() as s:
        return [(m.direction, m.text) for m in s.scalars(select(Message).order_by(Message.id))]


def inbound_rows(factory: sessionmaker[Session]) -> list[tuple[str, str | None]]:
    with factory() as s:
        return [(r.status, r.reply_text) for r in s.scalars(select(WeChatInbound).order_by(WeChatInbound.id))]


def counted(channel: str, kind: str) -> float:
    value = get_metrics().registry.get_sample_value("bankcare_messages_total", {"channel": channel, "intent": kind})
    return value or 0.0


# --- cost: two transactions, one Rasa request ----------------------------------------------------


async def test_text_message_costs_two_commits_and_one_rasa_request(
    gateway: Client, settings: WeChatSettings, factory: sessionmaker[Session], rasa: tuple[FakeRasa, str]
) -> None:
    assert await say(gateway, settings, "你好", 1001) == "收到：你好"  # creates identity and conversation
    rasa[0].requests.clear()
    before = counted("wechat", ANSWERED)
    with counting_commits(factory) as commits:
        assert await say(gateway, settings, "定期利率多少", 1002) == "收到：定期利率多少"
    # the (timestamp, nonce) record (#19; one Redis SET instead when REDIS_URL is set), then
    # claim + inbound message in one; replies + choices + passive reply in the other
    assert len(commits) == 3
    # Only the message itself reaches Rasa: no tracker read to label the metric.
    assert rasa[0].requests == [("POST", "/webhooks/rest/webhook")]
    assert counted("wechat", ANSWERED) == before + 1
    assert stored(factory)[-2:] == [("in", "定期利率多少"), ("out", "收到：定期利率多少")]
    assert inbound_rows(factory)[-1] == ("replied", "收到：定期利率多少")


async def test_messages_are_counted_by_what_became_of_them(
    gateway: Client, settings: WeChatSettings, rasa: tuple[FakeRasa, str]
) -> None:
    before = {kind: counted("wechat", kind) for kind in (ANSWERED, FALLBACK, HANDOFF, RASA_UNAVAILABLE)}
    await say(gateway, settings, "你好", 2001)
    await say(gateway, settings, "嗯嗯啊啊", 2002)
    rasa[0].down = True
    await say(gateway, settings, "查余额", 2003)
    rasa[0].down = False
    await say(gateway, settings, "转人工", 2004)
    after = {kind: counted("wechat", kind) for kind in before}
    assert {kind: after[kind] - before[kind] for kind in before} == {
        ANSWERED: 1,
        FALLBACK: 1,
        HANDOFF: 1,
        RASA_UNAVAILABLE: 1,
    }
    assert all(method == "POST" for method, _ in rasa[0].requests)


# --- dedupe with the real core --------------------------------------------------------------------


async def test_retries_across_two_processes_run_once_and_get_the_same_reply(
    settings: WeChatSettings, factory: sessionmaker[Session], rasa: tuple[FakeRasa, str], http: aiohttp.ClientSession
) -> None:
    rasa[0].delay_s = 0.3  # the retries arrive while the first attempt is still with the bot
    first, second = await start(settings, factory, rasa[1], http), await start(settings, factory, rasa[1], http)
    try:
        replies = await asyncio.gather(
            *(
                say(client, settings, "一年定期利率多少", 3001, nonce=str(i))
                for i, client in enumerate([first, second] * 3)
            )
        )
        again = await say(second, settings, "一年定期利率多少", 3001, nonce="late")
    finally:
        await first.close()
        await second.close()
    assert set(replies) | {again} == {"收到：一年定期利率多少"}
    assert rasa[0].texts == ["一年定期利率多少"]
    assert stored(factory) == [("in", "一年定期利率多少"), ("out", "收到：一年定期利率多少")]
    assert inbound_rows(factory) == [("replied", "收到：一年定期利率多少")]


async def test_numbered_choice_is_saved_with_the_reply_and_resolved_on_the_next_message(
    gateway: Client, settings: WeChatSettings, factory: sessionmaker[Session], rasa: tuple[FakeRasa, str]
) -> None:
    shown = await say(gateway, settings, "有啥理财", 4001)
    assert shown.endswith("回复 1：定期存款\n回复 2：理财产品")
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(WeChatChoice)) == 1
    assert await say(gateway, settings, "２", 4002) == "收到：/ask_wealth_product"
    assert rasa[0].texts[-1] == "/ask_wealth_product"
    # An answer without buttons forgets the choices: a later "1" is just text.
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(WeChatChoice)) == 0
    assert await say(gateway, settings, "1", 4003) == "收到：1"


# --- nothing half-written ------------------------------------------------------------------------


async def test_failed_inbound_transaction_leaves_no_claim_and_the_retry_is_processed(
    gateway: Client, settings: WeChatSettings, factory: sessionmaker[Session], rasa: tuple[FakeRasa, str]
) -> None:
    """The database fails while recording the message: the claim goes with it, so WeChat's retry
    is handled normally instead of being answered with nothing."""
    engine = engine_of(factory)
    failures: list[str] = []

    def fail_once(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith("INSERT INTO messages") and not failures:
            failures.append(statement)
            raise RuntimeError("disk I/O error (injected)")

    event.listen(engine, "before_cursor_execute", fail_once)
    try:
        first = await say(gateway, settings, "我的卡丢了", 5001)
    finally:
        event.remove(engine, "before_cursor_execute", fail_once)
    assert failures and first == convert.TEXT_BUSY
    assert stored(factory) == [] and inbound_rows(factory) == [] and rasa[0].texts == []

    assert await say(gateway, settings, "我的卡丢了", 5001, nonce="retry") == "收到：我的卡丢了"
    assert stored(factory) == [("in", "我的卡丢了"), ("out", "收到：我的卡丢了")]
    assert inbound_rows(factory) == [("replied", "收到：我的卡丢了")]


async def test_failed_reply_transaction_keeps_the_claim_and_records_no_reply(
    gateway: Client, settings: WeChatSettings, factory: sessionmaker[Session], rasa: tuple[FakeRasa, str]
) -> None:
    """The bot ran, then the database failed storing its answer: the customer gets the apology,
    the message stays claimed (the bot must not run again), and no half reply is stored."""
    engine = engine_of(factory)
    failures: list[str] = []

    def fail_reply(_conn: object, _cursor: object, statement: str, params: Any, *_args: object) -> None:
        if statement.startswith("UPDATE wechat_inbound") and not failures:
            failures.append(statement)
            raise RuntimeError("disk I/O error (injected)")

    event.listen(engine, "before_cursor_execute", fail_reply)
    try:
        first = await say(gateway, settings, "查余额", 6001)
    finally:
        event.remove(engine, "before_cursor_execute", fail_reply)
    assert failures and first == convert.TEXT_BUSY
    # The customer's message is kept; the bot's answer, rolled back with the failed transaction, is not.
    assert stored(factory) == [("in", "查余额")]
    assert inbound_rows(factory) == [("replied", convert.TEXT_BUSY)]
    assert await say(gateway, settings, "查余额", 6001, nonce="retry") == convert.TEXT_BUSY
    assert rasa[0].texts == ["查余额"]


async def test_failed_reply_commit_sends_the_apology_not_the_unstored_answer(
    gateway: Client, settings: WeChatSettings, factory: sessionmaker[Session], rasa: tuple[FakeRasa, str]
) -> None:
    """The reply transaction fails at COMMIT: what the customer is told must be what is stored."""
    assert await say(gateway, settings, "你好", 6101) == "收到：你好"
    engine = engine_of(factory)
    commits: list[int] = []

    def fail_second_commit(_conn: object) -> None:
        commits.append(1)
        # the (timestamp, nonce) record, the claim + inbound message, then the reply
        if len(commits) == 3:
            raise RuntimeError("database went away at commit (injected)")

    event.listen(engine, "commit", fail_second_commit)
    try:
        reply = await say(gateway, settings, "查余额", 6102)
    finally:
        event.remove(engine, "commit", fail_second_commit)
    assert len(commits) >= 3 and reply == convert.TEXT_BUSY
    assert stored(factory)[2:] == [("in", "查余额")]
    assert inbound_rows(factory)[1:] == [("replied", convert.TEXT_BUSY)]


# --- the deadline passes while the reply is being stored ------------------------------------------


def hold_statement(factory: sessionmaker[Session], prefix: str, until: float) -> Any:
    """Hold the next statement starting with ``prefix`` (on its worker thread) until ``time.monotonic()`` reaches ``until``."""
    held: list[str] = []

    def before(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.startswith(prefix) and not held:
            held.append(statement)
            time.sleep(max(0.0, until - time.monotonic()))

    event.listen(engine_of(factory), "before_cursor_execute", before)
    return before


async def test_deadline_during_the_reply_commit_still_gets_the_passive_reply(
    settings: WeChatSettings, factory: sessionmaker[Session], rasa: tuple[FakeRasa, str], http: aiohttp.ClientSession
) -> None:
    """The reply transaction has taken the passive slot when the deadline passes: the request
    waits for its commit instead of answering "success" (which would leave the reply undelivered)."""
    settings = dataclasses.replace(settings, reply_timeout_s=1.0)
    client = await start(settings, factory, rasa[1], http)
    try:
        assert await say(client, settings, "在吗", 7000) == "收到：在吗"  # identity, conversation, connections
        # The reply's UPDATE finishes 0.1 s after the deadline (within FINAL_COMMIT_WAIT_S).
        listener = hold_statement(factory, "UPDATE wechat_inbound", time.monotonic() + 1.1)
        try:
            assert await say(client, settings, "你好", 7001) == "收到：你好"
        finally:
            event.remove(engine_of(factory), "before_cursor_execute", listener)
    finally:
        await client.close()
    assert inbound_rows(factory)[1:] == [("replied", "收到：你好")]


async def test_deadline_before_the_reply_commit_hands_the_reply_to_the_api(
    sandbox: Client,
    settings: WeChatSettings,
    factory: sessionmaker[Session],
    rasa: tuple[FakeRasa, str],
    http: aiohttp.ClientSession,
) -> None:
    """The deadline passes before the reply transaction decides: "success" now, the API later, once."""
    settings = dataclasses.replace(with_api_base(settings, sandbox), reply_timeout_s=1.0)
    await sandbox.post("/sandbox/control", json={"action": "touch_user", "openid": OPENID})
    client = await start(settings, factory, rasa[1], http)
    try:
        assert await say(client, settings, "在吗", 7000) == "收到：在吗"
        # The reply transaction's first statement waits until after the deadline.
        listener = hold_statement(factory, "DELETE FROM wechat_choices", time.monotonic() + 1.1)
        try:
            assert await say(client, settings, "你好", 7002) == ""
            for _ in range(100):
                if inbound_rows(factory)[-1][0] == "delivered":
                    break
                await asyncio.sleep(0.05)
        finally:
            event.remove(engine_of(factory), "before_cursor_execute", listener)
    finally:
        await client.close()
    received = (await (await sandbox.get("/sandbox/messages")).json())["received"]
    assert [(m["touser"], m["content"]) for m in received] == [(OPENID, "收到：你好")]
    assert inbound_rows(factory)[1:] == [("delivered", None)]
