"""Handoff messages go out through the outbound sender: WeChat's 48-hour window and quota, one send
per console request key, and the delivery state stored on the message (real WeChat sandbox app)."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from crm.models import ChannelIdentity, Conversation, Message, utcnow
from crm.models.outbound import OutboundSend
from gateway.chat_types import InboundMessage
from gateway.conversation import ConversationService
from gateway.handoff.machine import Effects
from gateway.handoff.service import HandoffService
from gateway.rasa_client import RasaClient
from gateway.wechat.sandbox import SANDBOX_STATE_KEY, SandboxSettings, create_sandbox_app
from gateway.wechat.settings import WeChatSettings
from outbound.sender import OutboundSender
from outbound.wechat_api import WeChatApiClient
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    FakeRasa,
    db_url,
    factory,
    fake_rasa,
    handoff_settings,
    rm_by_login,
    template_db,
)

OPENID = "oBkc9handoffdelivery0000001"
WX = WeChatSettings(token="t", app_id="wxbankcaretest01", app_secret="s", api_base="http://127.0.0.1:1")


@dataclass
class WeChatRig:
    chat: ConversationService
    handoff: HandoffService
    factory: sessionmaker[Session]
    sandbox: web.Application
    http: aiohttp.ClientSession
    sandbox_url: str

    async def customer_says(self, text: str) -> None:
        # WeChat's servers see the user write (the window opens) and call the gateway.
        async with self.http.post(
            f"{self.sandbox_url}/sandbox/control", json={"action": "touch_user", "openid": OPENID}
        ) as resp:
            assert resp.status == 200
        await self.chat.handle_message(InboundMessage("wechat", OPENID, text))

    def received(self) -> list[str]:
        state = self.sandbox[SANDBOX_STATE_KEY]
        return [r.get("content", "") for r in state.received if r["touser"] == OPENID]

    def conv_id(self) -> int:
        with self.factory() as s:
            conv = s.scalar(select(Conversation).where(Conversation.sender_id == f"wechat:{OPENID}"))
            assert conv is not None
            return conv.id

    async def rm(self, login: str, what: str, *args: Any, **kwargs: Any) -> Any:
        conv_id, rm = self.conv_id(), rm_by_login(self.factory, login)

        def work(s: Session, fx: Effects) -> Any:
            conv = s.get(Conversation, conv_id)
            out = getattr(self.handoff.machine, what)(s, conv, s.merge(rm), *args, fx=fx, **kwargs)
            return out.id if isinstance(out, Message) else out

        return await self.handoff.run(work)

    def message(self, message_id: int) -> tuple[str, str]:
        with self.factory() as s:
            msg = s.get(Message, message_id)
            assert msg is not None
            return msg.text, msg.delivery_status

    def send_row(self, message_id: int) -> tuple[str, str, str | None]:
        with self.factory() as s:
            row = s.scalar(select(OutboundSend).where(OutboundSend.message_id == message_id))
            assert row is not None
            return row.route, row.status, row.reason


async def make_rig(factory: sessionmaker[Session], rasa_url: str, sandbox: SandboxSettings) -> AsyncIterator[WeChatRig]:
    app = create_sandbox_app(sandbox)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    base = str(server.make_url("")).rstrip("/")
    try:
        async with aiohttp.ClientSession() as http:
            wechat = WeChatApiClient(
                WeChatSettings(token="t", app_id=WX.app_id, app_secret="s", api_base=base), factory, http,
                max_attempts=1,
            )  # fmt: skip
            rasa = RasaClient(rasa_url, timeout_s=5, session=http)
            service = HandoffService(handoff_settings(), factory, rasa, OutboundSender(factory, wechat))
            chat = ConversationService(factory, rasa, handoff=service)
            yield WeChatRig(chat, service, factory, app, http, base)
    finally:
        await server.close()


@pytest.fixture
async def rig(factory: sessionmaker[Session], fake_rasa: tuple[FakeRasa, str]) -> AsyncIterator[WeChatRig]:
    async for made in make_rig(factory, fake_rasa[1], SandboxSettings(wechat=WX)):
        yield made


async def taken(rig: WeChatRig) -> None:
    await rig.customer_says("我要人工")
    assert await rig.rm("rm001", "take") is True
    assert any("很高兴为您服务" in t for t in rig.received())  # the greeting went as a custom message


async def test_rm_reply_inside_the_window_is_sent_once_per_request_key(rig: WeChatRig) -> None:
    await taken(rig)
    first = await rig.rm("rm001", "rm_reply", "您好，我帮您查一下。", request_key="k-0001-abcd")
    again = await rig.rm("rm001", "rm_reply", "您好，我帮您查一下。", request_key="k-0001-abcd")
    assert first == again
    assert rig.received().count("您好，我帮您查一下。") == 1
    assert rig.message(first) == ("您好，我帮您查一下。", "sent")
    assert rig.send_row(first) == ("custom", "sent", None)
    with rig.factory() as s:
        texts = s.scalars(select(Message.text).where(Message.author == "rm")).all()
    assert texts.count("您好，我帮您查一下。") == 1
    # A new request (another key, or none) is a new message.
    other = await rig.rm("rm001", "rm_reply", "您好，我帮您查一下。")
    assert other != first and rig.received().count("您好，我帮您查一下。") == 2


async def test_outside_48_hours_nothing_is_sent_and_no_template_either(rig: WeChatRig) -> None:
    await taken(rig)
    before = len(rig.sandbox[SANDBOX_STATE_KEY].received)
    with rig.factory.begin() as s:
        s.execute(
            update(ChannelIdentity)
            .where(ChannelIdentity.external_id == OPENID)
            .values(last_inbound_at=utcnow() - dt.timedelta(hours=49))
        )
    msg = await rig.rm("rm001", "rm_reply", "您好，还在吗？")
    assert rig.message(msg) == ("您好，还在吗？", "outside_window")
    assert rig.send_row(msg) == ("custom", "failed", "outside_48h_window")
    assert len(rig.sandbox[SANDBOX_STATE_KEY].received) == before  # an RM's text is no service notice


async def test_wechat_refusing_after_five_messages_is_shown_as_outside_the_window(rig: WeChatRig) -> None:
    await taken(rig)  # the greeting is message 1 of the window
    ids = [await rig.rm("rm001", "rm_reply", f"第{n}条") for n in range(2, 7)]
    assert [rig.message(i)[1] for i in ids] == ["sent"] * 4 + ["outside_window"]
    await rig.customer_says("好的")  # the customer writes: a new window
    assert rig.message(await rig.rm("rm001", "rm_reply", "收到"))[1] == "sent"


async def test_daily_quota_is_shown_as_quota(factory: sessionmaker[Session], fake_rasa: tuple[FakeRasa, str]) -> None:
    async for rig in make_rig(factory, fake_rasa[1], SandboxSettings(wechat=WX, daily_quota=1)):
        await taken(rig)  # uses the day's only custom message
        msg = await rig.rm("rm001", "rm_reply", "您好")
        assert rig.message(msg) == ("您好", "quota")
        assert rig.send_row(msg)[1:] == ("retry", "quota_exceeded")


async def test_without_a_wechat_client_the_message_is_marked_failed(
    factory: sessionmaker[Session], fake_rasa: tuple[FakeRasa, str]
) -> None:
    async with aiohttp.ClientSession() as http:
        rasa = RasaClient(fake_rasa[1], timeout_s=5, session=http)
        service = HandoffService(handoff_settings(), factory, rasa)  # default sender: web chat only
        chat = ConversationService(factory, rasa, handoff=service)
        await chat.handle_message(InboundMessage("wechat", OPENID, "我要人工"))
        with factory() as s:
            conv_id = s.scalar(select(Conversation.id).where(Conversation.sender_id == f"wechat:{OPENID}"))
        rm = rm_by_login(factory, "rm001")

        def take(s: Session, fx: Effects) -> bool:
            return service.machine.take(s, s.get(Conversation, conv_id), s.merge(rm), fx)  # type: ignore[arg-type]

        assert await service.run(take) is True
    with factory() as s:
        greeting = s.scalar(select(Message).where(Message.conversation_id == conv_id, Message.author == "rm"))
        assert greeting is not None and greeting.delivery_status == "failed"


@pytest.fixture
async def lost_answer_wechat() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    """A WeChat stand-in that takes every customer-service message but answers with a proxy's HTML page,
    so the sender cannot know whether it went out (the API client calls that ``ambiguous``)."""
    got: list[dict[str, Any]] = []

    async def token(_request: web.Request) -> web.Response:
        return web.json_response({"access_token": "tok-lost-answer", "expires_in": 7200})

    async def custom(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.Response(text="<html>502 网关</html>", content_type="text/html")

    app = web.Application()
    app.router.add_get("/cgi-bin/token", token)
    app.router.add_post("/cgi-bin/message/custom/send", custom)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), got
    await server.close()


async def test_a_send_that_may_have_arrived_is_shown_as_unknown_and_never_repeated(
    factory: sessionmaker[Session],
    fake_rasa: tuple[FakeRasa, str],
    lost_answer_wechat: tuple[str, list[dict[str, Any]]],
) -> None:
    base, got = lost_answer_wechat
    async with aiohttp.ClientSession() as http:
        wx = WeChatSettings(token="t", app_id=WX.app_id, app_secret="s", api_base=base)
        sender = OutboundSender(factory, WeChatApiClient(wx, factory, http, backoff_s=0.01))
        rasa = RasaClient(fake_rasa[1], timeout_s=5, session=http)
        service = HandoffService(handoff_settings(), factory, rasa, sender)
        chat = ConversationService(factory, rasa, handoff=service)
        await chat.handle_message(InboundMessage("wechat", OPENID, "我要人工"))
        with factory() as s:
            conv_id = s.scalar(select(Conversation.id).where(Conversation.sender_id == f"wechat:{OPENID}"))
        rm = rm_by_login(factory, "rm001")

        def take(s: Session, fx: Effects) -> bool:
            return service.machine.take(s, s.get(Conversation, conv_id), s.merge(rm), fx)  # type: ignore[arg-type]

        assert await service.run(take) is True
        with factory() as s:
            greeting = s.scalar(select(Message).where(Message.conversation_id == conv_id, Message.author == "rm"))
            assert greeting is not None
            row = s.scalar(select(OutboundSend).where(OutboundSend.message_id == greeting.id))
            assert row is not None
        assert greeting.delivery_status == "unknown" and len(got) == 1
        assert (row.status, row.reason) == ("failed", "ambiguous")
        # Delivering the same message again (a retry, a second gateway) does not call WeChat again.
        await service.apply(Effects(push=[greeting.id]))
        assert len(got) == 1
        with factory() as s:
            assert s.get(Message, greeting.id).delivery_status == "unknown"  # type: ignore[union-attr]


async def test_a_message_stored_but_never_sent_is_sent_once_by_the_sweeper(rig: WeChatRig) -> None:
    await taken(rig)
    conv_id, rm = rig.conv_id(), rm_by_login(rig.factory, "rm001")

    def reply_then_stop(s: Session) -> int:
        # The RM's reply is committed, then the gateway stops before the send (effects never run).
        conv = s.get(Conversation, conv_id)
        msg = rig.handoff.machine.rm_reply(s, conv, s.merge(rm), "您好，我在。", Effects())  # type: ignore[arg-type]
        assert msg is not None
        return msg.id

    with rig.factory.begin() as s:
        msg_id = reply_then_stop(s)
    assert rig.message(msg_id)[1] == "pending"
    early = await rig.handoff.sweep_once()
    assert early.resent == 0  # the request that stored it may still be sending it
    later = utcnow() + dt.timedelta(seconds=60)
    assert (await rig.handoff.sweep_once(later)).resent == 1
    assert rig.message(msg_id)[1] == "sent" and rig.received().count("您好，我在。") == 1
    assert (await rig.handoff.sweep_once(later)).resent == 0
    assert rig.received().count("您好，我在。") == 1
