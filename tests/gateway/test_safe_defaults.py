"""Finding 7 of #19: hardening headers on every page, and no public secret on a reachable gateway."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from core.settings import Settings
from crm.migrate import upgrade
from gateway.app import create_app
from gateway.security_headers import CONTENT_SECURITY_POLICY

ROOT = Path(__file__).resolve().parents[2]


async def start(tmp_path: Path, public_url: str) -> TestClient[Any, Any]:
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    client = TestClient(TestServer(create_app(Settings(database_url=url, public_url=public_url))))
    await client.start_server()
    return client


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[TestClient[Any, Any]]:
    client = await start(tmp_path, "http://localhost:8080")
    yield client
    await client.close()


@pytest.mark.parametrize("path", ["/", "/console", "/console/campaigns"])
async def test_every_page_forbids_framing_inline_script_and_sniffing(gateway: TestClient[Any, Any], path: str) -> None:
    resp = await gateway.get(path)
    assert resp.status == 200 and resp.content_type == "text/html"
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "same-origin"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert "Strict-Transport-Security" not in resp.headers  # plain http: HSTS would mean nothing


async def test_the_pages_need_nothing_the_policy_forbids(gateway: TestClient[Any, Any]) -> None:
    """No inline script, style or handler in any page; every script and style sheet is our own."""
    pages = [ROOT / "gateway" / "static" / "webchat.html", *(ROOT / "gateway" / "console" / "static").glob("*.html")]
    for page in pages:
        html = page.read_text(encoding="utf-8")
        assert "<style" not in html and " style=" not in html, page
        assert all("src=" in tag.split(">")[0] for tag in html.split("<script")[1:]), page
        assert " on" not in html.replace("<script", "").split("<body")[1].split(">")[0], page
    assert "style-src 'self'" in CONTENT_SECURITY_POLICY and "connect-src 'self'" in CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("path", ["/static/webchat.js", "/healthz", "/no-such-page", "/metrics"])
async def test_nosniff_on_everything_else(gateway: TestClient[Any, Any], path: str) -> None:
    resp = await gateway.get(path)
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Security-Policy" not in resp.headers or resp.content_type == "text/html"


async def test_hsts_when_the_public_address_is_https(tmp_path: Path) -> None:
    client = await start(tmp_path, "https://kefu.example-bank.cn")
    try:
        for path in ("/", "/static/webchat.css", "/healthz"):
            resp = await client.get(path)
            assert resp.headers["Strict-Transport-Security"].startswith("max-age=31536000"), path
    finally:
        await client.close()


# --- development secrets ------------------------------------------------------------------------


def run_gateway(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("WECHAT_", "RASA_", "SESSION_", "GATEWAY_"))}
    return subprocess.run(
        [sys.executable, "-m", "gateway"], env={**base, "GATEWAY_PORT": "1", **env},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip


def test_the_gateway_refuses_a_public_address_with_development_secrets() -> None:
    result = run_gateway({"GATEWAY_HOST": "0.0.0.0"})  # noqa: S104 - what is being refused
    assert result.returncode != 0
    for name in ("SESSION_SECRET", "WECHAT_TOKEN", "WECHAT_ENCODING_AES_KEY", "WECHAT_APP_SECRET", "RASA_TOKEN"):
        assert name in result.stderr, name
    assert "dev-only" not in result.stderr and "bankcare-dev" not in result.stderr  # names only, no values


async def test_the_public_development_secret_signs_no_web_chat_cookie_outside_demo_mode(tmp_path: Path) -> None:
    """Second probe of #19: with DEMO_MODE unset, a cookie signed with the repository's SESSION_SECRET
    opened a demo customer's account (balances); now such a gateway signs with a secret of its own."""
    from gateway.webchat import COOKIE, _sign

    public = Settings().session_secret
    url = f"sqlite:///{tmp_path / 'gw.db'}"
    upgrade(url)
    for demo, opens in ((False, False), (True, True)):
        client = TestClient(TestServer(create_app(Settings(database_url=url, demo_mode=demo))))
        await client.start_server()
        try:
            forged = {COOKIE: _sign(public, "demo-zhangjianhua")}
            resp = await client.get("/api/messages", cookies=forged)
            assert (resp.status == 200) is opens, (demo, resp.status)
            own = await client.post("/api/session", json={})  # the gateway's own cookies still work
            assert own.status == 200
            assert (await client.get("/api/messages")).status == 200
        finally:
            await client.close()


@pytest.mark.parametrize("path", ["/", "/console", "/console/tickets", "/api/messages", "/console/api/me",
                                  "/console/api/conversations/1", "/healthz", "/no-such-page"])
async def test_nothing_but_static_files_is_stored_in_a_browser_cache(gateway: TestClient[Any, Any], path: str) -> None:
    """Probe: console and chat answers (transcripts, customer panels, CSRF tokens) had no Cache-Control,
    so a shared branch PC's disk cache or back button kept them for the next person."""
    resp = await gateway.get(path)
    assert resp.headers["Cache-Control"] == "no-store", (path, resp.status)


async def test_a_web_chat_session_and_its_messages_are_not_cached(gateway: TestClient[Any, Any]) -> None:
    resp = await gateway.post("/api/session", json={})
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"
    resp = await gateway.get("/api/messages")
    assert resp.status == 200 and resp.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("path", ["/static/webchat.js", "/console/static/console.js"])
async def test_static_files_stay_cacheable(gateway: TestClient[Any, Any], path: str) -> None:
    resp = await gateway.get(path)
    assert resp.status == 200 and "no-store" not in resp.headers.get("Cache-Control", "")
