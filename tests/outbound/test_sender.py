"""The outbound sender: exactly once to the web chat; WeChat window, template fallback and crash safety."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select

from core.db import make_engine, make_sessionmaker
from crm.migrate import upgrade
from crm.models import Message, utcnow
from crm.models.outbound import OutboundSend, OutboundSendStatus
from gateway.wechat.sandbox import SandboxSettings, create_sandbox_app
from gateway.wechat.settings import WeChatSettings
from outbound.contract import DeliveryView, SendStatus
from outbound.sender import OutboundSender
from outbound.wechat_api import WeChatApiClient

OPENID = "oBkc9testopenid000000000001"


def delivery(key: str, channel: str, *, marketing: bool, last_inbound: dt.datetime | None, external: str) -> DeliveryView:
    return DeliveryView(
        delivery_id=1, idempotency_key=key, customer_id=1, campaign_code="c", campaign_kind="reminder",
        channel=channel, identity_id=None, external_id=external, last_inbound_at=last_inbound,
        is_marketing=marketing, text="张先生您好，您尾号1234的定期存款将于12月5日到期。", attempt=1,
    )


@pytest.fixture
def factory(tmp_path):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'o.db'}"
    upgrade(url)
    return make_sessionmaker(make_engine(url))


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[str, object]]:
    wx = WeChatSettings(token="t", app_id="wxbankcaretest01", app_secret="s", api_base="http://127.0.0.1:1")
    app = create_sandbox_app(SandboxSettings(wechat=wx))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), app
    await server.close()


def delivered_count(channel: str, status: str) -> float:
    from core.metrics import get_metrics

    value = get_metrics().registry.get_sample_value(
        "bankcare_deliveries_total", {"channel": channel, "status": status}
    )
    return value or 0.0


async def test_web_delivery_is_written_once(factory) -> None:  # type: ignore[no-untyped-def]
    sender = OutboundSender(factory, wechat=None)
    d = delivery("camp:1:2026-12-01", "web", marketing=True, last_inbound=None, external="demo-x")
    before = delivered_count("web", "sent")
    assert (await sender.send(d)).status == SendStatus.SENT
    assert (await sender.send(d)).status == SendStatus.SENT
    assert delivered_count("web", "sent") == before + 2  # attempts are counted; the message exists once
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Message).where(Message.author == "campaign")) == 1


async def test_wechat_inside_window_and_template_fallback(factory, sandbox) -> None:  # type: ignore[no-untyped-def]
    base, app = sandbox
    wx = WeChatSettings(token="t", app_id="wxbankcaretest01", app_secret="s", api_base=base)
    async with aiohttp.ClientSession() as http:
        sender = OutboundSender(factory, WeChatApiClient(wx, factory, http, backoff_s=0.01))
        # Outside the window a service notice goes as a template message ...
        out = await sender.send(delivery("k1", "wechat", marketing=False, last_inbound=None, external=OPENID))
        assert out.status == SendStatus.SENT
        # ... marketing does not go at all, and says why.
        out = await sender.send(delivery("k2", "wechat", marketing=True, last_inbound=None, external=OPENID))
        assert out.status == SendStatus.FAILED and out.reason == "outside_48h_window"
        # A repeated key is not sent again.
        assert (await sender.send(delivery("k1", "wechat", marketing=False, last_inbound=None,
                                           external=OPENID))).status == SendStatus.SENT
    from gateway.wechat.sandbox import SANDBOX_STATE_KEY

    received = app[SANDBOX_STATE_KEY].received  # type: ignore[index]
    assert len(received) == 1, received
    assert received[0]["touser"] == OPENID and received[0]["kind"] == "template"
    with factory() as s:
        rows = {r.idempotency_key: (r.status, r.route) for r in s.scalars(select(OutboundSend))}
    assert rows["k1"] == (OutboundSendStatus.SENT, "template")
    assert rows["k2"][0] == OutboundSendStatus.FAILED


async def test_key_left_in_flight_by_a_crash_is_not_resent(factory) -> None:  # type: ignore[no-untyped-def]
    with factory.begin() as s:
        s.add(OutboundSend(idempotency_key="k9", channel="wechat", status=OutboundSendStatus.SENDING, created_at=utcnow()))
    wx = WeChatSettings(token="t", app_id="wxbankcaretest01", app_secret="s", api_base="http://127.0.0.1:1")
    async with aiohttp.ClientSession() as http:
        sender = OutboundSender(factory, WeChatApiClient(wx, factory, http, max_attempts=1))
        out = await sender.send(delivery("k9", "wechat", marketing=False, last_inbound=utcnow(), external=OPENID))
    assert out.status == SendStatus.FAILED and out.reason == "ambiguous_after_crash"


async def test_conversation_messages_never_fall_back_to_a_template(factory, sandbox) -> None:  # type: ignore[no-untyped-def]
    from outbound.sender import OutboundMessage

    base, app = sandbox
    wx = WeChatSettings(token="t", app_id="wxbankcaretest01", app_secret="s", api_base=base)
    async with aiohttp.ClientSession() as http:
        sender = OutboundSender(factory, WeChatApiClient(wx, factory, http, backoff_s=0.01))
        rm_text = OutboundMessage("console:1:abc", "wechat", OPENID, None, "您好，我是张经理。", "conversation")
        out = await sender.send_message(rm_text)
    assert out.status == SendStatus.FAILED and out.reason == "outside_48h_window"
    from gateway.wechat.sandbox import SANDBOX_STATE_KEY

    assert app[SANDBOX_STATE_KEY].received == []  # type: ignore[index]


async def test_stored_web_message_is_marked_sent_not_written_again(factory) -> None:  # type: ignore[no-untyped-def]
    from crm.access.conversations import open_conversation, record_message
    from outbound.sender import OutboundMessage

    with factory.begin() as s:
        conv = open_conversation(s, "web", "demo-x")
        msg = record_message(s, conv, "out", "rm", "您好", delivery_status="pending")
        s.add(OutboundSend(idempotency_key=f"handoff:{msg.id}", channel="web", status=OutboundSendStatus.PENDING, message_id=msg.id))
        message_id = msg.id
    sender = OutboundSender(factory, wechat=None)
    m = OutboundMessage(f"handoff:{message_id}", "web", "demo-x", None, "您好", "conversation", message_id)
    assert (await sender.send_message(m)).status == SendStatus.SENT
    assert (await sender.send_message(m)).status == SendStatus.SENT
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(Message)) == 1
        row = s.scalar(select(OutboundSend).where(OutboundSend.message_id == message_id))
        assert row is not None and (row.status, row.route) == (OutboundSendStatus.SENT, "web")


async def test_concurrent_sends_deliver_each_key_once_and_record_every_attempt(factory, sandbox) -> None:  # type: ignore[no-untyped-def]
    import asyncio

    from crm.models.wechat import WeChatSendAttempt
    from gateway.wechat.sandbox import SANDBOX_STATE_KEY

    base, app = sandbox
    openids = [f"oBkc9concurrent{i:012d}" for i in range(60)]
    for openid in openids:
        app[SANDBOX_STATE_KEY].last_user_message[openid] = __import__("time").time()  # type: ignore[index]
    wx = WeChatSettings(token="t", app_id="wxbankcaretest01", app_secret="s", api_base=base)
    recent = utcnow() - dt.timedelta(hours=1)
    # Every key twice, at the same moment (two dispatchers racing, or a re-claim after a lease).
    views = [delivery(f"camp:{o}", "wechat", marketing=True, last_inbound=recent, external=o) for o in openids] * 2
    async with aiohttp.ClientSession() as http:
        sender = OutboundSender(factory, WeChatApiClient(wx, factory, http, token_memory_s=30.0))
        outcomes = await asyncio.gather(*(sender.send(v) for v in views))
        again = await asyncio.gather(*(sender.send(v) for v in views[:60]))
    received = app[SANDBOX_STATE_KEY].received  # type: ignore[index]
    assert sorted(m["touser"] for m in received) == sorted(openids)  # each once, none lost
    assert [o.status for o in outcomes].count(SendStatus.SENT) >= 60
    assert all(o.status == SendStatus.SENT or o.reason == "in_progress" for o in outcomes)
    assert all(o.status == SendStatus.SENT for o in again)  # decided: later tries see it sent
    with factory() as s:
        rows = s.execute(select(OutboundSend.status, func.count()).group_by(OutboundSend.status)).all()
        custom = s.scalar(select(func.count()).select_from(WeChatSendAttempt).where(WeChatSendAttempt.kind == "custom"))
    assert rows == [(OutboundSendStatus.SENT, 60)] and custom == 60
    assert app[SANDBOX_STATE_KEY].token_requests == 1  # type: ignore[index]


async def test_a_remembered_token_that_wechat_revoked_is_forgotten(factory, sandbox) -> None:  # type: ignore[no-untyped-def]
    from gateway.wechat.sandbox import SANDBOX_STATE_KEY

    base, app = sandbox
    state = app[SANDBOX_STATE_KEY]  # type: ignore[index]
    wx = WeChatSettings(token="t", app_id="wxbankcaretest01", app_secret="s", api_base=base)
    async with aiohttp.ClientSession() as http:
        sender = OutboundSender(factory, WeChatApiClient(wx, factory, http, token_memory_s=30.0))
        first = delivery("svc:1", "wechat", marketing=False, last_inbound=None, external=OPENID)
        assert (await sender.send(first)).status == SendStatus.SENT
        state.tokens.clear()  # WeChat revoked the token (another process fetched a new one)
        second = delivery("svc:2", "wechat", marketing=False, last_inbound=None, external=OPENID)
        assert (await sender.send(second)).status == SendStatus.SENT
    assert state.token_requests == 2 and len(state.received) == 2
