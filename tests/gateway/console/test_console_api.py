"""The console's HTTP interface: login, CSRF, and authorisation with other RMs' ids."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm.models import Conversation, Message
from crm.models.conversations import ConversationState
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PASSWORD,
    PLAIN_WEB_ID,
    db_url,
    fake_rasa,
    finish_login,
    gateway,
    template_db,
)


class Browser:
    """One person's cookie jar against the gateway."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def login(self, login: str, password: str = PASSWORD) -> aiohttp.ClientResponse:
        resp = await self.http.post(
            self.url("/console/api/login"), json={"login": login, "password": password}
        )
        if resp.status == 200:  # through the second factor as the page goes (supervisors enrol first)
            self.csrf = (await finish_login(self.http, self.url, login, await resp.json()))["csrf"]
        return resp

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.http.get(self.url(path))

    async def post(
        self, path: str, body: dict[str, Any] | None = None, csrf: bool = True
    ) -> aiohttp.ClientResponse:
        headers = {"X-CSRF-Token": self.csrf} if csrf else {}
        return await self.http.post(self.url(path), json=body or {}, headers=headers)


@pytest.fixture
async def browser(gateway: TestClient) -> AsyncIterator[Callable[[], Browser]]:  # noqa: F811
    made: list[Browser] = []

    def make() -> Browser:
        made.append(Browser(gateway))
        return made[-1]

    yield make
    for b in made:
        await b.http.close()


async def customer_asks_for_human(b: Browser, web_id: str = PLAIN_WEB_ID) -> None:
    assert (await b.http.post(b.url("/api/session"), json={"persona": web_id})).status == 200
    resp = await b.http.post(b.url("/api/messages"), json={"text": "我要人工服务"})
    assert resp.status == 200


def queued_id(gateway: TestClient) -> int:  # noqa: F811
    from gateway.keys import SESSION_FACTORY

    with gateway.app[SESSION_FACTORY]() as s:
        conv = s.scalar(select(Conversation).where(Conversation.state == ConversationState.QUEUED))
        assert conv is not None
        return conv.id


async def test_login_sets_strict_httponly_cookie_and_wrong_password_fails(
    browser: Callable[[], Browser],
) -> None:
    rm = browser()
    bad = await rm.login("rm001", "wrong")
    assert bad.status == 401
    assert (await rm.get("/console/api/me")).status == 401
    ok = await rm.login("rm001")
    assert ok.status == 200
    cookie = ok.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    me = await (await rm.get("/console/api/me")).json()
    assert me["code"] == "RM001" and me["role"] == "rm"


async def test_state_changes_need_the_csrf_token(browser: Callable[[], Browser], gateway: TestClient) -> None:  # noqa: F811
    await customer_asks_for_human(browser())
    rm = browser()
    await rm.login("rm001")
    conv = queued_id(gateway)
    assert (await rm.post(f"/console/api/conversations/{conv}/take", csrf=False)).status == 403
    rm.csrf = "forged"
    assert (await rm.post(f"/console/api/conversations/{conv}/take")).status == 403
    assert (await rm.post("/console/api/logout")).status == 403
    from gateway.keys import SESSION_FACTORY

    with gateway.app[SESSION_FACTORY]() as s:
        assert s.get(Conversation, conv).state == ConversationState.QUEUED  # type: ignore[union-attr]


