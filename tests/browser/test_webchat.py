"""A customer opens the web chat in a real browser, picks a demo customer and asks for the balance."""

from __future__ import annotations

import pytest

from crm.demo.catalogue import PERSONAS
from tests.e2e.test_skeleton import expected_balances

pytestmark = [pytest.mark.browser, pytest.mark.e2e]


def test_webchat_balance_in_browser(browser, stack, tmp_path) -> None:  # type: ignore[no-untyped-def]
    page = browser.new_page(locale="zh-CN")
    try:
        page.goto(stack.gateway_url + "/")
        page.get_by_role("button", name="张先生").click()
        page.wait_for_selector("#composer")
        page.fill("#text", "你好")
        page.press("#text", "Enter")
        page.wait_for_selector(".msg.out .bubble >> text=您好")
        page.fill("#text", "我卡里还有多少钱")
        page.click("#send")
        masked, amount, full = expected_balances(stack, PERSONAS[0].phone)[0]
        bubble = page.wait_for_selector(f".msg.out .bubble >> text={masked}", timeout=30_000)
        text = bubble.inner_text()
        assert amount in text and full not in text
        # History survives a reload.
        page.reload()
        page.wait_for_selector(f".msg.out .bubble >> text={masked}")
        page.screenshot(path=str(tmp_path / "webchat.png"))
    finally:
        page.close()
