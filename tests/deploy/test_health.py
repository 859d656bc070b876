"""core.health with real probes: a SQLite engine and local aiohttp servers as dependencies."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import create_engine

from core.db import make_engine
from core.health import actions_health_url, database_probe, health_routes, http_probe


def free_port() -> int:
    """A port nothing listens on (bound then released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
async def dependency() -> AsyncIterator[str]:
    """A real HTTP server standing in for Rasa (/) and the action server (/health, /slow, /down)."""

    async def root(_r: web.Request) -> web.Response:
        return web.Response(text="Hello from Rasa: 3.6.21")

    async def health(_r: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def slow(_r: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.Response(text="late")

    async def down(_r: web.Request) -> web.Response:
        return web.Response(status=503, text="not loaded")

    app = web.Application()
    app.router.add_get("/", root)
    app.router.add_get("/health", health)
    app.router.add_get("/slow", slow)
    app.router.add_get("/down", down)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def serve(probes: dict, timeout_s: float = 1.0) -> TestClient:
    app = web.Application()
    app.add_routes(health_routes(probes, timeout_s=timeout_s))
    client = TestClient(TestServer(app))
    await client.start_server()
    return client


async def test_ready_when_every_dependency_answers(tmp_path: Path, dependency: str) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'ok.db'}")
    client = await serve(
        {
            "database": database_probe(engine),
            "rasa": http_probe(f"{dependency}/"),
            "actions": http_probe(actions_health_url(f"{dependency}/webhook")),
        }
    )
    try:
        resp = await client.get("/readyz")
        body = await resp.json()
        assert resp.status == 200, body
        assert body["status"] == "ok"
        assert set(body["checks"]) == {"database", "rasa", "actions"}
        assert all(c["ok"] for c in body["checks"].values())
        assert (await client.get("/healthz")).status == 200
    finally:
        await client.close()
        engine.dispose()


async def test_not_ready_names_failing_checks_without_leaking_addresses(
    tmp_path: Path, dependency: str
) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    # A database that cannot be opened: the directory does not exist.
    broken_engine = create_engine(f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}")
    client = await serve(
        {
            "database": database_probe(broken_engine),
            "rasa": http_probe(f"{dead}/"),
            "actions": http_probe(f"{dependency}/down"),
            "slow": http_probe(f"{dependency}/slow"),
            "fine": http_probe(f"{dependency}/health"),
        },
        timeout_s=0.5,
    )
    try:
        resp = await client.get("/readyz")
        raw = await resp.text()
        body = await resp.json()
        assert resp.status == 503
        assert body["status"] == "fail"
        checks = body["checks"]
        assert checks["database"] == {
            "ok": False,
            "error": "OperationalError",
            "ms": checks["database"]["ms"],
        }
        assert checks["rasa"]["ok"] is False and "Connect" in checks["rasa"]["error"]
        assert checks["actions"]["error"] == "HTTP 503"
        assert checks["slow"]["error"] == "timeout"
        assert checks["fine"]["ok"] is True
        # Liveness does not depend on the dependencies.
        assert (await client.get("/healthz")).status == 200
        for secret in ("127.0.0.1", str(tmp_path), "missing-dir", dead):
            assert secret not in raw
    finally:
        await client.close()
        broken_engine.dispose()


async def test_probe_uses_a_shared_session_when_given(dependency: str) -> None:
    async with aiohttp.ClientSession() as session:
        probe = http_probe(f"{dependency}/health", session=lambda: session)
        await probe()
        with pytest.raises(Exception, match="HTTP 503"):
            await http_probe(f"{dependency}/down", session=lambda: session)()


def test_actions_health_url() -> None:
    assert actions_health_url("http://actions:5055/webhook") == "http://actions:5055/health"
    assert actions_health_url("http://actions:5055/webhook/") == "http://actions:5055/health"
    assert actions_health_url("http://actions:5055") == "http://actions:5055/health"
