"""The SMS sandbox on a free port, a callback server standing in for the gateway, and both SDKs."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from outbound.sms.aliyun import AliyunSms
from outbound.sms.config import SandboxAccount
from outbound.sms.sandbox.app import SmsSandbox, SmsSandboxSettings
from outbound.sms.sandbox.runner import sandbox_in_thread
from outbound.sms.templates import TemplateBook, load_templates
from outbound.sms.tencent import TencentSms


class Clock:
    """The sandbox's clock for frequency limits, moved by the test."""

    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


class CallbackServer:
    """Records what is POSTed to it, by path."""

    def __init__(self) -> None:
        self.received: dict[str, list[Any]] = {}
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._ready = threading.Event()

    async def _record(self, request: web.Request) -> web.Response:
        self.received.setdefault(request.path, []).append(await request.json())
        return web.json_response({"result": 0, "errmsg": "OK"})

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._record)
        self._runner = web.AppRunner(app, access_log=None)

        async def start() -> None:
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
            self._ready.set()

        self._loop.run_until_complete(start())
        self._loop.run_forever()
        self._loop.run_until_complete(self._runner.cleanup())
        self._loop.close()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10)

    def stop(self) -> None:
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def wait_for(self, path: str, count: int = 1, timeout: float = 15.0) -> list[Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if len(self.received.get(path, [])) >= count:
                break
            time.sleep(0.02)
        return self.received.get(path, [])


@pytest.fixture
def callbacks() -> Iterator[CallbackServer]:
    server = CallbackServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def book() -> TemplateBook:
    return load_templates()


@pytest.fixture
def account() -> SandboxAccount:
    return SandboxAccount()


@pytest.fixture
def sandbox(callbacks: CallbackServer, clock: Clock) -> Iterator[tuple[str, SmsSandbox]]:
    settings = SmsSandboxSettings(gateway_url=callbacks.url, report_delay_s=0, clock=clock)
    with sandbox_in_thread(settings) as running:
        yield running


@pytest.fixture
def tencent(sandbox: tuple[str, SmsSandbox], account: SandboxAccount, book: TemplateBook) -> TencentSms:
    return TencentSms(
        secret_id=account.tencent_secret_id, secret_key=account.tencent_secret_key,
        sdk_app_id=account.tencent_sdk_app_id, sign_name=book.signature, endpoint=sandbox[0], timeout_s=20,  # generous: a loaded CI machine, not a slow provider
    )


@pytest.fixture
def aliyun(sandbox: tuple[str, SmsSandbox], account: SandboxAccount, book: TemplateBook) -> AliyunSms:
    return AliyunSms(
        access_key_id=account.aliyun_access_key_id, access_key_secret=account.aliyun_access_key_secret,
        sign_name=book.signature, endpoint=sandbox[0], timeout_s=20,  # generous: a loaded CI machine, not a slow provider
    )
