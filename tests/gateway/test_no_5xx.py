"""No input gets a 5xx from the gateway (issue #19): Hypothesis against every route of the real app.

One gateway (demo bank, fake Rasa) takes generated paths, query strings, cookies, headers and bodies
(``bench.fuzz_http``, which ``make bench-fuzz`` runs at a larger scale) for every route in
``app.router.routes()``: each credential valid, absent or junk, the console's CSRF token valid,
absent or junk. No answer may be a 5xx (except the designed 503 of ``/readyz`` while the action
server is down), the server may log no unhandled exception, and afterwards a customer can still
chat and the RM can still load the console. Both WebSockets take generated messages and survive.

The examples are derandomised and bounded, so the test is repeatable and takes seconds.
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.fuzz_http import (
    Gateway,
    Request,
    ServerErrors,
    is_violation,
    raw_request,
    requests,
    running_gateway,
    socket_messages,
)
from tests.gateway.console.support import db_url, template_db  # noqa: F401 - fixtures

HTTP_EXAMPLES = 500
SOCKET_EXAMPLES = 40
FUZZ = settings(
    deadline=None,
    derandomize=True,  # the same examples every run: no flakiness, and a failure reproduces
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@pytest.fixture
def server_errors() -> Iterator[ServerErrors]:
    with ServerErrors().attached() as errors:
        yield errors


@pytest.fixture
def running(db_url: str) -> Iterator[tuple[asyncio.Runner, Gateway]]:
    with running_gateway(db_url) as pair:
        yield pair


def test_every_route_of_the_gateway_answers_any_input_without_a_5xx(
    running: tuple[asyncio.Runner, Gateway], server_errors: ServerErrors
) -> None:
    runner, gw = running
    assert len(gw.routes) >= 20  # the whole app: web chat, console, campaigns, WeChat, health, metrics
    seen: set[tuple[str, str]] = set()

    @settings(FUZZ, max_examples=HTTP_EXAMPLES)
    @given(req=requests(gw.routes, gw.sessions))
    def check(req: Request) -> None:
        status, body = runner.run(gw.send(req))
        seen.add((req.method, req.route))
        assert not is_violation(req.route, status), (status, body[:300], req)
        assert not server_errors.records, (server_errors.records, req)

    check()
    assert len(seen) >= len(gw.routes) * 3 // 4, sorted(set(gw.routes) - seen)  # most routes were reached
    runner.run(asyncio.sleep(0.3))  # upgraded sockets notice their close
    assert not server_errors.records
    assert runner.run(gw.still_works()) == ""


def test_web_sockets_survive_any_message(running: tuple[asyncio.Runner, Gateway], server_errors: ServerErrors) -> None:
    runner, gw = running

    async def connect() -> tuple[
        aiohttp.ClientSession, aiohttp.ClientWebSocketResponse, aiohttp.ClientWebSocketResponse
    ]:
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
                if json.loads(msg.data).get("text") == "还在吗":  # status frames (#21) carry no text
                    break
            for _ in range(10):  # the console socket answers a valid watch with the transcript
                data = await console.receive_json(timeout=10)
                if (data.get("watch") or {}).get("id") == gw.sessions.conv_id:
                    break
            else:
                pytest.fail("the console socket no longer answers")

        runner.run(alive())
        assert not server_errors.records, (server_errors.records, sent[-10:])
        assert runner.run(gw.still_works()) == ""
    finally:
        runner.run(chat.close())
        runner.run(console.close())
        runner.run(http.close())


EDGE_IDS = ["0", "-1", "99999999999999999999999", "9223372036854775808", "1e3", "%EF%BC%91", "%00"]
# One body every state-changing route reads something from; the NUL ones are what PostgreSQL refuses.
BODIES = [
    {"status": "won", "outcome": "done", "text": "好的", "rm_id": 1, "answer": "答案", "intent": "faq", "note": "x"},
    {"status": "won", "outcome": "done", "text": "好的", "answer": "a\u0000b", "intent": "x\u0000", "note": "n\u0000"},
]


def test_every_id_route_answers_edge_ids_and_nul_text_without_a_5xx(
    running: tuple[asyncio.Runner, Gateway], server_errors: ServerErrors
) -> None:
    """Probe: POST /console/api/leads/99999999999999999999999/outcome was a 500 (int() then an
    overflowing query; the random paths above had not drawn it), and a NUL in a lead's note or a
    topic's answer reached the database. Every route with an id, as a plain RM and as a supervisor."""
    from tests.gateway.console.support import console_login

    runner, gw = running

    async def supervisor() -> tuple[aiohttp.ClientSession, str]:
        http = aiohttp.ClientSession(base_url=str(gw.client.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
        return http, await console_login(http, "sup004")

    sup, sup_csrf = runner.run(supervisor())
    id_routes = [(m, r) for m, r in gw.routes if "{" in r and not r.endswith("static")]
    assert len(id_routes) >= 10, id_routes

    async def probe() -> list[tuple[str, str, int]]:
        bad = []
        for method, route in id_routes:
            for edge in EDGE_IDS:
                path = re.sub(r"\{\w+\}", edge, route)
                for body in BODIES if method == "POST" else [None]:
                    raw = json.dumps(body).encode() if body is not None else b""
                    headers = [(b"Content-Type", b"application/json")] if body is not None else []
                    rm_headers = [(k.encode(), v.encode()) for k, v in gw.headers(web_chat=True, console=True).items()]
                    status, _ = await raw_request(gw.client, method, path.encode(), rm_headers + headers, raw)
                    if is_violation(route, status):
                        bad.append(("rm001", method + " " + path, status))
                    resp = await sup.request(method, path, data=raw or None,
                                             headers={"X-CSRF-Token": sup_csrf, "Content-Type": "application/json"})  # fmt: skip
                    if is_violation(route, resp.status):
                        bad.append(("sup004", method + " " + path, resp.status))
        return bad

    try:
        assert runner.run(probe()) == []
        assert not server_errors.records, server_errors.records
    finally:
        runner.run(sup.close())
