"""Web chat in a browser: the rate limit's line is shown as the bot's, and 退出 leaves nothing on screen.

Real gateway app with a fake Rasa on a test server; Debian's chromium through Playwright's async API.
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from core.settings import Settings
from gateway.webchat import TOO_FAST
from tests.browser.test_console import CHROMIUM_ARGS
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    FakeRasa,
    db_url,
    fake_rasa,
    handoff_settings,
    template_db,
)

pytestmark = pytest.mark.browser


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@pytest.fixture
async def limited(db_url: str, fake_rasa: tuple[FakeRasa, str]) -> AsyncIterator[TestClient]:
    from gateway.app import create_app

    settings = Settings(database_url=db_url, rasa_url=fake_rasa[1], demo_mode=True, webchat_limit_messages="2/600")
    client = TestClient(TestServer(create_app(settings, handoff_settings())))
    await client.start_server()
    yield client
    await client.close()


async def test_too_fast_is_a_bot_line_and_log_out_clears_the_screen(chromium: Any, limited: TestClient) -> None:
    base = str(limited.make_url("")).rstrip("/")
    ctx = await chromium.new_context(locale="zh-CN")
    try:
        page = await ctx.new_page()
        await page.goto(base + "/")
        await page.get_by_role("button", name="张先生").click()
        await page.wait_for_selector("#composer")
        for text in ("我卡里还有多少钱", "你好", "在吗"):
            await page.fill("#text", text)
            await page.press("#text", "Enter")
            await page.locator(f".msg.in .bubble >> text={text}").or_(
                page.locator(f".msg.bot .bubble >> text={TOO_FAST}")
            ).first.wait_for()
        await page.locator(f".msg.bot .bubble >> text={TOO_FAST}").wait_for()
        assert await page.locator(".msg.system").count() == 0  # not "消息发送失败"

        assert await page.locator("#logout").is_visible()
        await page.click("#logout")
        await page.locator("#picker").wait_for()  # back to the start: the demo's persona picker
        assert await page.locator(".msg").count() == 0
        assert "bc_web" not in {c["name"] for c in await ctx.cookies()}
    finally:
        await ctx.close()
