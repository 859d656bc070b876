"""Shared fixtures for the handoff and console tests: a seeded demo bank, a fake Rasa, a live gateway.

The demo bank is built once per session (migrations + seed, ~10 s) and copied for every test.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import shutil
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pyotp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

import crm.models  # noqa: F401 - every table on Base.metadata
from core.db import make_engine, make_sessionmaker
from core.settings import Settings
from crm.models import RelationshipManager
from crm.models.base import Base
from gateway.handoff.settings import HandoffSettings

AS_OF = dt.date(2026, 3, 2)
# 2026-03-04 is a Wednesday; 10:00 in Shanghai is inside working hours.
WORKING_NOW = dt.datetime(2026, 3, 4, 2, 0, tzinfo=dt.UTC)
VIP_WEB_ID = "demo-chenguodong"  # AUM > 2 M: 贵宾, branch 5, own RM
PLAIN_WEB_ID = "demo-zhangjianhua"  # 潜力, branch 1
PASSWORD = "bankcare-demo"


class Authenticator:
    """The tests' authenticator app: one TOTP secret per login (learnt at enrolment), no code used twice."""

    def __init__(self) -> None:
        self.secrets: dict[str, str] = {}
        self.used: dict[str, int] = {}  # by secret: the newest step handed out

    def learn(self, login: str, uri: str) -> str:
        self.secrets[login] = parse_qs(urlsplit(uri).query)["secret"][0]
        return self.secrets[login]

    async def code(self, login: str) -> str:
        """A code the server accepts now: the current step, or the next one if that was used already."""
        secret = self.secrets[login]
        totp = pyotp.TOTP(secret)
        while True:
            now = totp.timecode(dt.datetime.now(dt.UTC))
            step = max(now, self.used.get(secret, now - 1) + 1)
            if step <= now + 1:  # the server allows one step of clock drift
                self.used[secret] = step
                return totp.generate_otp(step)
            await asyncio.sleep(1)


AUTHENTICATOR = Authenticator()


async def finish_login(
    http: aiohttp.ClientSession, url: Callable[[str], str], login: str, answer: dict[str, Any]
) -> dict[str, Any]:
    """Complete a password login's answer like the page does: enrol a supervisor, or send the TOTP code.

    Returns the answer of the step that opened the full session (its ``csrf`` is the one to use).
    """
    headers = {"X-CSRF-Token": answer["csrf"]}
    if answer["next"] == "enrol":
        resp = await http.post(url("/console/api/totp/setup"), json={}, headers=headers)
        assert resp.status == 200, await resp.text()
        AUTHENTICATOR.learn(login, (await resp.json())["uri"])
        path = "/console/api/totp/confirm"
    elif answer["next"] == "totp":
        path = "/console/api/login/totp"
    else:
        return answer
    resp = await http.post(url(path), json={"code": await AUTHENTICATOR.code(login)}, headers=headers)
    assert resp.status == 200, await resp.text()
    return dict(await resp.json())


