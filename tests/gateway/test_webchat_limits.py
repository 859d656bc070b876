"""Web chat rate limits: sessions, messages and 转人工 per address and per chat identity; 429, never 5xx."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import func, select

from core.settings import Settings
from crm.models import Message
from gateway.keys import SESSION_FACTORY
from gateway.rate_limit import NO_LIMITS, Limit, MemoryRateLimiter, RedisRateLimiter, WebChatLimits
from gateway.webchat import TOO_FAST, TOO_MANY_HANDOFFS, TOO_MANY_SESSIONS
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    FakeRasa,
    db_url,
    fake_rasa,
    handoff_settings,
    template_db,
)

SMALL = {
    "webchat_limit_sessions": "3/600",
    "webchat_limit_messages": "3/60",
    "webchat_limit_messages_address": "5/60",
    "webchat_limit_handoffs": "1/600",
    "webchat_limit_handoffs_address": "2/600",
}


async def _client(db_url: str, rasa_url: str, **overrides: Any) -> TestClient:
    from gateway.app import create_app

    settings = Settings(database_url=db_url, rasa_url=rasa_url, demo_mode=True, **{**SMALL, **overrides})
    client = TestClient(TestServer(create_app(settings, handoff_settings())))
    await client.start_server()
    return client


@pytest.fixture
async def limited(db_url: str, fake_rasa: tuple[FakeRasa, str]) -> AsyncIterator[TestClient]:
    client = await _client(db_url, fake_rasa[1])
    yield client
    await client.close()


@pytest.fixture
async def browsers(limited: TestClient) -> AsyncIterator[list[aiohttp.ClientSession]]:
    made = [
        aiohttp.ClientSession(base_url=str(limited.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
        for _ in range(3)
    ]
    yield made
    for b in made:
        await b.close()


def stored(client: TestClient) -> int:
    with client.app[SESSION_FACTORY]() as s:
        return int(s.scalar(select(func.count(Message.id))) or 0)


async def assert_429(resp: aiohttp.ClientResponse, message: str) -> None:
    assert resp.status == 429, await resp.text()
    body = await resp.json()
    assert body["error"] == "rate_limited" and body["message"] == message
    assert int(resp.headers["Retry-After"]) >= 1


async def test_messages_per_chat_identity(
    limited: TestClient, browsers: list[aiohttp.ClientSession], fake_rasa: tuple[FakeRasa, str]
) -> None:
    one, two = browsers[:2]
    await one.post("/api/session", json={})
    await two.post("/api/session", json={})
    for _ in range(3):
        assert (await one.post("/api/messages", json={"text": "你好"})).status == 200
    before, asked = stored(limited), len(fake_rasa[0].received)
    await assert_429(await one.post("/api/messages", json={"text": "你好"}), TOO_FAST)
    assert stored(limited) == before and len(fake_rasa[0].received) == asked  # neither stored nor sent to Rasa
    assert (await two.post("/api/messages", json={"text": "你好"})).status == 200  # another chat is not held up


async def test_messages_per_address_across_chat_identities(
    limited: TestClient, browsers: list[aiohttp.ClientSession]
) -> None:
    statuses = []
    for b in browsers:
        await b.post("/api/session", json={})
        for _ in range(2):
            statuses.append((await b.post("/api/messages", json={"text": "你好"})).status)
    assert statuses == [200] * 5 + [429]  # 5 per address in the window, whichever chat they came from


async def test_new_sessions_per_address(limited: TestClient, browsers: list[aiohttp.ClientSession]) -> None:
    for _ in range(3):
        assert (await browsers[0].post("/api/session", json={})).status == 200
    await assert_429(await browsers[1].post("/api/session", json={}), TOO_MANY_SESSIONS)


async def test_handoff_requests_cannot_flood_the_rm_queue(
    limited: TestClient, browsers: list[aiohttp.ClientSession]
) -> None:
    one, two, three = browsers
    for b in browsers:
        await b.post("/api/session", json={})
    assert (await one.post("/api/messages", json={"text": "我要人工服务"})).status == 200
    await assert_429(await one.post("/api/messages", json={"text": "/request_human"}), TOO_MANY_HANDOFFS)
    assert (await two.post("/api/messages", json={"text": "转人工"})).status == 200
    # The address's two handoffs are used up: a third chat from the same address waits.
    await assert_429(await three.post("/api/messages", json={"text": "人工客服"}), TOO_MANY_HANDOFFS)


async def test_forwarded_for_counts_only_behind_a_trusted_proxy(
    db_url: str, fake_rasa: tuple[FakeRasa, str]
) -> None:
    for trusted, expect in (("127.0.0.1", [200] * 6), ("", [200] * 3 + [429] * 3)):
        client = await _client(db_url, fake_rasa[1], trusted_proxies=trusted)
        try:
            async with aiohttp.ClientSession(base_url=str(client.make_url(""))) as http:
                got = []
                for i in range(6):  # a different claimed client each time
                    headers = {"X-Forwarded-For": f"203.0.113.{i + 1}"}
                    got.append((await http.post("/api/session", json={}, headers=headers)).status)
        finally:
            await client.close()
        assert got == expect, trusted


async def test_limits_may_be_turned_off(db_url: str, fake_rasa: tuple[FakeRasa, str]) -> None:
    client = await _client(db_url, fake_rasa[1], **NO_LIMITS)
    try:
        async with aiohttp.ClientSession(base_url=str(client.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True)) as b:
            for _ in range(8):
                assert (await b.post("/api/session", json={})).status == 200
            for _ in range(8):
                assert (await b.post("/api/messages", json={"text": "转人工"})).status == 200
    finally:
        await client.close()


def test_defaults_are_generous_for_a_person() -> None:
    limits = WebChatLimits.from_settings(Settings())
    assert limits.messages_per_identity == Limit(20, 60)  # one message every three seconds, for a minute
    assert limits.sessions_per_address is not None and limits.sessions_per_address.count >= 30
    assert limits == WebChatLimits()


async def test_memory_limiter_windows_and_retry_after() -> None:
    clock = [1000.0]
    limiter = MemoryRateLimiter(clock=lambda: clock[0])
    limit = Limit(2, 60)
    assert [await limiter.hit("m", "a", limit) for _ in range(3)] == [0, 0, 20]  # window ends at 1020
    assert await limiter.hit("m", "b", limit) == 0  # subjects are separate
    clock[0] = 1020.0
    assert await limiter.hit("m", "a", limit) == 0  # a new window


async def test_memory_limiter_stays_bounded() -> None:
    clock = [0.0]
    limiter = MemoryRateLimiter(clock=lambda: clock[0], max_keys=100)
    for i in range(1000):
        clock[0] = i * 0.5
        await limiter.hit("session", f"10.0.{i // 250}.{i % 250}", Limit(5, 10))
    assert len(limiter.counts) <= 100


async def test_redis_down_lets_requests_through() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # nothing listens here
    limiter = RedisRateLimiter.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        assert await limiter.hit("m", "a", Limit(1, 60)) == 0
        assert await limiter.hit("m", "a", Limit(1, 60)) == 0
    finally:
        await limiter.close()


@pytest.fixture
def redis_url(tmp_path: Any) -> Iterator[str]:
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server not installed")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(  # noqa: S603 - a fixed binary, our own arguments
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(tmp_path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(50):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_redis_limiter_is_shared_by_every_gateway(redis_url: str) -> None:
    first, second = RedisRateLimiter.from_url(redis_url), RedisRateLimiter.from_url(redis_url)
    try:
        limit = Limit(3, 60)
        got = [await (first if i % 2 else second).hit("m", "web:x", limit) for i in range(4)]
        assert got[:3] == [0, 0, 0] and got[3] >= 1
        ttl = await first.client.ttl(next(iter(await first.client.keys("bankcare:webchat:limit:*"))))
        assert 0 < ttl <= 61  # windows expire on their own
    finally:
        await first.close()
        await second.close()

