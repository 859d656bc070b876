"""Console login throttling over HTTP: finding 4 of #19 (anyone could lock an RM out).

The gateway trusts X-Forwarded-For from 127.0.0.1 here (TRUSTED_PROXIES), so each test plays
several client addresses through one test server.
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select

from core.settings import Settings
from crm.models import AuditEvent
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PASSWORD,
    db_url,
    fake_rasa,
    gateway,
    handoff_settings,
    login_clock,
    template_db,
)

pytestmark = pytest.mark.usefixtures("login_clock")
ATTACKER = "203.0.113.7"
VICTIM = "198.51.100.20"


@pytest.fixture
async def proxied(db_url: str, fake_rasa: Any) -> AsyncIterator[TestClient]:
    from gateway.app import create_app

    settings = Settings(database_url=db_url, rasa_url=fake_rasa[1], demo_mode=True, trusted_proxies="127.0.0.1")
    client = TestClient(TestServer(create_app(settings, handoff_settings())))
    await client.start_server()
    yield client
    await client.close()


async def try_login(client: TestClient, login: str, password: str, address: str) -> tuple[int, str, str | None]:
    """(status, body, Retry-After) of one password login from ``address``, with a fresh cookie jar."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        resp = await http.post(
            str(client.make_url("/console/api/login")),
            json={"login": login, "password": password},
            headers={"X-Forwarded-For": address},
        )
        return resp.status, await resp.text(), resp.headers.get("Retry-After")


async def test_anonymous_guesses_from_another_address_do_not_lock_the_rm_out(proxied: TestClient) -> None:
    answers = [await try_login(proxied, "rm002", f"guess{i}", ATTACKER) for i in range(8)]
    assert [status for status, _, _ in answers] == [401] * 3 + [429] * 5
    status, body, retry_after = answers[3]
    assert retry_after is not None and int(retry_after) >= 1
    assert f"尝试次数过多，请 {retry_after} 秒后再试" in body
    # The RM at their own desk logs in at once (the old code answered 423 for 15 minutes).
    assert (await try_login(proxied, "rm002", PASSWORD, VICTIM))[0] == 200
    # The attacker's address is still slowed down, even with the right password.
    assert (await try_login(proxied, "rm002", PASSWORD, ATTACKER))[0] == 429


async def test_unknown_and_real_logins_get_the_same_answers(proxied: TestClient) -> None:
    real = [await try_login(proxied, "rm003", "wrong", "192.0.2.10") for _ in range(7)]
    unknown = [await try_login(proxied, "rm999x", "wrong", "192.0.2.11") for _ in range(7)]
    assert real == unknown
    assert 423 not in {status for status, _, _ in real}
    assert real[0] == (401, '{"error": "bad_credentials", "message": "用户名或密码不正确。"}', None)


def wrong_passwords_counted() -> float:
    from core.metrics import get_metrics

    labels = {"step": "password", "outcome": "wrong"}
    return get_metrics().registry.get_sample_value("bankcare_console_logins_total", labels) or 0.0


async def test_failures_are_audited_without_the_password(proxied: TestClient) -> None:
    before = wrong_passwords_counted()
    await try_login(proxied, "rm001", "s3cret-guess", ATTACKER)
    await try_login(proxied, "nobody", "other-guess", ATTACKER)
    assert wrong_passwords_counted() == before + 2  # on /metrics as well
    with proxied.app[SESSION_FACTORY]() as s:
        events = s.scalars(select(AuditEvent).where(AuditEvent.action == "console_login_failed")).all()
        details = [e.detail for e in events]
    assert {"login": "rm001", "address": ATTACKER, "step": "password"} in details
    assert {"login": "nobody", "address": ATTACKER, "step": "password"} in details
    assert "guess" not in repr(details)


async def test_the_backoff_ends_and_a_success_clears_it(proxied: TestClient, login_clock: list[dt.datetime]) -> None:
    for _ in range(3):
        await try_login(proxied, "rm001", "wrong", ATTACKER)
    assert (await try_login(proxied, "rm001", PASSWORD, ATTACKER))[0] == 429
    login_clock[0] += dt.timedelta(seconds=2)  # the 2 s wait has passed
    assert (await try_login(proxied, "rm001", PASSWORD, ATTACKER))[0] == 200
    assert (await try_login(proxied, "rm001", "wrong", ATTACKER))[0] == 401  # a fresh start for this pair


