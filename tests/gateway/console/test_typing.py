"""Web chat and console over their WebSockets: who is serving, and typing in both directions (#21)."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import aiohttp
from aiohttp.test_utils import TestClient

from tests.gateway.console.support import db_url, fake_rasa, gateway, template_db  # noqa: F401 - fixtures
from tests.gateway.console.test_console_api import (  # noqa: F401 - fixture
    Browser,
    browser,
    customer_asks_for_human,
    queued_id,
)


async def _until(ws: aiohttp.ClientWebSocketResponse, test: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        while True:
            data = await ws.receive_json()
            if test(data):
                return dict(data)

    return await asyncio.wait_for(read(), timeout=15)


async def test_customer_sees_who_serves_and_both_sides_see_typing(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:
    rm, customer = browser(), browser()
    await rm.login("rm001")
    await customer_asks_for_human(customer)
    conv = queued_id(gateway)
    chat = await customer.http.ws_connect(customer.url("/ws?after=0"))
    console = await rm.http.ws_connect(rm.url("/console/ws"))
    try:
        status = await _until(chat, lambda d: d.get("type") == "status")
        assert status["label"] == "正在为您转接人工客服…" and status["rm_typing"] is False
        assert (await rm.post(f"/console/api/conversations/{conv}/take")).status == 200
        serving = await _until(chat, lambda d: d.get("type") == "status" and d["state"] == "agent")
        assert serving["label"].endswith("经理 人工服务中") and len(serving["rm"]) == 3

        await console.send_json({"typing": conv})
        await _until(chat, lambda d: d.get("type") == "status" and d["rm_typing"] is True)

        await console.send_json({"watch": conv, "after": 0})
        await chat.send_json({"typing": True})
        await _until(console, lambda d: bool((d.get("watch") or {}).get("customer_typing")))
        # Nobody else's typing counts: a colleague's mark on this conversation is ignored.
        other = browser()
        await other.login("rm002")
        other_ws = await other.http.ws_connect(other.url("/console/ws"))
        await other_ws.send_json({"typing": conv})
        await other_ws.close()
    finally:
        await chat.close()
        await console.close()
