"""Faults with real processes: Rasa hung or down, action server down, database connections killed,
WeChat API errors and timeouts, the same WeChat message delivered many times under load.

These tests stop, freeze and kill parts of the stack, so they run on stacks of their own (never the
session's shared ``stack``) and put back what they break before the next test.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from sqlalchemy import Engine, func, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

import crm.models  # noqa: F401 - every table on Base.metadata
from bench.loadgen.wechat import new_msg_id
from core.db import make_engine, make_sessionmaker
from crm import wechat_store as store
from crm.models import Conversation, Message, Ticket
from crm.models.base import Base
from crm.models.conversations import ConversationState
from devstack.stack import Stack, free_port, wait_http
from gateway.conversation import RASA_DOWN_REPLY
from gateway.wechat.settings import WeChatSettings
from outbound.wechat_api import SendResult, WeChatApiClient
from tests.conftest import drop_pg_database, new_pg_database
from tests.e2e.helpers import APOLOGY_MARK, open_window, player, received_by, seeded_stack, stored_in

pytestmark = pytest.mark.e2e

BOUND_OPENID = "oBkc9zhangjianhua0000000001"  # demo customer 张先生, bound and verified on WeChat
# Tables the conversation itself writes (the message is kept); everything else is a business effect.
BOOKKEEPING = {
    "messages",
    "conversations",
    "channel_identities",
    "wechat_inbound",
    "wechat_choices",
    "wechat_send_attempts",
    "wechat_replay",  # each callback's (timestamp, nonce), remembered against replays
    "wechat_access_tokens",
    "conversation_transitions",
    "handoff_states",
    "alembic_version",
}


@pytest.fixture(scope="module")
def fault_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A stack (SQLite) these tests may break; each test restores what it stops."""
    workdir = tmp_path_factory.mktemp("faults")
    running = seeded_stack(workdir, f"sqlite:///{workdir / 'bankcare.db'}")
    yield running
    running.stop_all()


@pytest.fixture(scope="module")
def engine(fault_stack: Stack) -> Iterator[Engine]:
    eng = make_engine(fault_stack.database_url)
    yield eng
    eng.dispose()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def inbound_texts(engine: Engine, openid: str) -> list[str]:
    """The customer's stored messages on WeChat, oldest first."""
    return stored_in(engine, "wechat", openid)


