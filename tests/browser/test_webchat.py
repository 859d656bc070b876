"""A customer opens the web chat in a real browser, picks a demo customer and asks for the balance."""

from __future__ import annotations

from typing import Any

import pytest

from crm.demo.catalogue import PERSONAS
from tests.e2e.test_skeleton import expected_balances

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


async def test_webchat_balance_in_browser(browser: Any, stack: Any, tmp_path: Any) -> None:
    masked, amount, full = expected_balances(stack, PERSONAS[0].phone)[0]
    page = await browser.new_page(locale="zh-CN")
    try:
        await page.goto(stack.gateway_url + "/")
        await page.get_by_role("button", name="张先生").click()
        await page.wait_for_selector("#composer")
        await page.fill("#text", "你好")
        await page.press("#text", "Enter")
        await page.wait_for_selector(".msg.out .bubble >> text=您好")
        await page.fill("#text", "我卡里还有多少钱")
        await page.click("#send")
        # The answer names the account by its tail and shows its balance (other bubbles, such as a care
        # reminder pushed to the same persona, may also name the tail).
        bubble = page.locator(".msg.out .bubble", has_text=masked).filter(has_text=amount).last
        await bubble.wait_for(timeout=30_000)
        text = await bubble.inner_text()
        assert amount in text and full not in text
        # History survives a reload.
        await page.reload()
        await page.wait_for_selector(f".msg.out .bubble >> text={masked}")
        await page.screenshot(path=str(tmp_path / "webchat.png"))
    finally:
        await page.close()
