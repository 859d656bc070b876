"""No input gets a 5xx from the gateway (issue #19): Hypothesis against every route of the real app.

One gateway (demo bank, fake Rasa) takes generated paths, query strings, cookies, headers and bodies
for every route in ``app.router.routes()``: anonymously, with a valid web chat session, with a
logged-in console session and its CSRF token, or with both. No answer may be a 5xx (except the
designed 503 of ``/readyz`` while the action server is down), the server may log no unhandled
exception, and afterwards a customer can still chat and the RM can still load the console.

The examples are derandomised and bounded, so the test is repeatable and takes a few seconds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from core.settings import Settings
from crm.models import Conversation
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PASSWORD,
    PLAIN_WEB_ID,
    FakeRasa,
    db_url,
    handoff_settings,
    template_db,
)
from tests.gateway.rawhttp import raw_request

HTTP_EXAMPLES = 500
SOCKET_EXAMPLES = 40
# Designed 5xx answers: readiness says 503 while a dependency (here the action server) is down.
EXPECTED_5XX = {("/readyz", 503)}

# --- strategies -----------------------------------------------------------------------------------

BIG = [2**63 - 1, 2**63, 2**64, 10**30, -(2**63), -1, 0, 1]
any_text = st.text(st.characters(blacklist_categories=()), max_size=30)  # lone surrogates included
numbers = st.one_of(st.sampled_from(BIG), st.integers(), st.integers(min_value=2**62, max_value=2**200))
floats = st.floats(allow_nan=True, allow_infinity=True)
# What broke the gateway before (issue #19), drawn often so that every run meets each of them.
NASTY: list[Any] = ["\ud800", "a\udfffb", "\x00", "", " ", 2**63, 10**30, -1, 1e30, float("inf"), float("nan"),
                    [], {}, [1], True, "9223372036854775808", "demo-zhangjianhua"]  # fmt: skip
nasty = st.sampled_from(NASTY)
leaves = st.one_of(nasty, nasty, st.none(), st.booleans(), numbers, floats, any_text)
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
                           max_leaves=8)  # fmt: skip
FIELDS = ["text", "after", "persona", "login", "password", "rm_id", "key", "code", "watch", "id"]
fields = st.sampled_from(FIELDS)
json_objects = st.dictionaries(st.one_of(fields, fields, fields, any_text), st.one_of(leaves, json_values), max_size=4)


def _encode(doc: Any) -> bytes:
    # ensure_ascii writes lone surrogates as \ud800 escapes; NaN and Infinity as the bare words.
    return json.dumps(doc, ensure_ascii=True, allow_nan=True).encode()


bodies = st.one_of(
    json_objects.map(_encode),
    json_values.map(_encode),
    st.binary(max_size=200),
    st.sampled_from([
        b"", b"{", b'{"text": ', b"[" * 5000 + b"]" * 5000, b"[" * 100_000, b'{"text": "\xff\xfe"}',
        b'{"text": "\\ud800"}', b'{"after": 1e999}', b'{"text": "x"}' + b" " * 70_000, b"\x00" * 64,
    ]),
)  # fmt: skip
segments = st.one_of(
    st.sampled_from([str(n) for n in BIG]),
    st.sampled_from(["0x10", "1.0", "1e3", "%00", "%ff", "%", "..", "%2e%2e", "%EF%BC%91", "٣", " 1", "+1"]),
    any_text.map(lambda t: quote(t.encode("utf-8", "surrogatepass"), safe="")),
)
query_values = st.one_of(segments, st.sampled_from(["", "%zz", "a&b", "=", "%ED%A0%80"]))
queries = st.lists(
    st.tuples(st.sampled_from(["after", "watch", "code", "echostr", "timestamp", "nonce", "signature", "x"]),
              query_values),
    max_size=3,
)  # fmt: skip
junk_tokens = st.sampled_from([b"", b"\xff\xfe", b"\xe4\xb8\xad", b"x" * 600, b"visitor-\xff.00", b"\xc3\xa9" * 8,
                                b"\x01"])  # fmt: skip


def _no_controls(raw: bytes) -> bytes:
    # Control bytes make aiohttp's parser answer 400 before any handler runs; a few are enough.
    return bytes(b for b in raw if b >= 0x20 and b != 0x7F)


header_bytes = st.one_of(
    junk_tokens,
    junk_tokens,
    st.binary(max_size=40).map(_no_controls),
    any_text.map(lambda t: _no_controls(t.encode("utf-8", "surrogatepass"))),
)
content_types = st.sampled_from([
    b"application/json", b"application/json; charset=utf-8", b"application/json; charset=nope",
    b"application/json; charset=utf-16", b"text/plain", b"multipart/form-data; boundary=x",
    b"application/x-www-form-urlencoded", b"\xff",
])  # fmt: skip


@dataclass
class Request:
    method: str
    target: bytes
    route: str
    headers: list[tuple[bytes, bytes]]
    body: bytes
    upgrade: bool


@dataclass
class Sessions:
    """What a legitimate user holds: the web chat cookie, the console cookie and CSRF token."""

    web_cookie: bytes
    console_cookie: bytes
    csrf: bytes
    conv_id: int


def fill(route: str, draw: st.DrawFn, sessions: Sessions) -> str:
    """A concrete path for a route pattern: placeholders get generated (or real) values."""

    def value(match: re.Match[str]) -> str:
        if match.group(1) == "conv_id" and draw(st.booleans()):
            return str(sessions.conv_id)
        return draw(segments)

    path = re.sub(r"\{(\w+)\}", value, route)
    if route.endswith("static"):  # a static directory: some real file, traversal attempts, junk
        path += "/" + draw(st.one_of(st.sampled_from(["webchat.js", "console.js", "../webchat.py",
                                                      "%2e%2e/%2e%2e/etc/passwd", ""]), segments))  # fmt: skip
    return path


@st.composite
def requests(draw: st.DrawFn, routes: list[tuple[str, str]], sessions: Sessions) -> Request:
    # State-changing routes are drawn three times as often: that is where bodies are read and stored.
    method, route = draw(st.sampled_from([r for r in routes for _ in range(3 if r[0] == "POST" else 1)]))
    if draw(st.integers(0, 14)) == 0:  # now and then HEAD, or a method the route does not take
        method = draw(st.sampled_from(["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]))
    path = fill(route, draw, sessions)
    query = "&".join(f"{k}={v}" for k, v in draw(queries))
    target = (path + ("?" + query if query else "")).encode()
    # Each credential is valid, absent, or junk of the same name (non-ASCII bytes included).
    web_chat, console = (draw(st.sampled_from(["valid", "valid", "valid", "absent", "junk"])) for _ in range(2))
    cookies: list[bytes] = []
    for kind, name, valid in ((web_chat, b"bc_web=", sessions.web_cookie),
                              (console, b"bc_console=", sessions.console_cookie)):  # fmt: skip
        if kind == "valid":
            cookies.append(valid)
        elif kind == "junk":
            cookies.append(name + draw(header_bytes).replace(b";", b""))
    if draw(st.integers(0, 7)) == 0:
        cookies.append(b"x=" + draw(header_bytes))
    headers: list[tuple[bytes, bytes]] = [(b"Cookie", b"; ".join(cookies))] if cookies else []
    csrf = draw(st.sampled_from(["valid", "valid", "valid", "absent", "junk"]))
    if csrf == "valid" and route != "/console/api/logout":  # stay logged in for the next examples
        headers.append((b"X-CSRF-Token", sessions.csrf))
    elif csrf == "junk":
        headers.append((b"X-CSRF-Token", draw(header_bytes)))
    headers.append((b"Content-Type", draw(content_types)))
    for name in draw(st.lists(st.sampled_from([b"Origin", b"X-Forwarded-For", b"Accept-Encoding", b"Accept",
                                               b"If-Modified-Since", b"Range", b"X-Real-IP"]), max_size=2)):  # fmt: skip
        headers.append((name, draw(header_bytes)))
    body = draw(bodies) if method != "GET" or draw(st.integers(0, 9)) == 0 else b""
    upgrade = method == "GET" and route.endswith("ws") and draw(st.booleans())
    return Request(method, target, route, headers, body, upgrade)


socket_messages = st.one_of(
    json_objects.map(_encode),
    st.fixed_dictionaries({"watch": st.one_of(leaves, json_values)}, optional={"after": json_values}).map(_encode),
    st.fixed_dictionaries({"after": st.one_of(leaves, json_values)}).map(_encode),
    json_values.map(_encode),
    st.sampled_from([b"[" * 3000, b"NaN", b"", b"{"]),
)


# --- the gateway under test -----------------------------------------------------------------------


class ServerErrors(logging.Handler):
    """Unhandled exceptions the server logged (a 500, or a crash after a WebSocket upgrade)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            return  # aiohttp's own 400 for a malformed request line or header: logged, but answered
        self.records.append(f"{record.name}: {record.getMessage()} {exc!r}"[:300])


