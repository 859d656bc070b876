"""Web chat on a shared device: verification lapses, the page's history is the current visit's, 退出 ends both."""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from crm.models import ChannelIdentity, Message
from gateway.conversation import VERIFICATION_LAPSED_REPLY
from gateway.keys import SESSION_FACTORY
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    VIP_WEB_ID,
    db_url,
    fake_rasa,
    gateway,
    template_db,
)

LAPSED = VERIFICATION_LAPSED_REPLY.text


@pytest.fixture
async def browser(gateway: TestClient) -> AsyncIterator[aiohttp.ClientSession]:
    http = aiohttp.ClientSession(base_url=str(gateway.make_url("")), cookie_jar=aiohttp.CookieJar(unsafe=True))
    yield http
    await http.close()


def identity(gateway: TestClient, web_id: str) -> ChannelIdentity:
    with gateway.app[SESSION_FACTORY]() as s:
        found = s.scalar(select(ChannelIdentity).where(ChannelIdentity.channel == "web",
                                                       ChannelIdentity.external_id == web_id))  # fmt: skip
        assert found is not None
        s.expunge(found)
        return found


def walk_away(gateway: TestClient, web_id: str, minutes: int) -> None:
    """The customer left the device ``minutes`` ago: move the identity's clock back."""
    back = dt.timedelta(minutes=minutes)
    with gateway.app[SESSION_FACTORY]() as s, s.begin():
        found = s.scalar(select(ChannelIdentity).where(ChannelIdentity.channel == "web",
                                                       ChannelIdentity.external_id == web_id))  # fmt: skip
        assert found is not None and found.active_at is not None and found.verified_until is not None
        found.active_at -= back
        found.verified_until -= back
        found.verified_at = found.verified_at - back if found.verified_at else None
        for m in s.scalars(select(Message)):
            m.created_at -= back


async def texts(resp: aiohttp.ClientResponse) -> list[str]:
    assert resp.status == 200, await resp.text()
    return [m["text"] for m in (await resp.json())["messages"]]


async def test_after_the_idle_timeout_the_next_person_sees_no_history_and_is_asked_to_verify(
    gateway: TestClient, browser: aiohttp.ClientSession
) -> None:
    assert (await browser.post("/api/session", json={"persona": VIP_WEB_ID})).status == 200
    first = await texts(await browser.post("/api/messages", json={"text": "我卡里还有多少钱"}))
    assert "我卡里还有多少钱" in first and LAPSED not in first
    assert identity(gateway, VIP_WEB_ID).customer_id is not None
    assert "我卡里还有多少钱" in await texts(await browser.get("/api/messages"))  # a reload, same visit

    walk_away(gateway, VIP_WEB_ID, 16)
    assert await texts(await browser.get("/api/messages")) == []  # the next person reloads: nothing shown
    assert identity(gateway, VIP_WEB_ID).customer_id is None  # and the bot no longer sees a verified customer

    answer = await texts(await browser.post("/api/messages", json={"text": "查余额"}))
    assert answer[0] == "查余额" and LAPSED in answer
    assert "我卡里还有多少钱" not in await texts(await browser.get("/api/messages"))


async def test_the_lapse_is_said_once(gateway: TestClient, browser: aiohttp.ClientSession) -> None:
    await browser.post("/api/session", json={"persona": VIP_WEB_ID})
    await browser.post("/api/messages", json={"text": "你好"})
    walk_away(gateway, VIP_WEB_ID, 20)
    assert LAPSED in await texts(await browser.post("/api/messages", json={"text": "查余额"}))
    assert LAPSED not in await texts(await browser.post("/api/messages", json={"text": "查余额", "after": 10**6}))


async def test_activity_within_the_timeout_keeps_the_customer_verified(
    gateway: TestClient, browser: aiohttp.ClientSession
) -> None:
    await browser.post("/api/session", json={"persona": VIP_WEB_ID})
    for _ in range(3):
        await browser.post("/api/messages", json={"text": "你好"})
        walk_away(gateway, VIP_WEB_ID, 10)
    answer = await texts(await browser.post("/api/messages", json={"text": "查余额"}))
    assert LAPSED not in answer
    assert identity(gateway, VIP_WEB_ID).customer_id is not None
    assert answer.count("你好") == 3  # the visit went on: its history is all there


