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
