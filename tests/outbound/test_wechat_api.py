"""The API client against the real sandbox app: token sharing, 40001, 45015, 45009, backoff."""

# ruff: noqa: F811 - pytest fixtures are imported from tests.outbound.wechat_fixtures

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy.orm import Session, sessionmaker

from crm import wechat_store as store
from crm.models.base import utcnow
from crm.models.wechat import WeChatAccessToken
from gateway.wechat.sandbox import SANDBOX_SETTINGS_KEY
from outbound.wechat_api import WeChatApiClient, WeChatApiSettings
from tests.outbound.wechat_fixtures import OPENID, factory, sandbox, settings, with_api_base  # noqa: F401 - fixtures

Client = TestClient[Any, Any]


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_client(
    settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession, sleeps: list[float]
) -> WeChatApiClient:
    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    return WeChatApiClient(settings, factory, http, sleep=fake_sleep, backoff_s=0.5)


async def messages(sandbox: Client) -> dict[str, Any]:
    return await (await sandbox.get("/sandbox/messages")).json()


async def test_send_text_inside_window(
    sandbox: Client, settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession,
    sleeps: list[float],
) -> None:  # fmt: skip
    await sandbox.post("/sandbox/control", json={"action": "touch_user", "openid": OPENID})
    client = make_client(with_api_base(settings, sandbox), factory, http, sleeps)
    result = await client.send_text(OPENID, "您的预约已确认")
    assert result.ok and result.errcode == 0 and result.attempts == 1
    data = await messages(sandbox)
    assert [(m["kind"], m["touser"], m["content"]) for m in data["received"]] == [("custom", OPENID, "您的预约已确认")]
    with factory() as s:
        attempts = store.list_attempts(s)
    assert [(a.kind, a.outcome) for a in attempts] == [("token", "ok"), ("custom", "ok")]
    assert all(a.recipient_hash != OPENID for a in attempts)


async def test_token_cached_and_shared_between_clients(
    sandbox: Client, settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession,
    sleeps: list[float],
) -> None:  # fmt: skip
    s = with_api_base(settings, sandbox)
    first, second = make_client(s, factory, http, sleeps), make_client(s, factory, http, sleeps)
    token = await first.get_access_token()
    assert await second.get_access_token() == token
    assert await first.get_access_token() == token
    assert (await messages(sandbox))["token_requests"] == 1


