"""The sandbox's bulk control hook and its summary view (used by ``make bench-care``)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.orm import Session, sessionmaker

from gateway.wechat.settings import WeChatSettings
from outbound.wechat_api import WeChatApiClient

from .conftest import with_api_base

Client = TestClient[Any, Any]


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def test_touch_users_opens_the_window_of_every_listed_user_only(
    sandbox: Client, settings: WeChatSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession
) -> None:
    touched = [f"o-bench-{i}" for i in range(3)]
    resp = await sandbox.post("/sandbox/control", json={"action": "touch_users", "openids": touched})
    assert resp.status == 200 and (await resp.json())["touched"] == 3
    client = WeChatApiClient(with_api_base(settings, sandbox), factory, http)
    results = [await client.send_text(openid, "春节快乐") for openid in [*touched, "o-never-wrote"]]
    assert [r.status for r in results] == ["sent", "sent", "sent", "outside_window"]
    summary = await (await sandbox.get("/sandbox/messages", params={"summary": "1"})).json()
    assert summary["received"] == 3 and summary["recipients"] == 3
    assert summary["by_kind"] == {"custom": 3} and summary["token_requests"] == 1


async def test_touch_users_needs_a_list(sandbox: Client) -> None:
    resp = await sandbox.post("/sandbox/control", json={"action": "touch_users", "openids": "o-one"})
    assert resp.status == 400


async def test_the_page_cannot_be_framed_and_other_sites_cannot_drive_the_sandbox(sandbox: Client) -> None:
    """Second probe of #19: the sandbox page had no hardening headers, and a text/plain POST (which
    another site's page can send without a CORS preflight) made it sign and send a message."""
    page = await sandbox.get("/sandbox")
    assert page.status == 200
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff" and page.headers["X-Frame-Options"] == "DENY"
    assert page.headers["Referrer-Policy"] == "same-origin"
    body = '{"openid": "o_sandbox_zhangsan", "type": "text", "content": "挂失"}'
    for path in ("/sandbox/play", "/sandbox/control"):
        forged = await sandbox.post(path, data=body, headers={"Content-Type": "text/plain"})
        assert forged.status == 415, path
    assert (await (await sandbox.get("/sandbox/messages")).json())["received"] == []
