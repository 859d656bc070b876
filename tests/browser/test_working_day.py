"""The RM's working day in a real browser, on a desktop and on a 390 px phone (#21).

Work queue (工单), history, urgent flag, clear feedback after hand back, one column with tabs on a
phone, the web chat's "who is serving" and typing indicators both ways, the persona picker, and
the campaign report's outlook and empty state. Every page is checked for text that must be there
and for nothing wider than the viewport. Screenshots go to ``$SCREENSHOT_DIR`` (else tmp_path).
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from care.definitions import load_into_db, read_files
from core.db import session_scope
from crm.access import insights as insights_store
from crm.access.conversations import open_conversation
from crm.models import CallbackTask, ChannelIdentity, RelationshipManager, Survey, SurveyResponse, Ticket
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PASSWORD,
    db_url,
    enrol_in_page,
    fake_rasa,
    gateway,
    template_db,
)

pytestmark = pytest.mark.browser
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
FITS = "document.documentElement.scrollWidth <= window.innerWidth"


def _shots(tmp_path: Path) -> Path:
    where = Path(os.environ.get("SCREENSHOT_DIR") or tmp_path)
    where.mkdir(parents=True, exist_ok=True)
    return where


async def _fits(page: Any, shots: Path, name: str) -> None:
    await page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
    assert await page.evaluate(FITS), f"{name}: something is wider than the viewport"


async def _login(page: Any, base: str, login: str) -> None:
    await page.goto(base + "/console")
    await page.fill("#login-name", login)
    await page.fill("#login-password", PASSWORD)
    await page.click("#login-submit")
    if login.startswith("sup"):
        await enrol_in_page(page, login)
    await page.wait_for_selector("#app:not([hidden])")


CALLBACK_DUE = dt.date(2026, 12, 9)


def _seed_tickets(gateway: TestClient) -> None:
    """An overdue 留言 from an unbound WeChat user (number left on purpose) and a complaint, both rm001's."""
    with session_scope(gateway.app[SESSION_FACTORY]) as s:
        rm = s.query(RelationshipManager).filter_by(login="rm001").one()
        identity = ChannelIdentity(channel="wechat", external_id="o-browser-visitor")
        s.add(identity)
        s.flush()
        past = dt.datetime.now(dt.UTC) - dt.timedelta(days=9)
        s.add(Ticket(ref="LY20261130ABCDEF", identity_id=identity.id, rm_id=rm.id, kind="message", category="留言",
                     content="想办理贷款，请回电17012347006", idempotency_key="b-ly", created_at=past, updated_at=past))
        s.add(Ticket(ref="TS20261207QWERTY", customer_id=1, rm_id=rm.id, kind="complaint", category="投诉",
                     content="柜台排队太久，等了一个多小时还没办上业务", idempotency_key="b-ts"))  # fmt: skip
        # A lead (#23) and a 回访 task (#24) of rm001's, both shown in the work queue.
        conv = open_conversation(s, "web", "browser-lead")
        lead = insights_store.record_lead(s, conv.id, "deposit", ["想", "定期"], "想存个定期，电话17012347006")
        assert lead is not None
        lead.rm_id = rm.id
        survey = Survey(code="browser_csat", name="服务满意度", definition={})
        s.add(survey)
        s.flush()
        response = SurveyResponse(survey_id=survey.id, customer_id=1, delivery_key="b-sv", channel="sms", rm_id=rm.id,
                                  trigger="segment", invited_on=CALLBACK_DUE, expires_at=past)
        s.add(response)
        s.flush()
        s.add(CallbackTask(response_id=response.id, customer_id=1, rm_id=rm.id, scale="csat", score=2,
                           due_on=CALLBACK_DUE))  # fmt: skip


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_work_queue_and_history(
    browser: Any, gateway: TestClient, tmp_path: Path, viewport: dict[str, int]
) -> None:
    _seed_tickets(gateway)
    base = str(gateway.make_url("")).rstrip("/")
    shots = _shots(tmp_path)
    tag = "desktop" if viewport is DESKTOP else "phone"
    context = await browser.new_context(locale="zh-CN", viewport=viewport, timezone_id="UTC")
    try:
        page = await context.new_page()
        await _login(page, base, "rm001")
        await page.click("#to-tickets")
        await page.wait_for_url("**/console/tickets")
        card = await page.wait_for_selector(".ticket:has-text('LY20261130ABCDEF')")
        text = await card.inner_text()
        for words in ("留言", "待处理", "已超时", "170****7006", "微信用户（未绑定）"):
            assert words in text, words
        assert "17012347006" not in await page.inner_text("body")
        assert "open" not in text and "message" not in text  # no stored English value on screen
        await _fits(page, shots, f"tickets-{tag}")
        reveal = await card.query_selector("button.reveal")
        assert reveal is not None
        await reveal.click()
        await page.wait_for_selector(".ticket:has-text('LY20261130ABCDEF') .phone >> text=17012347006")
        assert "已记录本次查看" in await page.inner_text("#notice")
        complaint = page.locator(".ticket:has-text('TS20261207QWERTY')")
        await complaint.locator("textarea.resolution-text").fill("已为您开通优先窗口，下次到网点可直接办理")
        await complaint.locator("button.resolve").click()
        await page.wait_for_selector("#notice:has-text('已标记为已解决')")
        await page.select_option("#f-status", "")
        await page.wait_for_selector(".ticket:has-text('TS20261207QWERTY') .resolution")
        assert "已解决" in await page.locator(".ticket:has-text('TS20261207QWERTY')").inner_text()
        await _fits(page, shots, f"tickets-resolved-{tag}")

        lead = page.locator("#leads .lead")
        assert "触发词" in await lead.inner_text() and "17012347006" not in await lead.inner_text()
        await lead.locator("button.lead-won").click()
        await page.wait_for_selector("#leads .lead:has-text('已成交')")
        callback = page.locator("#callbacks .callback")
        callback_text = await callback.inner_text()
        assert "回访" in callback_text and CALLBACK_DUE.isoformat() in callback_text
        await callback.locator("button.callback-done").click()
        await page.wait_for_selector("#notice:has-text('回访结果已记录')")
        await page.wait_for_selector("#callbacks-box", state="hidden")  # closed: no open 回访 left

        await page.goto(base + "/console/history")
        await page.wait_for_selector("#search:not([hidden])")
        await page.wait_for_selector("#count:has-text('会话')")
        # Date fields speak Chinese whatever the browser's language, and take the way people write dates.
        assert await page.get_attribute("html", "lang") == "zh-CN"
        assert "年-月-日" in (await page.get_attribute("#h-from", "placeholder") or "")
        await page.fill("#h-from", "2000年1月1日")
        async with page.expect_response(lambda r: "/console/api/history?" in r.url) as searched:
            await page.click("#h-go")
        response = await searched.value
        assert "from=2000-01-01" in response.url and response.status == 200
        await _fits(page, shots, f"history-{tag}")
    finally:
        await context.close()