@pytest.fixture
async def http(gateway: TestClient) -> AsyncIterator[aiohttp.ClientSession]:
    """A cookie jar against the test gateway (a module's own ``gateway`` fixture wins), paths relative."""
    session = aiohttp.ClientSession(base_url=str(gateway.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
    yield session
    await session.close()


async def console_login(http: aiohttp.ClientSession, name: str) -> str:
    """Log in on the console, second factor included where due; returns the CSRF token."""
    resp = await http.post("/console/api/login", json={"login": name, "password": PASSWORD})
    assert resp.status == 200, await resp.text()
    return str((await finish_login(http, lambda path: path, name, await resp.json()))["csrf"])


@pytest.fixture
def login_clock(monkeypatch: pytest.MonkeyPatch) -> list[dt.datetime]:
    """Stops the login code's clock at the real now (``clock[0] += ...`` moves it), so backoff waits
    do not run out while a slow, shared machine is still sending a test's attempts."""
    clock = [dt.datetime.now(dt.UTC)]
    monkeypatch.setattr("gateway.console.auth.utcnow", lambda: clock[0])
    monkeypatch.setattr("gateway.console.totp.utcnow", lambda: clock[0])
    return clock


async def enrol_in_page(page: Any, login: str) -> None:
    """In the console page after a supervisor's password: read the otpauth URI shown, type the first code."""
    uri = await page.wait_for_function(
        "() => document.querySelector('#totp-uri').textContent.startsWith('otpauth://')"
        " && document.querySelector('#totp-uri').textContent"
    )
    AUTHENTICATOR.learn(login, await uri.json_value())
    await page.fill("#enrol-code", await AUTHENTICATOR.code(login))
    await page.click("#enrol-submit")


@pytest.fixture(scope="session")
def template_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from crm.demo.seed import seed_demo_bank
    from crm.migrate import upgrade

    path = tmp_path_factory.mktemp("bank") / "template.db"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    seed_demo_bank(engine, customers=50, as_of=AS_OF)
    # The handoff tables may be newer than the migration (the lead regenerates it).
    Base.metadata.create_all(engine)
    engine.dispose()
    return path


@pytest.fixture
def db_url(template_db: Path, tmp_path: Path) -> str:
    path = tmp_path / "bank.db"
    shutil.copy(template_db, path)
    return f"sqlite:///{path}"


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(db_url)
    yield make_sessionmaker(engine)
    engine.dispose()


def rm_by_login(factory: sessionmaker[Session], login: str) -> RelationshipManager:
    with factory() as s:
        rm = s.scalar(select(RelationshipManager).where(RelationshipManager.login == login))
        assert rm is not None
        return rm


def set_online(factory: sessionmaker[Session], login: str, at: dt.datetime, online: bool = True) -> int:
    with factory.begin() as s:
        rm = s.scalar(select(RelationshipManager).where(RelationshipManager.login == login))
        assert rm is not None
        rm.online, rm.last_seen_at = online, at
        return rm.id


@dataclass
class FakeRasa:
    """Canned REST answers: "人工" → handoff payload, "投诉" → complaint handoff, "???" → fallback."""

    events: list[tuple[str, list[dict[str, Any]]]] = field(default_factory=list)
    received: list[str] = field(default_factory=list)

    def answer(self, text: str) -> list[dict[str, Any]]:
        if "人工" in text:
            return [{"custom": {"handoff": {"reason": "request_human", "priority": 0}}}]
        if text.startswith("我要投诉"):
            return [
                {"text": "很抱歉给您带来不便，已记录您的投诉。"},
                {"custom": {"handoff": {"reason": "complaint", "priority": 5}}},
            ]
        if "???" in text:
            return [{"text": "不好意思，我没太明白您的意思。"}, {"custom": {"fallback": True}}]
        return [{"text": f"小农收到：{text}"}]

    def app(self) -> web.Application:
        async def webhook(request: web.Request) -> web.Response:
            body = await request.json()
            self.received.append(body["message"])
            return web.json_response(
                [{"recipient_id": body["sender"], **a} for a in self.answer(body["message"])]
            )

        async def tracker(request: web.Request) -> web.Response:
            events = await request.json()
            if any(e.get("event") == "user" and not isinstance(e.get("parse_data"), dict) for e in events):
                # Rasa 3.6 fails a user event without parse_data with a 500 (AttributeError).
                return web.json_response({"error": "parse_data missing"}, status=500)
            self.events.append((request.match_info["sender"], events))
            return web.json_response({"ok": True})

        async def parse(request: web.Request) -> web.Response:
            text = (await request.json())["text"]
            intent = "request_human" if "人工" in text else "out_of_scope"
            return web.json_response({"text": text, "intent": {"name": intent, "confidence": 0.9}, "entities": []})

        async def root(_request: web.Request) -> web.Response:
            return web.Response(text="Hello from Rasa: 3.6.21")

        app = web.Application()
        app.router.add_post("/webhooks/rest/webhook", webhook)
        app.router.add_post("/conversations/{sender}/tracker/events", tracker)
        app.router.add_post("/model/parse", parse)
        app.router.add_get("/", root)
        return app

    def event_names(self, sender: str) -> list[str]:
        return [e["event"] for s, evs in self.events if s == sender for e in evs]


@pytest.fixture
async def fake_rasa() -> AsyncIterator[tuple[FakeRasa, str]]:
    rasa = FakeRasa()
    server = TestServer(rasa.app())
    await server.start_server()
    yield rasa, str(server.make_url("")).rstrip("/")
    await server.close()


def handoff_settings(**overrides: Any) -> HandoffSettings:
    # Working hours cover the whole day by default so tests do not depend on the clock.
    base: dict[str, Any] = {"work_start": "00:00", "work_end": "23:59", "sweep_interval_s": 3600.0}
    base.update(overrides)
    return HandoffSettings(**base)


@pytest.fixture
async def gateway(db_url: str, fake_rasa: tuple[FakeRasa, str]) -> AsyncIterator[TestClient]:
    """The real gateway app on a test server, talking to the fake Rasa."""
    from gateway.app import create_app

    settings = Settings(database_url=db_url, rasa_url=fake_rasa[1], demo_mode=True)
    app = create_app(settings, handoff_settings())
    client = TestClient(TestServer(app))
    await client.start_server()
    yield client
    await client.close()