async def test_log_out_ends_verification_history_and_cookie(gateway: TestClient, browser: aiohttp.ClientSession) -> None:
    await browser.post("/api/session", json={"persona": VIP_WEB_ID})
    await browser.post("/api/messages", json={"text": "我卡里还有多少钱"})
    old_cookie = next(c.value for c in browser.cookie_jar if c.key == "bc_web")

    resp = await browser.post("/api/logout", json={})
    assert resp.status == 200
    assert "bc_web" not in {c.key for c in browser.cookie_jar}  # the browser dropped it
    assert identity(gateway, VIP_WEB_ID).customer_id is None
    # Even a copy of the old cookie (another tab, a saved page) reads nothing of the visit.
    async with aiohttp.ClientSession(base_url=str(gateway.make_url(""))) as other:
        resp = await other.get("/api/messages", headers={"Cookie": f"bc_web={old_cookie}"})
        assert await texts(resp) == []


async def test_another_site_cannot_log_the_customer_out(gateway: TestClient, browser: aiohttp.ClientSession) -> None:
    await browser.post("/api/session", json={"persona": VIP_WEB_ID})
    resp = await browser.post("/api/logout", data="x", headers={"Content-Type": "text/plain"})
    assert resp.status == 400
    assert identity(gateway, VIP_WEB_ID).customer_id is not None


async def test_log_out_without_a_session_is_fine(browser: aiohttp.ClientSession) -> None:
    assert (await browser.post("/api/logout", json={})).status == 200


async def test_demo_mode_picking_the_persona_again_verifies_it_again(
    gateway: TestClient, browser: aiohttp.ClientSession
) -> None:
    await browser.post("/api/session", json={"persona": VIP_WEB_ID})
    await browser.post("/api/logout", json={})
    assert identity(gateway, VIP_WEB_ID).customer_id is None
    await browser.post("/api/session", json={"persona": VIP_WEB_ID})
    renewed = identity(gateway, VIP_WEB_ID)
    assert renewed.customer_id is not None and renewed.verified_until is not None
    assert renewed.verified_until <= dt.datetime.now(dt.UTC) + dt.timedelta(minutes=15)  # still the web policy


async def test_the_page_has_a_log_out_button(browser: aiohttp.ClientSession) -> None:
    page = await (await browser.get("/")).text()
    assert 'id="logout"' in page and "退出" in page
    script = await (await browser.get("/static/webchat.js")).text()
    assert "/api/logout" in script


async def test_an_open_page_clears_itself_when_the_verification_lapses(
    gateway: TestClient, browser: aiohttp.ClientSession
) -> None:
    await browser.post("/api/session", json={"persona": VIP_WEB_ID})
    await browser.post("/api/messages", json={"text": "我卡里还有多少钱"})
    async with browser.ws_connect("/ws?after=0") as ws:
        seen = [await ws.receive_json(timeout=5)]  # the visit's messages so far
        walk_away(gateway, VIP_WEB_ID, 16)
        while not any(m.get("type") == "reset" for m in seen):
            seen.append(await ws.receive_json(timeout=5))
    assert identity(gateway, VIP_WEB_ID).customer_id is None
    assert "reset" in (await (await browser.get("/static/webchat.js")).text())


async def test_a_customer_waiting_for_an_rm_is_not_timed_out(gateway: TestClient, browser: aiohttp.ClientSession) -> None:
    """20 minutes in the queue without typing: the customer is still verified for the RM and the chat,
    and their visit's history stays on the page (the bank kept them waiting, not the other way round)."""
    from crm.models import Conversation
    from crm.models.conversations import ConversationState

    assert (await browser.post("/api/session", json={"persona": VIP_WEB_ID})).status == 200
    await texts(await browser.post("/api/messages", json={"text": "我卡里还有多少钱"}))
    with gateway.app[SESSION_FACTORY]() as s, s.begin():
        ident = s.scalar(select(ChannelIdentity).where(ChannelIdentity.channel == "web",
                                                       ChannelIdentity.external_id == VIP_WEB_ID))  # fmt: skip
        assert ident is not None
        conv = s.scalar(select(Conversation).where(Conversation.identity_id == ident.id))
        assert conv is not None
        conv.state = ConversationState.QUEUED
    walk_away(gateway, VIP_WEB_ID, 20)
    assert "我卡里还有多少钱" in await texts(await browser.get("/api/messages"))  # the page polls: same visit
    assert identity(gateway, VIP_WEB_ID).customer_id is not None
    answer = await texts(await browser.post("/api/messages", json={"text": "人呢"}))
    assert LAPSED not in answer
    assert identity(gateway, VIP_WEB_ID).customer_id is not None