@pytest.fixture
def server_errors() -> Iterator[ServerErrors]:
    handler = ServerErrors()
    loggers = [logging.getLogger(name) for name in ("aiohttp.server", "aiohttp.web", "asyncio")]
    for logger in loggers:
        logger.addHandler(handler)
    yield handler
    for logger in loggers:
        logger.removeHandler(handler)


@dataclass
class Gateway:
    client: TestClient
    rasa: TestServer
    sessions: Sessions
    routes: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    async def start(cls, database_url: str) -> Gateway:
        from gateway.app import create_app

        rasa = TestServer(FakeRasa().app())
        await rasa.start_server()
        settings = Settings(database_url=database_url, rasa_url=str(rasa.make_url("")).rstrip("/"), demo_mode=True)
        app = create_app(settings, handoff_settings())
        client = TestClient(TestServer(app))
        await client.start_server()
        sessions = await cls._log_in(client)
        routes = sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                         if r.resource is not None and r.method != "HEAD"})  # HEAD: drawn as a variation  # fmt: skip
        return cls(client, rasa, sessions, routes)

    @staticmethod
    async def _log_in(client: TestClient) -> Sessions:
        """A customer who asked for a human, and rm001 who took the conversation."""
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as rm, \
                aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as customer:  # fmt: skip
            login = await rm.post(client.make_url("/console/api/login"), json={"login": "rm001", "password": PASSWORD})
            assert login.status == 200, await login.text()
            csrf = (await login.json())["csrf"]
            assert (await customer.post(client.make_url("/api/session"), json={"persona": PLAIN_WEB_ID})).status == 200
            assert (await customer.post(client.make_url("/api/messages"), json={"text": "我要人工服务"})).status == 200
            with client.app[SESSION_FACTORY]() as s:
                conv_id = s.scalar(select(Conversation.id).where(Conversation.state == "queued"))
            assert conv_id is not None
            take = await rm.post(client.make_url(f"/console/api/conversations/{conv_id}/take"),
                                 headers={"X-CSRF-Token": csrf})  # fmt: skip
            assert take.status == 200
            web_cookie = next(f"bc_web={c.value}" for c in customer.cookie_jar if c.key == "bc_web")
            console_cookie = next(f"bc_console={c.value}" for c in rm.cookie_jar if c.key == "bc_console")
        return Sessions(web_cookie.encode(), console_cookie.encode(), csrf.encode(), conv_id)

    def headers(self, *, web_chat: bool = False, console: bool = False) -> dict[str, str]:
        cookies = [self.sessions.web_cookie.decode()] if web_chat else []
        cookies += [self.sessions.console_cookie.decode()] if console else []
        out = {"Cookie": "; ".join(cookies)} if cookies else {}
        return {**out, "X-CSRF-Token": self.sessions.csrf.decode()} if console else out

    async def still_works(self) -> None:
        """A customer can chat and the RM can load the console list, as before the fuzzing."""
        async with aiohttp.ClientSession() as http:
            sent = await http.post(self.client.make_url("/api/messages"), json={"text": "你好，我想查一下利率"},
                                   headers=self.headers(web_chat=True))  # fmt: skip
            assert sent.status == 200, await sent.text()
            texts = [m["text"] for m in (await sent.json())["messages"]]
            assert "你好，我想查一下利率" in texts
            listing = await http.get(self.client.make_url("/console/api/conversations"),
                                     headers=self.headers(console=True))  # fmt: skip
            assert listing.status == 200, await listing.text()
            assert "conversations" in await listing.json()

    async def close(self) -> None:
        await self.client.close()
        await self.rasa.close()