async def test_phone_console_and_web_chat_through_a_handoff(browser: Any, gateway: TestClient, tmp_path: Path) -> None:
    base = str(gateway.make_url("")).rstrip("/")
    shots = _shots(tmp_path)
    customer_ctx = await browser.new_context(locale="zh-CN", viewport=PHONE, timezone_id="Asia/Shanghai")
    rm_ctx = await browser.new_context(locale="zh-CN", viewport=PHONE, timezone_id="UTC")
    try:
        customer = await customer_ctx.new_page()
        await customer.goto(base + "/")
        await customer.wait_for_selector("#picker:not([hidden])")
        assert await customer.is_hidden("#composer")  # the picker does not show the input box through it
        await _fits(customer, shots, "webchat-picker-phone")
        await customer.get_by_role("button", name="张先生").click()
        await customer.wait_for_selector("#composer")
        await customer.fill("#text", "我要人工服务")
        await customer.press("#text", "Enter")
        await customer.wait_for_selector(".msg .bubble >> text=转接客户经理")
        who = await customer.inner_text(".msg.in .who")
        assert who.startswith("我 ") and ":" in who  # who and when

        rm = await rm_ctx.new_page()
        await _login(rm, base, "rm001")
        for tab in ("队列", "会话", "客户"):
            assert await rm.locator("#panes button", has_text=tab).is_visible()
        item = await rm.wait_for_selector("#queued li[data-state=queued]", timeout=15_000)
        await _fits(rm, shots, "console-queue-phone")
        await item.click()
        await rm.wait_for_selector(".chat #take:visible")
        assert await rm.is_hidden(".list")  # one column at a time
        await rm.click("#take")
        await customer.wait_for_selector("#serving:has-text('经理 人工服务中')", timeout=15_000)
        await rm.wait_for_selector("#reply-text:not([disabled])")
        await rm.type("#reply-text", "您好，我看一下")
        await customer.wait_for_selector("#typing:not([hidden])", timeout=15_000)
        await customer.type("#text", "好的谢谢")
        await rm.wait_for_selector("#customer-typing:not([hidden])", timeout=15_000)
        await rm.click("#reply-send")
        await customer.wait_for_selector(".msg.rm .bubble >> text=您好，我看一下", timeout=15_000)
        rm_who = await customer.inner_text(".msg.rm .who")
        assert "经理" in rm_who and ":" in rm_who
        await _fits(customer, shots, "webchat-serving-phone")
        stamp = await rm.inner_text("#transcript li.customer .who")
        assert "客户" in stamp and "/" in stamp  # date and time in the bank's zone
        await _fits(rm, shots, "console-chat-phone")
        await rm.click("#panes button[data-pane=side]")
        await rm.wait_for_selector("#customer:has-text('张*华')")
        await _fits(rm, shots, "console-customer-phone")
        await rm.click("#panes button[data-pane=chat]")
        await rm.click("#handback")
        await rm.wait_for_selector("#empty:has-text('已交回机器人')", timeout=15_000)
        assert "权限范围" not in await rm.inner_text("#empty")
        await _fits(rm, shots, "console-handback-phone")
    finally:
        await customer_ctx.close()
        await rm_ctx.close()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
