"""Hostile HTTP requests against the whole gateway: strategies, a raw client and a running gateway.

Shared by ``tests/gateway/test_no_5xx.py`` (a few hundred examples in ``make test``) and
``bench/fuzz.py`` (thousands, with cases per second and violations per surface). A request is
drawn for a route of ``app.router.routes()``: its placeholders, query string, cookies (valid,
absent or junk, non-ASCII bytes included), CSRF header, content type, a few other headers and
a body (JSON objects with the fields the gateway reads, holding lone surrogates, NUL, huge
integers, floats, lists, NaN; or raw bytes, deep nesting, oversized bodies). It is sent byte for
byte over a socket, because aiohttp's client would refuse the worst of it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import strategies as st
from sqlalchemy import select

from core.settings import Settings
from crm.models import Conversation
from crm.models.conversations import ConversationState
from gateway.handoff.settings import HandoffSettings
from gateway.keys import SESSION_FACTORY
from gateway.rate_limit import NO_LIMITS

PASSWORD = "bankcare-demo"  # the demo seed's console password
CUSTOMER = "demo-zhangjianhua"  # a demo persona the seed binds (branch 1, RM rm001)
# Designed 5xx answers: readiness says 503 while a dependency (the action server) is down.
EXPECTED_5XX = {("/readyz", 503)}

# --- strategies -----------------------------------------------------------------------------------

BIG = [2**63 - 1, 2**63, 2**64, 10**30, -(2**63), -1, 0, 1]
any_text = st.text(st.characters(blacklist_categories=()), max_size=30)  # lone surrogates included
numbers = st.one_of(st.sampled_from(BIG), st.integers(), st.integers(min_value=2**62, max_value=2**200))
floats = st.floats(allow_nan=True, allow_infinity=True)
# What broke the gateway before (issue #19), drawn often so that every run meets each of them.
NASTY: list[Any] = ["\ud800", "a\udfffb", "\x00", "", " ", 2**63, 10**30, -1, 1e30, float("inf"), float("nan"),
                    [], {}, [1], True, "9223372036854775808", CUSTOMER]  # fmt: skip
nasty = st.sampled_from(NASTY)
leaves = st.one_of(nasty, nasty, st.none(), st.booleans(), numbers, floats, any_text)
json_values = st.recursive(leaves, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(any_text, inner, max_size=3),
                           max_leaves=8)  # fmt: skip
FIELDS = ["text", "after", "persona", "login", "password", "rm_id", "key", "code", "watch", "id"]
fields = st.sampled_from(FIELDS)
json_objects = st.dictionaries(st.one_of(fields, fields, fields, any_text), st.one_of(leaves, json_values), max_size=4)


def encode_json(doc: Any) -> bytes:
    # ensure_ascii writes lone surrogates as \ud800 escapes; NaN and Infinity as the bare words.
    return json.dumps(doc, ensure_ascii=True, allow_nan=True).encode()


bodies = st.one_of(
    json_objects.map(encode_json),
    json_values.map(encode_json),
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
socket_messages = st.one_of(
    json_objects.map(encode_json),
    st.fixed_dictionaries({"watch": st.one_of(leaves, json_values)}, optional={"after": json_values}).map(encode_json),
    st.fixed_dictionaries({"after": st.one_of(leaves, json_values)}).map(encode_json),
    json_values.map(encode_json),
    st.sampled_from([b"[" * 3000, b"NaN", b"", b"{"]),
)


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


def _fill(route: str, draw: st.DrawFn, sessions: Sessions) -> str:
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
    """One hostile request for one of ``routes`` ((method, pattern) pairs)."""
    # State-changing routes are drawn three times as often: that is where bodies are read and stored.
    method, route = draw(st.sampled_from([r for r in routes for _ in range(3 if r[0] == "POST" else 1)]))
    if draw(st.integers(0, 14)) == 0:  # now and then HEAD, or a method the route does not take
        method = draw(st.sampled_from(["HEAD", "PUT", "DELETE", "OPTIONS", "PATCH"]))
    path = _fill(route, draw, sessions)
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


def routes_of(app: web.Application) -> list[tuple[str, str]]:
    """Every (method, pattern) the app serves; HEAD is drawn as a variation of the others."""
    return sorted({(r.method, r.resource.canonical) for r in app.router.routes()
                   if r.resource is not None and r.method != "HEAD"})  # fmt: skip


def is_violation(route: str, status: int) -> bool:
    """A 5xx that is not a designed answer, or no answer at all."""
    return status == 0 or (status >= 500 and (route, status) not in EXPECTED_5XX)


# --- a raw client ---------------------------------------------------------------------------------

UPGRADE = [(b"Connection", b"Upgrade"), (b"Upgrade", b"websocket"), (b"Sec-WebSocket-Version", b"13")]


async def raw_request(
    client: TestClient,
    method: str,
    target: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    body: bytes = b"",
    timeout_s: float = 20.0,
    upgrade: bool = False,
) -> tuple[int, bytes]:
    """Send one request exactly as given and return (status, body); the connection is closed after it.

    With ``upgrade`` the request asks for a WebSocket; a ``101`` is returned at once (the socket is
    then closed, which ends the server's handler), anything else with its body. Status 0: the
    server closed the connection without answering.
    """
    host, port = client.server.host, client.server.port
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = [method.encode() + b" " + target + b" HTTP/1.1", f"Host: {host}:{port}".encode()]
        head += [name + b": " + value for name, value in headers or []]
        if upgrade:
            head += [name + b": " + value for name, value in UPGRADE]
            head.append(b"Sec-WebSocket-Key: " + base64.b64encode(os.urandom(16)))
        else:
            head.append(b"Connection: close")
        if body or method in ("POST", "PUT", "PATCH"):
            head.append(f"Content-Length: {len(body)}".encode())
        writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
        await writer.drain()
        return await asyncio.wait_for(_read_response(reader, method), timeout_s)
    finally:
        writer.close()


async def _read_response(reader: asyncio.StreamReader, method: str) -> tuple[int, bytes]:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionResetError):
        return 0, b""
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split()
    status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    fields_ = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines if ln)}
    if status == 101 or method == "HEAD" or status in (204, 304):
        return status, b""
    if "content-length" in fields_:
        return status, await reader.readexactly(int(fields_["content-length"]))
    if fields_.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int((await reader.readline()).split(b";")[0].strip() or b"0", 16)
            chunk = await reader.readexactly(size + 2)
            if size == 0:
                return status, body
            body += chunk[:-2]
    return status, await reader.read()


# --- the gateway under test -----------------------------------------------------------------------


class ServerErrors(logging.Handler):
    """Unhandled exceptions the server logged (a 500, or a crash after a WebSocket upgrade)."""

    LOGGERS = ("aiohttp.server", "aiohttp.web", "asyncio")

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        exc = record.exc_info[1] if record.exc_info else None
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            return  # aiohttp's own 400 for a malformed request line or header: logged, but answered
        self.records.append(f"{record.name}: {record.getMessage()} {exc!r}"[:300])

    @contextmanager
    def attached(self) -> Iterator[ServerErrors]:
        loggers = [logging.getLogger(name) for name in self.LOGGERS]
        for logger in loggers:
            logger.addHandler(self)
        try:
            yield self
        finally:
            for logger in loggers:
                logger.removeHandler(self)


def fake_rasa() -> web.Application:
    """Rasa's REST channel and tracker API answering at once; "人工" asks for a human."""

    async def webhook(request: web.Request) -> web.Response:
        body = await request.json()
        if "人工" in body["message"]:
            return web.json_response([{"custom": {"handoff": {"reason": "request_human", "priority": 0}}}])
        return web.json_response([{"recipient_id": body["sender"], "text": "小农收到，请问还有什么可以帮您？"}])

    async def ok(_request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def parse(request: web.Request) -> web.Response:
        text = (await request.json())["text"]
        return web.json_response({"text": text, "intent": {"name": "out_of_scope", "confidence": 0.9}, "entities": []})

    async def root(_request: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: 3.6.21")

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", webhook)
    app.router.add_post("/conversations/{sender}/tracker/events", ok)
    app.router.add_post("/model/parse", parse)
    app.router.add_get("/", root)
    return app


def seeded_database(directory: Path) -> str:
    """A migrated SQLite demo bank (50 customers) in ``directory``; its URL."""
    import crm.models  # noqa: F401 - every table on Base.metadata
    from core.db import make_engine
    from crm.demo.seed import seed_demo_bank
    from crm.migrate import upgrade
    from crm.models.base import Base

    url = f"sqlite:///{directory / 'fuzz.db'}"
    upgrade(url)
    engine = make_engine(url)
    seed_demo_bank(engine, customers=50)
    Base.metadata.create_all(engine)  # models newer than the migrations (work in progress) too
    engine.dispose()
    return url


@contextmanager
def temporary_database() -> Iterator[str]:
    directory = Path(tempfile.mkdtemp(prefix="bankcare-fuzz-"))
    try:
        yield seeded_database(directory)
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@dataclass
class Gateway:
    """The real gateway app (``create_app``) on a test server, a fake Rasa, and logged-in users."""

    client: TestClient
    rasa: TestServer
    sessions: Sessions
    routes: list[tuple[str, str]] = field(default_factory=list)

    @classmethod
    async def start(cls, database_url: str) -> Gateway:
        from gateway.app import create_app

        rasa = TestServer(fake_rasa())
        await rasa.start_server()
        # Thousands of generated requests from one address and one chat cookie: the web chat's rate
        # limits are off here (429 is no 5xx, but ``still_works`` must chat afterwards); they have
        # their own tests (tests/gateway/test_webchat_limits.py).
        settings = Settings(
            database_url=database_url, rasa_url=str(rasa.make_url("")).rstrip("/"), demo_mode=True, **NO_LIMITS
        )
        # Working hours all day, so that the outcome does not depend on the clock; no sweeper noise.
        handoff = HandoffSettings(work_start="00:00", work_end="23:59", sweep_interval_s=3600.0)
        app = create_app(settings, handoff)
        client = TestClient(TestServer(app))
        await client.start_server()
        return cls(client, rasa, await cls._log_in(client), routes_of(app))

    @staticmethod
    async def _log_in(client: TestClient) -> Sessions:
        """A customer who asked for a human, and rm001 who took the conversation."""
        jar = aiohttp.CookieJar
        async with aiohttp.ClientSession(cookie_jar=jar(unsafe=True)) as rm, \
                aiohttp.ClientSession(cookie_jar=jar(unsafe=True)) as customer:  # fmt: skip
            login = await rm.post(client.make_url("/console/api/login"), json={"login": "rm001", "password": PASSWORD})
            assert login.status == 200, await login.text()
            csrf = (await login.json())["csrf"]
            assert (await customer.post(client.make_url("/api/session"), json={"persona": CUSTOMER})).status == 200
            assert (await customer.post(client.make_url("/api/messages"), json={"text": "我要人工服务"})).status == 200
            with client.app[SESSION_FACTORY]() as s:
                conv_id = s.scalar(select(Conversation.id).where(Conversation.state == ConversationState.QUEUED))
            assert conv_id is not None
            take = await rm.post(client.make_url(f"/console/api/conversations/{conv_id}/take"),
                                 headers={"X-CSRF-Token": csrf})  # fmt: skip
            assert take.status == 200, await take.text()
            web_cookie = next(f"bc_web={c.value}" for c in customer.cookie_jar if c.key == "bc_web")
            console_cookie = next(f"bc_console={c.value}" for c in rm.cookie_jar if c.key == "bc_console")
        return Sessions(web_cookie.encode(), console_cookie.encode(), csrf.encode(), conv_id)

    def headers(self, *, web_chat: bool = False, console: bool = False) -> dict[str, str]:
        cookies = [self.sessions.web_cookie.decode()] if web_chat else []
        cookies += [self.sessions.console_cookie.decode()] if console else []
        out = {"Cookie": "; ".join(cookies)} if cookies else {}
        return {**out, "X-CSRF-Token": self.sessions.csrf.decode()} if console else out

    async def send(self, req: Request) -> tuple[int, bytes]:
        return await raw_request(self.client, req.method, req.target, req.headers, req.body, upgrade=req.upgrade)

    async def still_works(self) -> str:
        """Empty if a customer can chat and the RM can load the console list as before; else what failed."""
        async with aiohttp.ClientSession() as http:
            sent = await http.post(self.client.make_url("/api/messages"), json={"text": "你好，我想查一下利率"},
                                   headers=self.headers(web_chat=True))  # fmt: skip
            if sent.status != 200:
                return f"web chat message: HTTP {sent.status} {(await sent.text())[:200]}"
            if "你好，我想查一下利率" not in [m["text"] for m in (await sent.json())["messages"]]:
                return "web chat message not in the answer"
            listing = await http.get(self.client.make_url("/console/api/conversations"),
                                     headers=self.headers(console=True))  # fmt: skip
            if listing.status != 200 or "conversations" not in await listing.json():
                return f"console list: HTTP {listing.status} {(await listing.text())[:200]}"
        return ""

    async def close(self) -> None:
        await self.client.close()
        await self.rasa.close()


@contextmanager
def running_gateway(database_url: str) -> Iterator[tuple[asyncio.Runner, Gateway]]:
    """A gateway on its own event loop, for synchronous Hypothesis tests: each example runs on it."""
    with asyncio.Runner() as runner:
        gateway = runner.run(Gateway.start(database_url))
        try:
            yield runner, gateway
        finally:
            runner.run(gateway.close())