@pytest.fixture
def running(db_url: str) -> Iterator[tuple[asyncio.Runner, Gateway]]:  # noqa: F811
    """A gateway on its own event loop: Hypothesis calls synchronous tests, each example runs on it."""
    with asyncio.Runner() as runner:
        gw = runner.run(Gateway.start(db_url))
        try:
            yield runner, gw
        finally:
            runner.run(gw.close())


FUZZ = settings(
    deadline=None,
    derandomize=True,  # the same examples every run: no flakiness, and a failure reproduces
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


def test_every_route_of_the_gateway_answers_any_input_without_a_5xx(
    running: tuple[asyncio.Runner, Gateway], server_errors: ServerErrors
) -> None:
    runner, gw = running
    assert len(gw.routes) >= 20  # the whole app: web chat, console, campaigns, WeChat, health, metrics
    seen: set[tuple[str, str]] = set()

    @settings(FUZZ, max_examples=HTTP_EXAMPLES)
    @given(req=requests(gw.routes, gw.sessions))
    def check(req: Request) -> None:
        status, body = runner.run(
            raw_request(gw.client, req.method, req.target, req.headers, req.body, upgrade=req.upgrade)
        )
        seen.add((req.method, req.route))
        assert status != 0, f"no answer to {req}"
        assert status < 500 or (req.route, status) in EXPECTED_5XX, (status, body[:300], req)
        assert not server_errors.records, (server_errors.records, req)

    check()
    assert len(seen) >= len(gw.routes) * 3 // 4, sorted(set(gw.routes) - seen)  # most routes were reached
    runner.run(asyncio.sleep(0.3))  # upgraded sockets notice their close
    assert not server_errors.records
    runner.run(gw.still_works())


def test_web_sockets_survive_any_message(
    running: tuple[asyncio.Runner, Gateway], server_errors: ServerErrors
) -> None:
    runner, gw = running

    async def connect() -> tuple[aiohttp.ClientSession, aiohttp.ClientWebSocketResponse, aiohttp.ClientWebSocketResponse]:
        http = aiohttp.ClientSession()
        chat = await http.ws_connect(gw.client.make_url("/ws"), headers=gw.headers(web_chat=True))
        console = await http.ws_connect(gw.client.make_url("/console/ws"), headers=gw.headers(console=True))
        return http, chat, console

    http, chat, console = runner.run(connect())
    sent: list[bytes] = []
    try:

        @settings(FUZZ, max_examples=SOCKET_EXAMPLES)
        @given(messages=st.lists(socket_messages, min_size=1, max_size=4), to_console=st.booleans())
        def check(messages: list[bytes], to_console: bool) -> None:
            ws = console if to_console else chat
            for m in messages:
                sent.append(m)
                runner.run(ws.send_str(m.decode("ascii")))  # JSON with ensure_ascii: \ud800 stays an escape

        check()

        async def alive() -> None:
            await asyncio.sleep(1.5)  # one more database poll with whatever the messages set
            assert not chat.closed and not console.closed, sent[-10:]
            async with aiohttp.ClientSession() as poster:
                resp = await poster.post(gw.client.make_url("/api/messages"), json={"text": "还在吗"},
                                         headers=gw.headers(web_chat=True))  # fmt: skip
                assert resp.status == 200
            await console.send_json({"watch": gw.sessions.conv_id, "after": 0})
            # The chat socket pushes the new message unless a fuzzed cursor (up to 2**63-1) is past it;
            # either way it must still be open: no close frame, no error.
            while True:
                try:
                    msg = await chat.receive(timeout=3)
                except TimeoutError:
                    break
                assert msg.type == aiohttp.WSMsgType.TEXT, (msg, sent[-10:])
                if json.loads(msg.data)["text"] == "还在吗":
                    break
            for _ in range(10):  # the console socket answers a valid watch with the transcript
                data = await console.receive_json(timeout=10)
                if (data.get("watch") or {}).get("id") == gw.sessions.conv_id:
                    break
            else:
                pytest.fail("the console socket no longer answers")

        runner.run(alive())
        assert not server_errors.records, (server_errors.records, sent[-10:])
        runner.run(gw.still_works())
    finally:
        runner.run(chat.close())
        runner.run(console.close())
        runner.run(http.close())