async def test_campaign_outlook_and_empty_state(
    browser: Any, gateway: TestClient, tmp_path: Path, viewport: dict[str, int]
) -> None:
    with session_scope(gateway.app[SESSION_FACTORY]) as s:
        load_into_db(s, read_files())
    base = str(gateway.make_url("")).rstrip("/")
    shots = _shots(tmp_path)
    tag = "desktop" if viewport is DESKTOP else "phone"
    context = await browser.new_context(locale="zh-CN", viewport=viewport)
    try:
        page = await context.new_page()
        await _login(page, base, "sup004")
        await page.goto(base + "/console/campaigns/promo_spring_deposit")
        await page.wait_for_selector("#o-plan:has-text('00:30')")
        assert await page.is_visible("#chart-empty")  # nothing planned yet: said, not a blank frame
        assert "2027-02-18 10:00" in await page.inner_text("#o-send")
        assert "今天" in await page.inner_text("#o-audience")
        await _fits(page, shots, f"campaign-outlook-{tag}")
        await page.click("#o-toggle")
        await page.wait_for_selector("#o-feedback:has-text('活动已暂停')")
        await page.wait_for_selector("#o-state:has-text('已暂停')")
        await page.click("#o-toggle")
        await page.wait_for_selector("#o-state:has-text('进行中')")
    finally:
        await context.close()


async def test_urgent_conversations_come_first_and_alert_a_background_tab(
    browser: Any, gateway: TestClient, tmp_path: Path
) -> None:
    base = str(gateway.make_url("")).rstrip("/")
    shots = _shots(tmp_path)
    rm_ctx = await browser.new_context(locale="zh-CN", viewport=DESKTOP)
    plain_ctx = await browser.new_context(locale="zh-CN")
    angry_ctx = await browser.new_context(locale="zh-CN")
    try:
        rm = await rm_ctx.new_page()
        # The console tab is in the background: the page must beep and notify for a new urgent item.
        await rm.add_init_script("Object.defineProperty(document, 'hidden', { get: () => true })")
        await _login(rm, base, "rm001")
        # A visitor asks for a person first, then a customer of rm001's branch complains.
        for ctx, persona, text in ((plain_ctx, None, "我要人工服务"), (angry_ctx, "张先生", "我要投诉，柜员态度太差")):
            page = await ctx.new_page()
            await page.goto(base + "/")
            if persona:
                await page.get_by_role("button", name=persona).click()
            else:
                await page.click("#visitor")
            await page.wait_for_selector("#composer")
            await page.fill("#text", text)
            await page.press("#text", "Enter")
            await page.wait_for_selector(".msg.in .bubble")
        await rm.locator('#queued li').first.wait_for(timeout=15_000)  # no eval: the page's CSP forbids it
        first = await rm.wait_for_selector("#queued li:first-child.urgent", timeout=15_000)
        assert "紧急" in await first.inner_text() and "投诉" in await first.inner_text()
        assert await rm.evaluate("window.__urgentAlerts || 0") >= 1
        await _fits(rm, shots, "console-urgent-desktop")
    finally:
        for ctx in (rm_ctx, plain_ctx, angry_ctx):
            await ctx.close()