def business_counts(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        tables = [t for t in inspect(conn).get_table_names() if t not in BOOKKEEPING]
        return {t: conn.execute(text(f'SELECT count(*) FROM "{t}"')).scalar_one() for t in tables}


def restart(stack: Stack, name: str, cmd: list[str], ready_url: str, timeout_s: float) -> None:
    """Start a stopped service again with its old command (same port) and wait until it answers."""
    service = stack.start(name, cmd)
    wait_http(ready_url, timeout_s, service.proc)


# --- Rasa hung (slow) and Rasa down ----------------------------------------------------------


async def test_hung_rasa_apology_is_the_passive_reply_and_leaving_a_message_works(
    fault_stack: Stack, engine: Engine, http: aiohttp.ClientSession
) -> None:
    """SIGSTOP freezes Rasa: connections are accepted and never answered (the worst kind of slow).

    The apology must be the passive reply itself (not ``success`` and a late API message): that is
    what "within WeChat's 5 s" means without measuring time here.
    """
    wechat, openid = player(fault_stack), f"oFaultHung{uuid.uuid4().hex[:12]}"
    await open_window(http, fault_stack.sandbox_url, openid)  # the sandbox cannot see messages to the gateway
    rasa = fault_stack.services["rasa"].proc
    os.kill(rasa.pid, signal.SIGSTOP)
    try:
        first = await wechat.say(http, fault_stack.gateway_url, openid, "我的卡找不到了，怎么办？")
        choose = await wechat.say(http, fault_stack.gateway_url, openid, "2")  # 给客户经理留言
        left = await wechat.say(http, fault_stack.gateway_url, openid, "请客户经理明天上午给我回电话")
    finally:
        os.kill(rasa.pid, signal.SIGCONT)
    wait_http(f"{fault_stack.rasa_url}/status?token={fault_stack.env['RASA_TOKEN']}", 120, rasa)
    assert first.status == 200 and first.text is not None, first.raw
    assert APOLOGY_MARK in first.text and "回复 1：转人工客服" in first.text and "回复 2：给客户经理留言" in first.text
    assert choose.text and APOLOGY_MARK not in choose.text
    assert left.text and "LY" in left.text  # the message's reference number
    assert inbound_texts(engine, openid) == [
        "我的卡找不到了，怎么办？",
        "给客户经理留言",  # the numbered choice is stored as the customer read it, not as its payload
        "请客户经理明天上午给我回电话",
    ]
    with Session(engine) as s:
        assert (
            s.scalar(select(func.count()).select_from(Ticket).where(Ticket.content == "请客户经理明天上午给我回电话"))
            == 1
        )
    # Rasa handled the first message once it thawed: its answer reaches the customer through the
    # customer-service API, not lost after the holding reply.
    for _ in range(90):
        if await received_by(http, fault_stack.sandbox_url, openid):
            break
        await asyncio.sleep(1)
    late = await received_by(http, fault_stack.sandbox_url, openid)
    assert len(late) >= 1 and all(APOLOGY_MARK not in t for t in late), late


async def test_rasa_down_apology_and_human_handoff_still_possible(
    fault_stack: Stack, engine: Engine, http: aiohttp.ClientSession
) -> None:
    """A second real gateway on the same database whose Rasa is not running at all."""
    port = free_port()
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    gw = fault_stack.start(
        "gateway-norasa", [sys.executable, "-m", "gateway"], {"GATEWAY_PORT": str(port), "RASA_URL": dead}
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_http(f"{url}/healthz", 60, gw.proc)
        wechat, openid = player(fault_stack), f"oFaultDown{uuid.uuid4().hex[:12]}"
        first = await wechat.say(http, url, openid, "贷款利率是多少？")
        human = await wechat.say(http, url, openid, "1")  # 转人工客服
    finally:
        fault_stack.stop("gateway-norasa")
    assert first.status == 200 and first.text and first.text.startswith(RASA_DOWN_REPLY.text)
    assert human.status == 200 and human.text and not human.text.startswith(RASA_DOWN_REPLY.text)
    assert inbound_texts(engine, openid) == ["贷款利率是多少？", "转人工客服"]
    with Session(engine) as s:
        conv = s.scalar(select(Conversation).where(Conversation.sender_id.contains(openid)))
        assert conv is not None and conv.state == ConversationState.QUEUED


# --- action server down -------------------------------------------------------------------------


async def test_action_server_down_polite_answer_and_no_side_effect(
    fault_stack: Stack, engine: Engine, http: aiohttp.ClientSession
) -> None:
    wechat = player(fault_stack)
    openid = BOUND_OPENID
    actions = fault_stack.services["actions"]
    cmd = list(actions.proc.args)  # type: ignore[arg-type]
    before = business_counts(engine)
    fault_stack.stop("actions")
    try:
        turns = ["我的卡丢了，帮我挂失", "是的，确认挂失", "查一下我的余额", "查下上个月的流水"]
        replies = [await wechat.say(http, fault_stack.gateway_url, openid, t) for t in turns]
    finally:
        restart(fault_stack, "actions", cmd, fault_stack.actions_url.replace("/webhook", "/health"), 90)
    for turn, reply in zip(turns, replies, strict=True):
        assert reply.status == 200, turn
        assert reply.text, f"no answer to {turn!r}: {reply.raw}"
    assert business_counts(engine) == before  # nothing half-done: no loss report, ticket or audit row
    assert inbound_texts(engine, openid)[-len(turns) :] == turns
    # The action server is back: the bot answers normally again without restarting anything else.
    after = await wechat.say(http, fault_stack.gateway_url, f"oFaultBack{uuid.uuid4().hex[:10]}", "你好")
    assert after.text and APOLOGY_MARK not in after.text


# --- the same WeChat message delivered concurrently, under load ------------------------------------


async def rasa_user_events(
    http: aiohttp.ClientSession, rasa_url: str, sender: str, text_: str, token: str = ""
) -> int:
    async with http.get(f"{rasa_url}/conversations/{sender}/tracker", params={"token": token}) as resp:
        tracker: dict[str, Any] = await resp.json()
    return sum(1 for e in tracker.get("events", []) if e.get("event") == "user" and e.get("text") == text_)


async def test_same_message_delivered_concurrently_under_load_runs_once(
    fault_stack: Stack, engine: Engine, http: aiohttp.ClientSession
) -> None:
    wechat = player(fault_stack)
    run = uuid.uuid4().hex[:8]
    openid, content, msg_id = f"oFaultDup{run}", "一年定期存款利率是多少", new_msg_id()
    xml = wechat.text_xml(openid, content, msg_id)
    # Open the 48-hour window: a reply that misses the passive slot goes out through the API.
    await open_window(http, fault_stack.sandbox_url, openid)

    async def background(i: int) -> int:
        answered = 0
        for turn in ("你好", "最近的网点在哪", "手机银行密码忘了咋办"):
            reply = await wechat.say(http, fault_stack.gateway_url, f"oFaultLoad{run}{i:03d}", turn)
            answered += reply.status == 200
        return answered

    async def retry(i: int) -> tuple[int, str | None]:
        await asyncio.sleep(0.05 * (i % 3))  # WeChat's retries overlap the first attempt
        query, body = wechat.sign(xml, encrypt=bool(i % 2))
        reply = await wechat.post(http, fault_stack.gateway_url, query, body)
        return reply.status, reply.text

    results = await asyncio.gather(*(background(i) for i in range(12)), *(retry(i) for i in range(8)))
    load, dupes = results[:12], results[12:]
    assert sum(load) == 36  # type: ignore[arg-type]
    assert {status for status, _ in dupes} == {200}  # type: ignore[misc]
    texts_ = {t for _, t in dupes if t is not None}  # type: ignore[misc]
    # Every attempt got the first attempt's reply or "success"; if all said "success" (slow bot),
    # the one reply went out through the customer-service API instead. Exactly one either way.
    late = await received_by(http, fault_stack.sandbox_url, openid)
    assert len(texts_) + len(late) == 1, (texts_, late)
    reply_text = next(iter(texts_)) if texts_ else late[0]
    assert inbound_texts(engine, openid) == [content]
    with Session(engine) as s:
        conv = s.scalar(select(Conversation).where(Conversation.sender_id.contains(openid)))
        assert conv is not None
        outs = s.scalars(
            select(Message.text).where(Message.conversation_id == conv.id, Message.direction == "out")
        ).all()
        sender = conv.sender_id
    assert outs and outs[0].strip() in reply_text
    assert await rasa_user_events(http, fault_stack.rasa_url, sender, content, fault_stack.env["RASA_TOKEN"]) == 1


# --- WeChat API errors and timeouts on outbound sends -----------------------------------------------


class FaultyWeChat:
    """A proxy in front of the sandbox that fails the first ``failures`` customer-service sends.

    ``http500``: a proxy answers 502; ``busy``: WeChat answers errcode -1; ``refused``: nothing
    listens yet (the test starts the proxy only after the client's second backoff); ``hang_before``:
    the proxy reads the request and never forwards it; ``hang_after``: WeChat gets the message and
    the answer is lost. The two hangs look the same to a client (no answer after the request went
    out), so it cannot know whether the customer has the message: neither may be retried.
    """

    def __init__(self, upstream: str, mode: str, failures: int) -> None:
        self.upstream, self.mode, self.failures = upstream, mode, failures
        self.sends = 0

    def app(self) -> web.Application:
        async def proxy(request: web.Request) -> web.StreamResponse:
            body = await request.read()
            is_send = request.path.endswith("/message/custom/send")
            failing = is_send and self.sends < self.failures
            self.sends += is_send
            if failing and self.mode == "http500":
                return web.Response(status=502, text="bad gateway")
            if failing and self.mode == "busy":
                return web.json_response({"errcode": -1, "errmsg": "system error"})
            if failing and self.mode == "hang_before":
                await asyncio.sleep(3)  # beyond the client's timeout; WeChat never saw the message
                return web.json_response({"errcode": -1, "errmsg": "too late"})
            async with (
                aiohttp.ClientSession() as up,
                up.request(
                    request.method,
                    self.upstream + request.path_qs,
                    data=body,
                    headers={"Content-Type": request.content_type},
                ) as resp,
            ):
                payload = await resp.read()
            if failing and self.mode == "hang_after":
                await asyncio.sleep(3)  # WeChat got it, the answer is lost in the network
            return web.Response(body=payload, status=resp.status, content_type="application/json")

        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", proxy)
        return app


@dataclass
class Sent:
    """One logical send through ``FaultyWeChat``: the result, the backoff asked for, what arrived."""

    result: SendResult
    delays: list[float]
    received: list[str]
    attempts: list[str]  # outcomes logged in wechat_send_attempts


async def send_through_fault(stack: Stack, http: aiohttp.ClientSession, tmp_path: Path, mode: str, text_: str) -> Sent:
    proxy = FaultyWeChat(stack.sandbox_url, mode, failures=2)
    runner = web.AppRunner(proxy.app())
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    if mode != "refused":
        await site.start()
    db = make_engine(f"sqlite:///{tmp_path / 'sender.db'}")
    Base.metadata.create_all(db)
    factory: sessionmaker[Session] = make_sessionmaker(db)
    delays: list[float] = []

    async def sleep(seconds: float) -> None:
        delays.append(seconds)  # the backoff asked for; slept briefly so the test stays quick
        if mode == "refused" and len(delays) == proxy.failures:
            await site.start()  # the API is reachable again
        await asyncio.sleep(0.01)

    settings = WeChatSettings.from_env(stack.env)
    openid = f"oFaultSend{uuid.uuid4().hex[:10]}"
    try:
        await open_window(http, stack.sandbox_url, openid)
        # The shared token comes straight from WeChat, so every call through the proxy is a send.
        await WeChatApiClient(settings, factory, http).get_access_token()
        faulty = dataclasses.replace(settings, api_base=f"http://127.0.0.1:{port}")
        client = WeChatApiClient(faulty, factory, http, backoff_s=0.5, request_timeout_s=1.0, sleep=sleep)
        result = await client.send_text(openid, text_)
        received = await received_by(http, stack.sandbox_url, openid)
        with factory() as s:
            attempts = [a.outcome for a in store.list_attempts(s, result.send_id)]
    finally:
        await runner.cleanup()
        db.dispose()
    return Sent(result, delays, received, attempts)


@pytest.mark.parametrize(
    ("mode", "logged"),
    [
        ("http500", "http_error"),
        ("busy", "api_error"),
        ("refused", "network_error"),
    ],
)
async def test_outbound_send_wechat_did_not_take_is_retried_with_backoff_and_sent_once(
    fault_stack: Stack, http: aiohttp.ClientSession, tmp_path: Path, mode: str, logged: str
) -> None:
    text_ = f"您的定期存款将于 5 天后到期（{mode}）"
    sent = await send_through_fault(fault_stack, http, tmp_path, mode, text_)
    assert sent.result.ok and sent.result.attempts == 3, sent.result
    assert sent.attempts == [logged, logged, "ok"]
    assert len(sent.delays) == 2 and sent.delays[1] > sent.delays[0]  # exponential backoff
    assert sent.received == [text_]  # delivered exactly once


@pytest.mark.parametrize(("mode", "wechat_got_it"), [("hang_before", False), ("hang_after", True)])
async def test_outbound_send_without_answer_is_not_retried_and_marked_ambiguous(
    fault_stack: Stack, http: aiohttp.ClientSession, tmp_path: Path, mode: str, wechat_got_it: bool
) -> None:
    """No answer after the request went out: the customer may have it, and a retry could send it twice
    (the customer-service API has no idempotency key). One attempt, recorded as ``ambiguous``."""
    text_ = f"您的贷款将于 3 天后还款（{mode}）"
    sent = await send_through_fault(fault_stack, http, tmp_path, mode, text_)
    assert (sent.result.status, sent.result.attempts) == ("ambiguous", 1), sent.result
    assert sent.attempts == ["ambiguous"] and sent.delays == []
    assert sent.received == ([text_] if wechat_got_it else [])  # never twice


# --- database connections killed under traffic (PostgreSQL) ---------------------------------------


@pytest.fixture(scope="module")
def pg_stack(pg_admin: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = new_pg_database(pg_admin)
    workdir = tmp_path_factory.mktemp("faults_pg")
    try:
        running = seeded_stack(workdir, url)
        try:
            yield running
        finally:
            running.stop_all()
    finally:
        drop_pg_database(pg_admin, url)


def terminate_backends(admin: Engine, url: str) -> int:
    """Kill every server process on OUR database only (a restart would hit other engineers)."""
    name = url.rsplit("/", 1)[1]
    with admin.connect() as conn:
        return len(
            conn.execute(
                text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = :db AND pid <> pg_backend_pid()"
                ),
                {"db": name},
            ).all()
        )


@pytest.mark.postgres
async def test_database_connections_killed_under_traffic_services_recover(
    pg_stack: Stack, pg_admin: Engine, http: aiohttp.ClientSession
) -> None:
    wechat = player(pg_stack)
    pids = {name: svc.proc.pid for name, svc in pg_stack.services.items()}
    run = uuid.uuid4().hex[:8]
    stop = asyncio.Event()
    outcomes: list[int] = []

    async def customer(i: int) -> None:
        n = 0
        while not stop.is_set():
            try:
                reply = await wechat.say(
                    http, pg_stack.gateway_url, f"oFaultPg{run}{i:02d}", ("你好", "有啥理财")[n % 2]
                )
                outcomes.append(reply.status)
            except (aiohttp.ClientError, TimeoutError):
                outcomes.append(0)
            n += 1

    async def killer() -> int:
        killed = 0
        for _ in range(3):
            await asyncio.sleep(1.5)
            killed += await asyncio.to_thread(terminate_backends, pg_admin, pg_stack.database_url)
        stop.set()
        return killed

    *_, killed = await asyncio.gather(*(customer(i) for i in range(6)), killer())
    assert killed > 0 and outcomes  # the fault really happened under traffic
    # Recovery: same processes (nobody restarted), readiness green, and every part answers again.
    assert {name: svc.proc.pid for name, svc in pg_stack.services.items()} == pids
    assert all(svc.proc.poll() is None for svc in pg_stack.services.values())
    async with http.get(f"{pg_stack.gateway_url}/readyz") as resp:
        assert resp.status == 200
    replies = [await wechat.say(http, pg_stack.gateway_url, f"oFaultPgAfter{run}", "你好") for _ in range(2)]
    assert all(r.status == 200 and r.text and APOLOGY_MARK not in r.text for r in replies)
    balance = await wechat.say(http, pg_stack.gateway_url, BOUND_OPENID, "查一下我的余额")  # actions → database
    assert balance.status == 200 and balance.text and "尾号" in balance.text