async def test_token_stored_by_another_process_during_our_read_is_not_fetched_again(
    sandbox: Client, settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession,
    sleeps: list[float], monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    s = with_api_base(settings, sandbox)
    token = await make_client(s, factory, http, sleeps).get_access_token()  # "the other process"
    real, reads = store.get_valid_token, []

    def stale_first_read(session: Session, **kw: Any) -> str | None:
        reads.append(1)
        return None if len(reads) == 1 else real(session, **kw)  # read before the other stored it

    monkeypatch.setattr(store, "get_valid_token", stale_first_read)
    assert await make_client(s, factory, http, sleeps).get_access_token() == token
    assert (await messages(sandbox))["token_requests"] == 1
    with factory() as session:
        row = session.get(WeChatAccessToken, settings.app_id)
        assert row is not None and row.refresh_lock_until is None  # the lease was given back


async def test_token_refreshed_before_expiry(
    sandbox: Client, settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession,
    sleeps: list[float],
) -> None:  # fmt: skip
    client = make_client(with_api_base(settings, sandbox), factory, http, sleeps)
    token = await client.get_access_token()
    # 200 s left of 7,200: inside the 300 s margin, so a new one is fetched
    with factory.begin() as s:
        row = s.get(WeChatAccessToken, settings.app_id)
        assert row is not None
        row.expires_at = utcnow() + dt.timedelta(seconds=200)
    assert await client.get_access_token() != token
    assert (await messages(sandbox))["token_requests"] == 2


async def test_40001_refreshes_once_and_retries(
    sandbox: Client, settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession,
    sleeps: list[float],
) -> None:  # fmt: skip
    await sandbox.post("/sandbox/control", json={"action": "touch_user", "openid": OPENID})
    client = make_client(with_api_base(settings, sandbox), factory, http, sleeps)
    await client.get_access_token()
    await sandbox.post("/sandbox/control", json={"action": "expire_tokens"})  # WeChat revoked it
    result = await client.send_text(OPENID, "提醒")
    assert result.ok and result.attempts == 2
    with factory() as s:
        outcomes = [(a.kind, a.errcode) for a in store.list_attempts(s, result.send_id)]
    assert outcomes == [("custom", 40001), ("custom", 0)]
    assert (await messages(sandbox))["token_requests"] == 2


async def test_bad_secret_is_token_error(
    sandbox: Client, settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession,
    sleeps: list[float],
) -> None:  # fmt: skip
    bad = dataclasses.replace(with_api_base(settings, sandbox), app_secret="wrong")
    result = await make_client(bad, factory, http, sleeps).send_text(OPENID, "x")
    assert (result.status, result.errcode) == ("token_error", 40125)
    assert (await messages(sandbox))["received"] == []


async def test_45015_outside_window_and_after_five_messages(
    sandbox: Client, settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession,
    sleeps: list[float],
) -> None:  # fmt: skip
    clock = Clock()
    sandbox.server.app[SANDBOX_SETTINGS_KEY].clock = clock
    client = make_client(with_api_base(settings, sandbox), factory, http, sleeps)
    never_wrote = await client.send_text("o_silent_user", "营销消息")
    assert (never_wrote.status, never_wrote.errcode, never_wrote.attempts) == ("outside_window", 45015, 1)
    await sandbox.post("/sandbox/control", json={"action": "touch_user", "openid": OPENID, "at": clock.now})
    results = [await client.send_text(OPENID, f"第{i}条") for i in range(6)]
    assert [r.status for r in results] == ["sent"] * 5 + ["outside_window"]
    await sandbox.post("/sandbox/control", json={"action": "touch_user", "openid": OPENID, "at": clock.now})
    clock.now += 48 * 3600 + 1
    late = await client.send_text(OPENID, "两天后")
    assert late.status == "outside_window" and sleeps == []  # no pointless retries
    # template (service notice) messages are allowed outside the window
    notice = await client.send_template(
        OPENID, "TPL_MATURITY", {"first": "您的定期存款即将到期", "keyword1": "2024-07-01"}
    )
    assert notice.ok and notice.msgid is not None
    received = (await messages(sandbox))["received"]
    assert received[-1]["data"]["keyword1"] == {"value": "2024-07-01"}


async def test_45009_daily_quota(
    sandbox: Client, settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession,
    sleeps: list[float],
) -> None:  # fmt: skip
    sandbox.server.app[SANDBOX_SETTINGS_KEY].daily_quota = 2
    client = make_client(with_api_base(settings, sandbox), factory, http, sleeps)
    results = [await client.send_template(OPENID, "TPL_REPAY", {"first": "还款提醒"}) for _ in range(3)]
    assert [r.status for r in results] == ["sent", "sent", "quota_exceeded"]
    assert results[-1].errcode == 45009


async def test_network_errors_back_off_exponentially(
    settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession, sleeps: list[float]
) -> None:
    """A flaky API (two 502s, then fine) is retried with growing delays; every attempt is logged."""
    calls = {"n": 0}

    async def token(_request: web.Request) -> web.Response:
        return web.json_response({"access_token": "tok", "expires_in": 7200})

    async def send(_request: web.Request) -> web.Response:
        calls["n"] += 1
        if calls["n"] <= 2:
            return web.Response(status=502)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    app = web.Application()
    app.router.add_get("/cgi-bin/token", token)
    app.router.add_post("/cgi-bin/message/custom/send", send)
    async with TestClient(TestServer(app)) as flaky:
        result = await make_client(with_api_base(settings, flaky), factory, http, sleeps).send_text(OPENID, "x")
    assert result.ok and result.attempts == 3
    assert len(sleeps) == 2 and 0.4 <= sleeps[0] <= 0.5 and 0.8 <= sleeps[1] <= 1.0
    with factory() as s:
        assert [a.outcome for a in store.list_attempts(s, result.send_id)] == ["http_error", "http_error", "ok"]


async def test_unreachable_api_gives_network_error(
    settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession, sleeps: list[float]
) -> None:
    # port 1 refuses connections: the token fetch fails after max_attempts with backoff
    result = await make_client(settings, factory, http, sleeps).send_text(OPENID, "x")
    assert result.status == "token_error" and len(sleeps) == 3
    with factory() as s:
        row = s.get(WeChatAccessToken, settings.app_id)
        assert row is not None and row.refresh_lock_until is None  # lease released for others
