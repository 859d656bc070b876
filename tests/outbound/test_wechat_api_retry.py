"""Which failed sends are retried: only those WeChat certainly did not act on.

Real sockets throughout: a port nobody listens on, a resolver that fails, a raw TCP server that
reads the whole request and then hangs, hangs up or answers garbage. A message the server has
read must never be sent a second time.
"""

# ruff: noqa: F811 - pytest fixtures are imported from tests.outbound.wechat_fixtures

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlalchemy.orm import Session, sessionmaker

from crm import wechat_store as store
from crm.models.base import utcnow
from crm.models.wechat import WeChatAccessToken
from outbound.wechat_api import WeChatApiClient, WeChatApiSettings, classify_failure, retryable
from tests.outbound.wechat_fixtures import OPENID, factory, settings  # noqa: F401 - fixtures

Respond = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


class RawServer:
    """A TCP server that reads each full HTTP request (headers and body) and then runs ``respond``."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.requests: list[bytes] = []  # the request bodies the "WeChat" side received
        self._server: asyncio.Server | None = None
        self._handlers: set[asyncio.Task[None]] = set()

    async def __aenter__(self) -> RawServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()
        if self._handlers:  # each ends when its client hangs up (the client has timed out by now)
            await asyncio.wait(self._handlers, timeout=5)

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            length = next(
                (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
                0,
            )  # fmt: skip
            self.requests.append(await reader.readexactly(length))
            await self.respond(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
            self._handlers.discard(task)


async def hang(reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
    await asyncio.wait_for(reader.read(), 5)  # never answers; returns once the client gives up


async def hang_up(_reader: asyncio.StreamReader, _writer: asyncio.StreamWriter) -> None:
    return  # closes the connection without a word


def answer(status: str, body: bytes, content_type: str = "text/html") -> Respond:
    async def respond(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()

    return respond


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def with_token(factory: sessionmaker[Session], settings: WeChatApiSettings) -> sessionmaker[Session]:
    """A valid shared token already cached, so every HTTP call in a test is the send itself."""
    with factory.begin() as s:
        s.add(
            WeChatAccessToken(app_id=settings.app_id, access_token="tok", expires_at=utcnow() + dt.timedelta(hours=2))
        )
    return factory


def client_for(
    settings: WeChatApiSettings,
    factory: sessionmaker[Session],
    http: aiohttp.ClientSession,
    sleeps: list[float],
    base: str,
) -> WeChatApiClient:
    async def fake_sleep(delay: float) -> None:
        sleeps.append(delay)

    return WeChatApiClient(
        dataclasses.replace(settings, api_base=base),
        factory,
        http,
        sleep=fake_sleep,
        backoff_s=0.5,
        request_timeout_s=0.5,
    )


def outcomes(factory: sessionmaker[Session], send_id: str) -> list[str]:
    with factory() as s:
        return [a.outcome for a in store.list_attempts(s, send_id)]


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- sends that may have reached WeChat: one attempt, "ambiguous" ------------------------------------


@pytest.mark.parametrize(
    "respond",
    [
        pytest.param(hang, id="read timeout"),
        pytest.param(hang_up, id="disconnected after the request"),
        pytest.param(answer("200 OK", b"<html>gateway</html>"), id="200 that is not json"),
    ],
)
async def test_possibly_delivered_send_is_not_retried(
    settings: WeChatApiSettings,
    with_token: sessionmaker[Session],
    http: aiohttp.ClientSession,
    sleeps: list[float],
    respond: Respond,
) -> None:
    async with RawServer(respond) as server:
        result = await client_for(settings, with_token, http, sleeps, server.url).send_text(OPENID, "您的定期已到期")
    assert (result.status, result.attempts, result.ok, result.ambiguous) == ("ambiguous", 1, False, True)
    assert [json.loads(r)["text"]["content"] for r in server.requests] == ["您的定期已到期"]
    assert sleeps == []  # no second attempt
    assert outcomes(with_token, result.send_id) == ["ambiguous"]


async def test_template_send_timeout_is_ambiguous_too(
    settings: WeChatApiSettings, with_token: sessionmaker[Session], http: aiohttp.ClientSession, sleeps: list[float]
) -> None:
    async with RawServer(hang) as server:
        result = await client_for(settings, with_token, http, sleeps, server.url).send_template(
            OPENID, "TPL_REPAY", {"first": "还款提醒"}
        )
    assert result.status == "ambiguous" and len(server.requests) == 1 and sleeps == []


# --- sends that certainly did not reach WeChat: retried with backoff --------------------------------


async def test_connection_refused_is_retried_then_network_error(
    settings: WeChatApiSettings, with_token: sessionmaker[Session], http: aiohttp.ClientSession, sleeps: list[float]
) -> None:
    base = f"http://127.0.0.1:{unused_port()}"
    result = await client_for(settings, with_token, http, sleeps, base).send_text(OPENID, "x")
    assert (result.status, result.attempts) == ("network_error", 4)
    assert len(sleeps) == 3 and sleeps == sorted(sleeps)
    assert outcomes(with_token, result.send_id) == ["network_error"] * 4


class FailingResolver(AbstractResolver):
    """DNS that knows no host (as when the resolver is down)."""

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        raise OSError(-2, f"Name or service not known: {host}")

    async def close(self) -> None:
        return None


async def test_dns_failure_is_retried_then_network_error(
    settings: WeChatApiSettings, with_token: sessionmaker[Session], sleeps: list[float]
) -> None:
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(resolver=FailingResolver())) as http:
        result = await client_for(settings, with_token, http, sleeps, "http://api.weixin.example").send_text(
            OPENID, "x"
        )
    assert (result.status, result.attempts, len(sleeps)) == ("network_error", 4, 3)


async def test_proxy_5xx_is_retried_and_the_message_goes_out_once(
    settings: WeChatApiSettings, with_token: sessionmaker[Session], http: aiohttp.ClientSession, sleeps: list[float]
) -> None:
    calls = {"n": 0}
    ok = answer("200 OK", b'{"errcode":0,"errmsg":"ok","msgid":7}', "application/json")
    bad = answer("502 Bad Gateway", b"bad gateway")

    async def flaky(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        calls["n"] += 1
        await (bad if calls["n"] <= 2 else ok)(reader, writer)

    async with RawServer(flaky) as server:
        result = await client_for(settings, with_token, http, sleeps, server.url).send_text(OPENID, "x")
    assert (result.status, result.attempts, result.msgid) == ("sent", 3, 7)
    assert outcomes(with_token, result.send_id) == ["http_error", "http_error", "ok"]


async def test_system_busy_is_retried(
    settings: WeChatApiSettings, with_token: sessionmaker[Session], http: aiohttp.ClientSession, sleeps: list[float]
) -> None:
    busy = answer("200 OK", b'{"errcode":-1,"errmsg":"system error"}', "application/json")
    async with RawServer(busy) as server:
        result = await client_for(settings, with_token, http, sleeps, server.url).send_text(OPENID, "x")
    assert (result.status, result.errcode, result.attempts) == ("failed", -1, 4)
    assert outcomes(with_token, result.send_id) == ["api_error"] * 4 and len(sleeps) == 3


async def test_proxy_4xx_is_not_retried(
    settings: WeChatApiSettings, with_token: sessionmaker[Session], http: aiohttp.ClientSession, sleeps: list[float]
) -> None:
    async with RawServer(answer("404 Not Found", b"<html>no</html>")) as server:
        result = await client_for(settings, with_token, http, sleeps, server.url).send_text(OPENID, "x")
    assert (result.status, result.attempts, sleeps) == ("failed", 1, [])
    assert outcomes(with_token, result.send_id) == ["rejected"]


# --- the token fetch may be repeated safely --------------------------------------------------------


async def test_token_fetch_that_times_out_is_retried(
    settings: WeChatApiSettings, factory: sessionmaker[Session], http: aiohttp.ClientSession, sleeps: list[float]
) -> None:
    calls = {"n": 0}
    token = answer("200 OK", b'{"access_token":"tok2","expires_in":7200}', "application/json")

    async def slow_once(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        calls["n"] += 1
        await (hang if calls["n"] == 1 else token)(reader, writer)

    async with RawServer(slow_once) as server:
        got = await client_for(settings, factory, http, sleeps, server.url).get_access_token()
    assert got == "tok2" and len(sleeps) == 1
    with factory() as s:
        assert [a.outcome for a in store.list_attempts(s)] == ["ambiguous", "ok"]


# --- the rule itself ---------------------------------------------------------------------------------


def test_classification_of_client_exceptions() -> None:
    never_sent: list[BaseException] = [aiohttp.ConnectionTimeoutError("connect timeout")]
    maybe_sent: list[BaseException] = [
        TimeoutError(),
        aiohttp.SocketTimeoutError("read timeout"),
        aiohttp.ServerDisconnectedError(),
        aiohttp.ClientOSError(104, "Connection reset by peer"),
        aiohttp.ClientPayloadError("truncated"),
    ]
    assert [classify_failure(e) for e in never_sent] == ["network_error"]
    assert {classify_failure(e) for e in maybe_sent} == {"ambiguous"}


@pytest.mark.parametrize(
    ("outcome", "errcode", "idempotent", "expected"),
    [
        ("network_error", None, False, True),
        ("http_error", None, False, True),
        ("api_error", -1, False, True),
        ("ambiguous", None, False, False),
        ("ambiguous", None, True, True),
        ("rejected", None, False, False),
        ("api_error", 45015, False, False),
        ("api_error", 40003, False, False),
        ("ok", 0, False, False),
    ],
)
def test_retryable(outcome: Any, errcode: int | None, idempotent: bool, expected: bool) -> None:
    assert retryable(outcome, errcode, idempotent=idempotent) is expected
