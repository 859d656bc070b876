"""A supervisor logs in to the console, opens the care campaign report and sees the chart and counts.

The gateway is the real app on a test server in the test's event loop (see test_console.py);
the browser is Debian's chromium driven by Playwright's async API.
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import re
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from care.report import build
from core.db import session_scope
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PASSWORD,
    db_url,
    enrol_in_page,
    fake_rasa,
    gateway,
    template_db,
)
from tests.gateway.console.test_campaigns import CODE, seed_campaign_results

pytestmark = pytest.mark.browser


def _reasons_as_printed(lines: list[str]) -> dict[str, int]:
    """The CLI report's ``    - 原因：数`` lines that follow the counts (the reasons for 未发送), as {reason: count}."""
    start = next(i for i, line in enumerate(lines) if line.startswith("  已退订："))
    out: dict[str, int] = {}
    for line in lines[start + 1:]:
        if not line.startswith("    - "):
            break
        label, count = line[len("    - "):].rsplit("：", 1)
        out[label] = int(count.replace(",", ""))
    return out


async def test_supervisor_sees_campaign_chart_and_counts(browser: Any, gateway: TestClient) -> None:
    expected = await seed_campaign_results(gateway.app[SESSION_FACTORY])
    with session_scope(gateway.app[SESSION_FACTORY]) as s:
        printed_reasons = _reasons_as_printed(build(s, CODE).lines())
    base = str(gateway.make_url("")).rstrip("/")
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(base + "/console")
        await page.fill("#login-name", "sup004")
        await page.fill("#login-password", PASSWORD)
        await page.click("#login-submit")
        await enrol_in_page(page, "sup004")  # supervisors set up their second factor first (#19)
        await page.wait_for_selector("#tab-stats:not([hidden])")

        await page.click("#tab-stats")
        await page.click("#to-campaigns")  # the supervisor view links to the report
        await page.wait_for_url("**/console/campaigns")
        row = await page.wait_for_selector(f"#campaign-table tr[data-code={CODE}]")
        assert await row.inner_text() != ""
        delivered_cell = await row.query_selector("td[data-key=delivered]")
        assert delivered_cell is not None
        assert await delivered_cell.inner_text() == f"{expected['delivered']:,}"
        link = await row.query_selector("a")
        assert link is not None and await link.inner_text() == "节日问候"
        await link.click()

        await page.wait_for_url(f"**/console/campaigns/{CODE}")
        await page.wait_for_selector("#chart svg rect[data-key=delivered]")
        bars = {
            await bar.get_attribute("data-key"): int(await bar.get_attribute("data-value") or -1)
            for bar in await page.query_selector_all("#chart svg rect")
        }
        assert len(bars) == 7
        assert {key: bars[key] for key in expected} == expected
        chart_text = await page.inner_text("#chart")
        for label in ("已送达", "未发送", "失败", "已回复", "已退订"):
            assert label in chart_text
        numbers = await page.inner_text("#numbers")
        assert f"已送达\t{expected['delivered']:,}" in numbers
        assert f"已退订\t{expected['opted_out']}" in numbers
        # The reasons table says in Chinese why each customer was not sent to, with the numbers that
        # ``bankcare care report`` prints for the same campaign (who is reachable depends on consent
        # and channels, so the expected reasons come from the report, not from a fixed word).
        shown = {}
        for tr in await page.query_selector_all("#reasons tbody tr"):
            label = await (await tr.query_selector("th")).inner_text()  # type: ignore[union-attr]
            value = await (await tr.query_selector("td")).inner_text()  # type: ignore[union-attr]
            shown[label] = int(value.replace(",", ""))
        assert shown == printed_reasons
        assert sum(shown.values()) == expected["suppressed"] > 0
        assert not any(re.search("[A-Za-z_]", label) for label in shown), shown
        assert await page.is_hidden("#notice")
    finally:
        await context.close()


async def test_an_rm_is_told_the_report_is_for_supervisors(browser: Any, gateway: TestClient) -> None:
    base = str(gateway.make_url("")).rstrip("/")
    context = await browser.new_context(locale="zh-CN")
    try:
        page = await context.new_page()
        await page.goto(base + "/console/campaigns")
        notice = await page.wait_for_selector("#notice:not([hidden])")
        assert "请先登录" in await notice.inner_text()

        await page.goto(base + "/console")
        await page.fill("#login-name", "rm001")
        await page.fill("#login-password", PASSWORD)
        await page.click("#login-submit")
        await page.wait_for_selector("#app:not([hidden])")
        await page.goto(base + "/console/campaigns")
        notice = await page.wait_for_selector("#notice:not([hidden])")
        assert await notice.inner_text() == "只有主管可以查看关怀活动报表。"
        assert await page.is_hidden("#list")
    finally:
        await context.close()
