"""Helpers shared by the end-to-end fault and bad-input tests: stacks of their own, what was stored,
what the WeChat sandbox received."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

import aiohttp
from sqlalchemy import Engine, text

from bench.loadgen.wechat import WeChatPlayer
from core.db import make_engine
from crm.demo.seed import seed_demo_bank
from crm.migrate import upgrade
from devstack.stack import Stack, import_faq, start_stack, train_model

WEB_WAIT_S = 20.0  # how long a web chat visitor waits for a pushed message
APOLOGY_MARK = "抱歉"  # in the replies given when the bot cannot answer (Rasa hung or down)


def model_path() -> Path:
    """``BANKCARE_E2E_MODEL`` pins a model (another engineer may be editing the training data)."""
    pinned = os.environ.get("BANKCARE_E2E_MODEL")
    return Path(pinned) if pinned else train_model()


def seeded_stack(workdir: Path, url: str, model: Path | None = None) -> Stack:
    """A stack of its own on a migrated database with a small demo bank and the knowledge base."""
    upgrade(url)
    engine = make_engine(url)
    try:
        seed_demo_bank(engine, customers=120, as_of=dt.datetime.now(dt.UTC).date())
    finally:
        engine.dispose()
    import_faq(url)
    return start_stack(workdir, url, model or model_path())


def player(stack: Stack) -> WeChatPlayer:
    """Signs requests for the Official Account ``stack``'s gateway serves."""
    return WeChatPlayer.from_env(stack.env)


def stored_in(engine: Engine, channel: str, external_id: str) -> list[str]:
    """The customer's stored inbound messages on ``channel``, oldest first."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT m.text FROM messages m JOIN conversations c ON c.id = m.conversation_id "
                "JOIN channel_identities i ON i.id = c.identity_id "
                "WHERE i.channel = :ch AND i.external_id = :ext AND m.direction = 'in' ORDER BY m.id"
            ),
            {"ch": channel, "ext": external_id},
        )
        return [r[0] for r in rows]


async def received_by(http: aiohttp.ClientSession, sandbox_url: str, openid: str) -> list[str]:
    """Texts the WeChat sandbox received through the customer-service API for ``openid``."""
    async with http.get(f"{sandbox_url}/sandbox/messages") as resp:
        data = await resp.json()
    return [m.get("content", "") for m in data["received"] if m["touser"] == openid]


async def open_window(http: aiohttp.ClientSession, sandbox_url: str, openid: str) -> None:
    """Open the sandbox's 48-hour customer-service window, as a message from the customer would."""
    async with http.post(f"{sandbox_url}/sandbox/control", json={"action": "touch_user", "openid": openid}) as resp:
        assert resp.status == 200


async def assert_alive(http: aiohttp.ClientSession, stack: Stack) -> None:
    async with http.get(f"{stack.gateway_url}/healthz") as resp:
        assert resp.status == 200


class WebCustomer:
    """A web chat visitor: HTTP for sending, the page's WebSocket for everything pushed.

    The socket carries messages (``id``, ``text``) and status frames (``{"type": "status", …}``: who is
    serving, typing); messages are kept in ``pushed``, status frames in ``statuses``.
    """

    def __init__(self, base: str) -> None:
        self.base = base
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.pushed: list[dict[str, Any]] = []
        self.statuses: list[dict[str, Any]] = []
        self._reader: asyncio.Task[None] | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None

    async def start(self) -> None:
        async with self.http.post(f"{self.base}/api/session", json={}) as r:
            assert r.status == 200
        self._ws = await self.http.ws_connect(f"{self.base}/ws?after=0")
        self._reader = asyncio.create_task(self._read(self._ws))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                frame = json.loads(msg.data)
                if isinstance(frame, dict) and "id" in frame and "text" in frame:
                    self.pushed.append(frame)
                elif isinstance(frame, dict) and frame.get("type") == "status":
                    self.statuses.append(frame)

    @property
    def web_id(self) -> str:
        token = next(c.value for c in self.http.cookie_jar if c.key == "bc_web")
        return token.rpartition(".")[0]

    async def say(self, text: str) -> list[dict[str, Any]]:
        """Send ``text``; the assistant's answers to it (what the HTTP response carries besides the echo)."""
        seen = max((m["id"] for m in self.pushed), default=0)
        async with self.http.post(f"{self.base}/api/messages", json={"text": text, "after": seen}) as r:
            assert r.status == 200, await r.text()
            data = await r.json()
        return [m for m in data["messages"] if m["direction"] == "out"]

    async def wait_for(self, needle: str) -> dict[str, Any]:
        for _ in range(int(WEB_WAIT_S / 0.2)):
            for m in self.pushed:
                if needle in m["text"]:
                    return m
            await asyncio.sleep(0.2)
        raise AssertionError(f"{needle!r} never pushed; got {[m['text'] for m in self.pushed]}")

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await self._reader
        await self.http.close()