async def test_one_address_guessing_across_many_logins_is_slowed(proxied: TestClient) -> None:
    statuses = [(await try_login(proxied, f"user{i}", "wrong", ATTACKER))[0] for i in range(22)]
    assert statuses == [401] * 20 + [429] * 2
    assert (await try_login(proxied, "rm001", PASSWORD, VICTIM))[0] == 200


async def test_forwarded_for_is_ignored_without_a_trusted_proxy(gateway: TestClient) -> None:
    # The default gateway trusts no proxy: a new X-Forwarded-For per guess buys no fresh budget.
    statuses = [(await try_login(gateway, "rm002", "wrong", f"192.0.2.{i}"))[0] for i in range(5)]
    assert statuses == [401] * 3 + [429] * 2


async def test_parallel_guesses_cannot_exceed_the_limit(proxied: TestClient) -> None:
    answers = await asyncio.gather(*(try_login(proxied, "rm004", f"g{i}", ATTACKER) for i in range(12)))
    assert sorted(status for status, _, _ in answers) == [401] * 3 + [429] * 9


async def test_parallel_guesses_through_the_gateway_on_both_backends(migrated_url: str, fake_rasa: Any) -> None:
    # An empty bank is enough: unknown logins are throttled exactly like real ones.
    from gateway.app import create_app

    settings = Settings(database_url=migrated_url, rasa_url=fake_rasa[1], demo_mode=True)
    client = TestClient(TestServer(create_app(settings, handoff_settings())))
    await client.start_server()
    try:
        answers = await asyncio.gather(*(try_login(client, "rm002", f"g{i}", ATTACKER) for i in range(16)))
    finally:
        await client.close()
    assert sorted(status for status, _, _ in answers) == [401] * 3 + [429] * 13


async def test_odd_login_input_is_a_wrong_login_not_a_server_error(proxied: TestClient) -> None:
    for login in ("rm\x00001", "\ud800", "rm001\n"):
        status, body, _ = await try_login(proxied, login, "wrong\ud800", f"192.0.2.{len(login)}")
        assert status == 401, body
    async with aiohttp.ClientSession() as http:
        resp = await http.get(str(proxied.make_url("/console/api/me")), headers={"Cookie": "bc_console=\u00e9t\u00e9"})
        assert resp.status == 401


def test_the_client_is_the_rightmost_address_no_trusted_proxy_wrote() -> None:
    from unittest import mock

    from aiohttp import web
    from aiohttp.test_utils import make_mocked_request

    from core.settings import ConfigError
    from gateway.client_address import client_address
    from gateway.keys import SETTINGS

    def address(peer: str, forwarded: str | None, trusted: str) -> str:
        app = web.Application()
        app[SETTINGS] = Settings(trusted_proxies=trusted)
        headers = {"X-Forwarded-For": forwarded} if forwarded is not None else {}
        transport = mock.Mock()
        transport.get_extra_info.return_value = (peer, 40000)
        return client_address(make_mocked_request("POST", "/console/api/login", headers=headers, app=app,
                                                  transport=transport))  # fmt: skip

    chain = "1.2.3.4, 203.0.113.9, 10.0.0.5"  # client-written, the real client, an inner proxy
    assert address("10.0.0.1", chain, "10.0.0.0/8") == "203.0.113.9"
    assert address("192.0.2.1", chain, "10.0.0.0/8") == "192.0.2.1"  # not from a trusted proxy
    assert address("10.0.0.1", chain, "") == "10.0.0.1"  # no proxy trusted at all
    assert address("10.0.0.1", "not-an-ip", "10.0.0.0/8") == "10.0.0.1"
    assert address("10.0.0.1", None, "10.0.0.0/8") == "10.0.0.1"
    with pytest.raises(ConfigError):
        Settings.from_env({"TRUSTED_PROXIES": "proxy.intranet"})


def test_an_account_without_a_password_never_opens() -> None:
    from gateway.console.auth import _verify

    assert not _verify("", "not-a-real-password-used-for-timing-only")
    assert not _verify(None, "not-a-real-password-used-for-timing-only")
