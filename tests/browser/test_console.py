"""An RM takes a queued conversation in the console; the customer sees the reply in the web chat.

The gateway is the real app (with a fake Rasa answering canned REST outputs) on a test server in
the test's event loop; the browser is driven with Playwright's async API so both share that loop
(the session-wide sync browser of tests/browser/conftest.py would leave a loop running for later
async tests).
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from tests.gateway.console.support import (  # noqa: F401 - fixtures
    AUTHENTICATOR,
    PASSWORD,
    db_url,
    enrol_in_page,
    fake_rasa,
    gateway,
    template_db,
)

pytestmark = pytest.mark.browser
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless=new",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


@pytest.fixture
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


async def test_rm_takes_replies_and_hands_back(chromium: Any, gateway: TestClient, tmp_path: Path) -> None:
    base = str(gateway.make_url("")).rstrip("/")
    customer_ctx = await chromium.new_context(locale="zh-CN")
    rm_ctx = await chromium.new_context(locale="zh-CN")
    try:
        customer = await customer_ctx.new_page()
        await customer.goto(base + "/")
        await customer.get_by_role("button", name="张先生").click()
        await customer.wait_for_selector("#composer")
        await customer.fill("#text", "我要人工服务")
        await customer.press("#text", "Enter")
        await customer.wait_for_selector(".msg .bubble >> text=转接客户经理")

        rm = await rm_ctx.new_page()
        await rm.goto(base + "/console")
        await rm.fill("#login-name", "rm001")
        await rm.fill("#login-password", PASSWORD)
        await rm.click("#login-submit")
        item = await rm.wait_for_selector("#queued li[data-state=queued]", timeout=15_000)
        assert "张*华" in await item.inner_text()
        await item.click()
        await rm.wait_for_selector("#transcript li.customer >> text=我要人工服务")
        assert "张*华" in await rm.inner_text("#customer")
        assert "170****8001" in await rm.inner_text("#customer")
        await rm.click("#take")
        await rm.wait_for_selector("#mine li[data-state=agent]", timeout=15_000)
        await rm.wait_for_selector("#reply-text:not([disabled])")
        await rm.fill("#reply-text", "您好，<b>这个问题</b>我来帮您处理")
        await rm.click("#reply-send")
        sent = await rm.wait_for_selector("#transcript li.rm:has-text('这个问题')", timeout=15_000)
        # Its delivery state is shown next to it (web chat: written once, pushed by the page).
        await rm.wait_for_selector("#transcript li.rm:has-text('这个问题') .delivery >> text=已送达", timeout=15_000)
        assert "已送达" in await sent.inner_text()

        # A double click sends once: one key per message, and the button waits for the answer.
        await rm.fill("#reply-text", "请您稍等，我查一下")
        await rm.dblclick("#reply-send")
        await customer.wait_for_selector(".msg.rm .bubble >> text=请您稍等，我查一下", timeout=15_000)
        await rm.wait_for_timeout(2_500)  # two push polls: a second copy would have arrived
        assert await customer.locator(".msg.rm .bubble", has_text="请您稍等，我查一下").count() == 1
        assert await rm.locator("#transcript li.rm", has_text="请您稍等，我查一下").count() == 1

        # The customer's page gets the greeting and the reply over its WebSocket, as plain text.
        reply = await customer.wait_for_selector(".msg.rm .bubble >> text=我来帮您处理", timeout=15_000)
        assert await reply.inner_text() == "您好，<b>这个问题</b>我来帮您处理"

        await rm.click("#handback")
        await customer.wait_for_selector(".msg .bubble >> text=满意吗", timeout=15_000)
        await customer.get_by_role("button", name="5分 非常满意").click()
        await customer.wait_for_selector(".msg .bubble >> text=原因或建议", timeout=15_000)
        await customer.screenshot(path=str(tmp_path / "customer.png"))
        await rm.screenshot(path=str(tmp_path / "console.png"))
    finally:
        await customer_ctx.close()
        await rm_ctx.close()


async def test_supervisor_enrols_a_second_factor_then_logs_in_with_a_code(chromium: Any, gateway: TestClient) -> None:
    base = str(gateway.make_url("")).rstrip("/")
    ctx = await chromium.new_context(locale="zh-CN")
    try:
        page = await ctx.new_page()
        await page.goto(base + "/console")
        await page.fill("#login-name", "sup004")
        await page.fill("#login-password", PASSWORD)
        await page.click("#login-submit")
        # Enrolment only: the QR code and the otpauth:// link, nothing of the console yet.
        await page.wait_for_selector("#enrol:not([hidden]) #totp-qr[src^='data:image/svg+xml']")
        assert await page.is_hidden("#app")
        await page.fill("#enrol-code", "000000")
        await page.click("#enrol-submit")
        await page.wait_for_selector("#enrol-error >> text=验证码不正确")
        await enrol_in_page(page, "sup004")
        await page.wait_for_selector("#tab-stats:not([hidden])")

        await page.click("#logout")
        await page.wait_for_selector("#login-form:not([hidden])")
        await page.fill("#login-name", "sup004")
        await page.fill("#login-password", PASSWORD)
        await page.click("#login-submit")
        await page.wait_for_selector("#code-form:not([hidden])")
        await page.fill("#login-code", await AUTHENTICATOR.code("sup004"))
        await page.click("#code-submit")
        await page.wait_for_selector("#tab-stats:not([hidden])")
    finally:
        await ctx.close()
