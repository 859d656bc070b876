"""Dispatch through the real outbound path into the WeChat sandbox: concurrent sends, each once."""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from care.compliance import Policy
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from core.db import session_scope
from crm.models import ChannelIdentity, Delivery
from crm.models.base import utcnow
from crm.models.care import DeliveryStatus
from crm.models.wechat import WeChatSendAttempt
from gateway.wechat.sandbox import SANDBOX_STATE_KEY, SandboxSettings, SandboxState, create_sandbox_app
from gateway.wechat.settings import WeChatSettings
from outbound.sender import OutboundSender
from outbound.wechat_api import WeChatApiClient

from .test_dispatcher import NOON, enqueue

WX = WeChatSettings(token="t", app_id="wxbankcaretest01", app_secret="s", api_base="http://127.0.0.1:1")


@pytest.fixture
async def sandbox() -> AsyncIterator[tuple[str, SandboxState]]:
    app = create_sandbox_app(SandboxSettings(wechat=WX))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), app[SANDBOX_STATE_KEY]
    await server.close()


async def drain(factory: sessionmaker[Session], base: str, clock: dt.datetime) -> None:
    config = DispatchConfig(
        rate_per_second=0, batch_size=25, concurrency=20, policy=Policy(quiet_start=dt.time(0), quiet_end=dt.time(0))
    )
    wx = WeChatSettings(token=WX.token, app_id=WX.app_id, app_secret=WX.app_secret, api_base=base)
    async with aiohttp.ClientSession() as http:
        sender = OutboundSender(factory, WeChatApiClient(wx, factory, http, token_memory_s=30.0))
        dispatchers = [Dispatcher(factory, sender, config, clock=lambda: clock) for _ in range(2)]
        await asyncio.gather(*(d.drain() for d in dispatchers))


def statuses(factory: sessionmaker[Session]) -> dict[str, int]:
    with session_scope(factory) as s:
        rows = s.execute(select(Delivery.status, func.count()).group_by(Delivery.status)).all()
        return {status: count for status, count in rows}


async def test_concurrent_dispatch_sends_each_delivery_once_even_when_claimed_again(
    factory: sessionmaker[Session], sandbox: tuple[str, Any]
) -> None:
    base, state = sandbox
    keys = enqueue(factory, 80)
    with session_scope(factory) as s:
        s.execute(update(ChannelIdentity).values(last_inbound_at=utcnow() - dt.timedelta(hours=1)))
        openids = list(s.scalars(select(ChannelIdentity.external_id)))
    for openid in openids:  # the customers wrote an hour ago: WeChat's window is open too
        state.last_user_message[openid] = time.time() - 3600
    await drain(factory, base, NOON)
    assert statuses(factory) == {DeliveryStatus.SENT: len(keys)}
    assert sorted(m["touser"] for m in state.received) == sorted(openids)
    # A dispatcher killed after sending, before recording: the rows come back once the lease ends.
    with session_scope(factory) as s:
        s.execute(update(Delivery).values(status=DeliveryStatus.SENDING, lease_until=NOON, claim_token="dead"))
    await drain(factory, base, NOON + dt.timedelta(minutes=5))
    assert statuses(factory) == {DeliveryStatus.SENT: len(keys)}
    assert len(state.received) == len(keys)  # nothing reached anyone twice
    with session_scope(factory) as s:
        custom = s.scalar(select(func.count()).select_from(WeChatSendAttempt).where(WeChatSendAttempt.kind == "custom"))
    assert custom == len(keys)  # every attempt recorded, and there was one per message
    assert state.token_requests == 1
