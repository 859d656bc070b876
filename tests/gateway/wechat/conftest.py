"""Shared fixtures: settings, a temp SQLite database, a fake conversation core, live apps."""

from __future__ import annotations

import asyncio
import dataclasses
import secrets
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

import crm.models  # noqa: F401 - registers every table on Base.metadata
from core.db import make_engine, make_sessionmaker, session_scope
from crm.models.base import Base
from crm.models.wechat import WeChatAccessToken, WeChatChoice, WeChatInbound, WeChatReplay, WeChatSendAttempt
from gateway.chat_types import BotReply, Button, InboundMessage, TurnHooks
from gateway.wechat.crypto import MessageCrypto, make_signature
from gateway.wechat.messages import render_xml
from gateway.wechat.routes import setup_wechat
from gateway.wechat.sandbox import SandboxSettings, create_sandbox_app
from gateway.wechat.settings import WeChatSettings

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "wechat"
ORIGINAL_ID = "gh_bankcare_test"
OPENID = "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"
T = TypeVar("T")


def fixture_xml(name: str) -> str:
    return (FIXTURES / f"{name}.xml").read_text(encoding="utf-8")


@pytest.fixture
def settings() -> WeChatSettings:
    return WeChatSettings(
        token="test-token-2024",
        app_id="wxbankcaretest01",
        encoding_aes_key="abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        app_secret="test-secret",
        api_base="http://127.0.0.1:1",  # replaced by the sandbox URL where a test needs the API
        original_id=ORIGINAL_ID,
        # Production's deadline: a loaded CI machine must not turn a normal answer into "success";
        # tests of the deadline itself set a short one.
        reply_timeout_s=4.5,
        # Both plaintext and encrypted callbacks; safe and plain mode have their own tests.
        mode="compatible",
    )


@pytest.fixture
def factory(tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(f"sqlite:///{tmp_path / 'wechat.db'}")
    Base.metadata.create_all(engine)
    yield make_sessionmaker(engine)
    engine.dispose()


def table_counts(factory: sessionmaker[Session]) -> dict[str, int]:
    """Row counts of every WeChat table (rejected requests must leave them unchanged)."""
    with factory() as s:
        return {
            model.__tablename__: s.scalar(select(func.count()).select_from(model)) or 0
            for model in (WeChatInbound, WeChatAccessToken, WeChatSendAttempt, WeChatChoice, WeChatReplay)
        }


class FakeChat:
    """Records calls; answers "收到：<text>"; "选择" gets two buttons; optional delay.

    Runs the channel's ``TurnHooks`` in two transactions of its own, as the real core does, and
    counts a message only once ``begin`` has claimed it.
    """

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory
        self.messages: list[InboundMessage] = []
        self.subscribes: list[tuple[str, str, str | None]] = []
        self.unsubscribes: list[tuple[str, str]] = []
        self.delay_s = 0.0
        self.fail = False

    @property
    def calls(self) -> int:
        return len(self.messages) + len(self.subscribes) + len(self.unsubscribes)

    async def handle_message(self, message: InboundMessage, hooks: TurnHooks | None = None) -> list[BotReply]:
        if hooks is not None:
            message = await self._in_transaction(lambda s: hooks.begin(s, message))
        self.messages.append(message)
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        if self.fail:
            raise RuntimeError("core down")
        replies = [BotReply(f"收到：{message.text}")]
        if message.text == "选择":
            replies = [
                BotReply(
                    "请问您想办理哪项业务？", (Button("查询余额", "/check_balance"), Button("挂失", "/report_loss"))
                )
            ]
        if hooks is not None:
            await self._in_transaction(lambda s: hooks.finish(s, replies))
        return replies

    async def _in_transaction(self, work: Callable[[Session], T]) -> T:
        def run() -> T:
            with session_scope(self.factory) as session:
                return work(session)

        return await asyncio.to_thread(run)

    async def on_subscribe(self, channel: str, user_id: str, scene: str | None) -> list[BotReply]:
        self.subscribes.append((channel, user_id, scene))
        return [BotReply("欢迎关注！")]

    async def on_unsubscribe(self, channel: str, user_id: str) -> None:
        self.unsubscribes.append((channel, user_id))


@pytest.fixture
def chat(factory: sessionmaker[Session]) -> FakeChat:
    return FakeChat(factory)


def signed_query(
    settings: WeChatSettings, *, timestamp: int | None = None, nonce: str | None = None
) -> dict[str, str]:
    """A fresh callback query, as WeChat signs it (a new random nonce unless one is given)."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or str(secrets.randbelow(10**9))
    return {"timestamp": ts, "nonce": nonce, "signature": make_signature(settings.token, ts, nonce)}


def encrypt_request(
    settings: WeChatSettings, xml: str, *, app_id: str | None = None, timestamp: int | None = None
) -> tuple[dict[str, str], str]:
    """Query and body of a safe-mode callback, as WeChat builds them."""
    query = signed_query(settings, timestamp=timestamp)
    crypto = MessageCrypto(settings.encoding_aes_key, app_id or settings.app_id)
    encrypted = crypto.encrypt(xml)
    query["encrypt_type"] = "aes"
    query["msg_signature"] = make_signature(settings.token, query["timestamp"], query["nonce"], encrypted)
    return query, render_xml({"ToUserName": ORIGINAL_ID, "Encrypt": encrypted})


@pytest.fixture
async def sandbox(settings: WeChatSettings) -> AsyncIterator[TestClient[Any, Any]]:
    sandbox_settings = SandboxSettings(wechat=settings, original_id=ORIGINAL_ID)
    client = TestClient(TestServer(create_sandbox_app(sandbox_settings)))
    await client.start_server()
    yield client
    await client.close()


async def start_gateway(
    settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> TestClient[Any, Any]:
    app = web.Application()
    setup_wechat(app, settings, chat, factory)
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


@pytest.fixture
async def gateway(
    settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> AsyncIterator[TestClient[Any, Any]]:
    client = await start_gateway(settings, chat, factory)
    yield client
    await client.close()


def with_api_base(settings: WeChatSettings, client: TestClient[Any, Any]) -> WeChatSettings:
    return dataclasses.replace(settings, api_base=str(client.make_url("")).rstrip("/"))
