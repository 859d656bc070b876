"""How many messages the gateway lets Rasa work on at once, and what waiting does to deadlines."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from gateway.rasa_client import RasaClient, RasaUnavailable, rasa_session


@dataclass
class CountingRasa:
    """A REST channel that takes ``delay_s`` per message and records the most it held at once."""

    delay_s: float
    in_flight: int = 0
    peak: int = 0

    def app(self) -> web.Application:
        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            self.in_flight += 1
            self.peak = max(self.peak, self.in_flight)
            try:
                await asyncio.sleep(self.delay_s)
            finally:
                self.in_flight -= 1
            return web.json_response([{"recipient_id": body["sender"], "text": f"收到：{body['message']}"}])

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        return app


@pytest.fixture
async def counting_rasa() -> AsyncIterator[tuple[CountingRasa, str]]:
    rasa = CountingRasa(delay_s=0.2)
    server = TestServer(rasa.app())
    await server.start_server()
    yield rasa, str(server.make_url("")).rstrip("/")
    await server.close()


async def test_rasa_works_on_at_most_the_configured_number_of_messages(
    counting_rasa: tuple[CountingRasa, str],
) -> None:
    rasa, url = counting_rasa
    async with rasa_session(3) as http:
        client = RasaClient(url, timeout_s=10, session=http)
        answers = await asyncio.gather(*(client.send(f"c{i}", f"问题{i}") for i in range(12)))
    assert rasa.peak == 3
    assert [a[0]["text"] for a in answers] == [f"收到：问题{i}" for i in range(12)]


async def test_waiting_for_a_turn_counts_against_the_deadline(counting_rasa: tuple[CountingRasa, str]) -> None:
    """One at a time, 0.4 s each: the third cannot answer before 1.2 s, past its 1 s deadline."""
    rasa, url = counting_rasa
    rasa.delay_s = 0.4
    async with rasa_session(1) as http:
        client = RasaClient(url, timeout_s=10, session=http)
        results = await asyncio.gather(
            *(client.send(f"c{i}", "你好", timeout_s=1.0) for i in range(3)), return_exceptions=True
        )
    assert isinstance(results[0], list)
    assert isinstance(results[2], RasaUnavailable)
    assert rasa.peak == 1


async def test_every_call_carries_rasas_token() -> None:
    """Rasa runs with --auth-token: the REST channel, /model/parse and tracker writes all need it."""
    seen: list[tuple[str, str | None]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path, request.query.get("token")))
        if request.query.get("token") != "s3cret-token":
            return web.json_response({"reason": "NotAuthenticated"}, status=401)
        return web.json_response([] if "webhook" in request.path or "events" in request.path else {"intent": {}})

    app = web.Application()
    app.router.add_post("/webhooks/rest/webhook", record)
    app.router.add_post("/model/parse", record)
    app.router.add_post("/conversations/{sender}/tracker/events", record)
    server = TestServer(app)
    await server.start_server()
    url = str(server.make_url("")).rstrip("/")
    try:
        async with rasa_session(2) as http:
            client = RasaClient(url, timeout_s=5, session=http, token="s3cret-token")
            assert await client.send("web:1", "你好") == []
            await client.parse("你好")
            await client.append_events("web:1", [])
            with pytest.raises(RasaUnavailable, match="401"):
                await RasaClient(url, timeout_s=5, session=http).send("web:1", "你好")
    finally:
        await server.close()
    assert [token for _, token in seen] == ["s3cret-token"] * 3 + [None]
