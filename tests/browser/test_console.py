"""An RM takes a queued conversation in the console; the customer sees the reply in the web chat.

The gateway is the real app (with a fake Rasa answering canned REST outputs) served from a
background thread, because Playwright's sync API owns the test's thread.
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiohttp import web

from bankcare.settings import Settings
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PASSWORD,
    FakeRasa,
    db_url,
    handoff_settings,
    template_db,
)

pytestmark = pytest.mark.browser


class ServedGateway:
    """Gateway + fake Rasa on free ports, in their own event loop thread."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.url = ""
        self.runners: list[web.AppRunner] = []
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def _serve(self, app: web.Application) -> str:
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        self.runners.append(runner)
        host, port = runner.addresses[0][:2]
        return f"http://{host}:{port}"

    async def _start(self) -> None:
        from gateway.app import create_app

        rasa_url = await self._serve(FakeRasa().app())
        settings = Settings(database_url=self.database_url, rasa_url=rasa_url, demo_mode=True)
        self.url = await self._serve(create_app(settings, handoff_settings(sweep_interval_s=1.0)))
        self.ready.set()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_until_complete(self._start())
        self.loop.run_forever()

    def __enter__(self) -> ServedGateway:
        self.thread.start()
        assert self.ready.wait(30), "gateway did not start"
        return self

    def __exit__(self, *_exc: object) -> None:
        async def stop() -> None:
            for runner in reversed(self.runners):
                await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), self.loop).result(30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def served(db_url: str) -> Iterator[ServedGateway]:  # noqa: F811
    with ServedGateway(db_url) as gw:
        yield gw


def test_rm_takes_replies_and_hands_back(browser, served: ServedGateway, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    customer_ctx = browser.new_context(locale="zh-CN")
    rm_ctx = browser.new_context(locale="zh-CN")
    try:
        customer = customer_ctx.new_page()
        customer.goto(served.url + "/")
        customer.get_by_role("button", name="张先生").click()
        customer.wait_for_selector("#composer")
        customer.fill("#text", "我要人工服务")
        customer.press("#text", "Enter")
        customer.wait_for_selector(".msg .bubble >> text=转接客户经理")

        rm = rm_ctx.new_page()
        rm.goto(served.url + "/console")
        rm.fill("#login-name", "rm001")
        rm.fill("#login-password", PASSWORD)
        rm.click("#login-submit")
        item = rm.wait_for_selector("#queued li[data-state=queued]", timeout=15_000)
        assert "张*华" in item.inner_text()
        item.click()
        rm.wait_for_selector("#transcript li.customer >> text=我要人工服务")
        assert "张*华" in rm.inner_text("#customer")
        assert "170****8001" in rm.inner_text("#customer")
        rm.click("#take")
        rm.wait_for_selector("#mine li[data-state=agent]", timeout=15_000)
        rm.wait_for_selector("#reply-text:not([disabled])")
        rm.fill("#reply-text", "您好，<b>这个问题</b>我来帮您处理")
        rm.click("#reply-send")
        rm.wait_for_selector("#transcript li.rm >> text=这个问题", timeout=15_000)

        # The customer's page gets the greeting and the reply over its WebSocket, as plain text.
        reply = customer.wait_for_selector(".msg.rm .bubble >> text=我来帮您处理", timeout=15_000)
        assert reply.inner_text() == "您好，<b>这个问题</b>我来帮您处理"

        rm.click("#handback")
        customer.wait_for_selector(".msg .bubble >> text=满意吗", timeout=15_000)
        customer.get_by_role("button", name="5分 非常满意").click()
        customer.wait_for_selector(".msg .bubble >> text=原因或建议", timeout=15_000)
        customer.screenshot(path=str(tmp_path / "customer.png"))
        rm.screenshot(path=str(tmp_path / "console.png"))
    finally:
        customer_ctx.close()
        rm_ctx.close()