async def test_other_rms_cannot_see_or_act_and_owner_reply_reaches_web_chat(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:  # noqa: F811
    own, colleague, stranger = browser(), browser(), browser()
    await own.login("rm001")  # branch 1: the customer's branch (logging in makes them present)
    await colleague.login("rm002")  # branch 1 as well
    await stranger.login("rm005")  # branch 2
    customer = browser()
    await customer_asks_for_human(customer)  # routed to branch 1 because RMs of branch 1 are online
    conv = queued_id(gateway)

    listing = await (await own.get("/console/api/conversations")).json()
    assert [c["id"] for c in listing["conversations"]] == [conv]
    assert (await (await stranger.get("/console/api/conversations")).json())["conversations"] == []
    assert (await stranger.get(f"/console/api/conversations/{conv}")).status == 404
    assert (await stranger.post(f"/console/api/conversations/{conv}/take")).status == 404

    assert (await own.post(f"/console/api/conversations/{conv}/take")).status == 200
    assert (await colleague.post(f"/console/api/conversations/{conv}/take")).status == 404  # no longer queued
    assert (await colleague.post(f"/console/api/conversations/{conv}/reply", {"text": "冒充"})).status == 404
    assert (await stranger.post(f"/console/api/conversations/{conv}/handback")).status == 404
    assert (await own.post("/console/api/conversations/999999/reply", {"text": "x"})).status == 404

    detail = await (await own.get(f"/console/api/conversations/{conv}")).json()
    assert detail["customer"]["name"] == "张*华"
    assert detail["customer"]["phone"] == "170****8001"
    assert detail["customer"]["accounts"][0]["no"].startswith("尾号")
    assert any(m["author"] == "customer" and m["text"] == "我要人工服务" for m in detail["messages"])

    resp = await own.post(f"/console/api/conversations/{conv}/reply", {"text": "<b>您好</b>，我是张经理"})
    assert resp.status == 200
    history = await (await customer.http.get(customer.url("/api/messages"))).json()
    assert any(m["author"] == "rm" and m["text"] == "<b>您好</b>，我是张经理" for m in history["messages"])
    from gateway.keys import SESSION_FACTORY

    with gateway.app[SESSION_FACTORY]() as s:
        msg = s.scalar(select(Message).where(Message.author == "rm", Message.text.like("%张经理")))
        assert msg is not None and msg.delivery_status == "sent" and msg.rm_id is not None

    assert (await own.post(f"/console/api/conversations/{conv}/note", {"text": "客户急用钱"})).status == 200
    assert (await stranger.post(f"/console/api/conversations/{conv}/note", {"text": "x"})).status == 404
    assert (await own.post(f"/console/api/conversations/{conv}/handback")).status == 200
    history = await (await customer.http.get(customer.url("/api/messages"))).json()
    assert "满意" in history["messages"][-1]["text"]
    assert len(history["messages"][-1]["buttons"]) == 5


async def test_supervisor_sees_branch_and_stats_but_not_other_branches(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:  # noqa: F811
    sup, other_sup, rm = browser(), browser(), browser()
    await sup.login("sup004")
    await other_sup.login("sup008")
    await rm.login("rm001")
    await customer_asks_for_human(browser())
    conv = queued_id(gateway)
    assert (await sup.get(f"/console/api/conversations/{conv}")).status == 200
    assert (await other_sup.get(f"/console/api/conversations/{conv}")).status == 404
    assert (await rm.get("/console/api/stats")).status == 403
    stats = await (await sup.get("/console/api/stats")).json()
    assert stats["queue_length"] == 1 and len(stats["satisfaction"]) == 14
    assert {r["name"] for r in stats["per_rm"]} >= {"王晓东"}


async def test_console_page_ships_its_own_assets(gateway: TestClient) -> None:  # noqa: F811
    page = await gateway.get("/console")
    html = await page.text()
    assert page.status == 200 and "客户经理工作台" in html
    assert "http://" not in html and "https://" not in html
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    js = await (await gateway.get("/console/static/console.js")).text()
    assert "innerHTML" not in js


async def test_reply_key_makes_a_repeated_request_act_once_and_the_state_is_shown(
    browser: Callable[[], Browser], gateway: TestClient
) -> None:  # noqa: F811
    customer, rm = browser(), browser()
    await customer_asks_for_human(customer)
    await rm.login("rm001")
    conv = queued_id(gateway)
    assert (await rm.post(f"/console/api/conversations/{conv}/take")).status == 200
    path = f"/console/api/conversations/{conv}/reply"
    bad = await rm.post(path, {"text": "您好", "key": "x"})
    assert bad.status == 400 and "请求格式不正确" in (await bad.json())["message"]
    first = await rm.post(path, {"text": "您好，请稍等。", "key": "reply-key-0001"})
    assert first.status == 200
    sent = await first.json()
    assert (sent["delivery"], sent["delivery_label"]) == ("sent", "已送达")
    again = await (await rm.post(path, {"text": "您好，请稍等。", "key": "reply-key-0001"})).json()
    assert again["id"] == sent["id"]
    history = await (await customer.http.get(customer.url("/api/messages"))).json()
    assert [m["text"] for m in history["messages"]].count("您好，请稍等。") == 1

    detail = await (await rm.get(f"/console/api/conversations/{conv}")).json()
    mine = [m for m in detail["messages"] if m["id"] == sent["id"]]
    assert [(m["delivery"], m["delivery_label"]) for m in mine] == [("sent", "已送达")]
    # A colleague cannot reply in someone else's conversation, whatever key they send.
    colleague = browser()
    await colleague.login("rm002")
    assert (await colleague.post(path, {"text": "x", "key": "reply-key-0001"})).status == 404


async def test_unknown_delivery_states_read_as_check() -> None:
    from gateway.console.panel import delivery
    from outbound.contract import SendOutcome
    from outbound.sender import delivery_state

    assert delivery_state(SendOutcome.sent()) == "sent"
    assert delivery_state(SendOutcome.failed("outside_48h_window")) == "outside_window"
    assert delivery_state(SendOutcome.retry("quota_exceeded")) == "quota"
    assert delivery_state(SendOutcome.retry("network_error")) == "failed"
    assert delivery_state(SendOutcome.failed("wechat_failed_40003")) == "failed"
    # A timed-out call that may have reached WeChat, or anything new: staff must check.
    assert delivery_state(SendOutcome.failed("wechat_ambiguous_None")) == "unknown"
    assert delivery_state(SendOutcome.failed("ambiguous_after_crash")) == "unknown"
    assert delivery("unknown")["delivery_label"] == delivery("something_new")["delivery_label"]
    assert "核实" in delivery("unknown")["delivery_label"]
    assert delivery("outside_window")["delivery_label"] == "超出48小时窗口，未送达"
