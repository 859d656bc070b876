"""Issue #19 finding 5: each bad input that used to answer HTTP 500 now gets a 4xx, and changes nothing.

Every request here is validated before any side effect: the message count, the audit log and what
the bot received stay as they were.
"""
# ruff: noqa: F811 - pytest fixtures are imported from tests.gateway.console.support

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select

from bench.fuzz_http import raw_request
from crm.models import AuditEvent, Conversation, Message
from crm.models.conversations import ConversationState
from gateway.keys import SESSION_FACTORY, SETTINGS
from tests.gateway.console.support import (  # noqa: F401 - fixtures
    PASSWORD,
    PLAIN_WEB_ID,
    FakeRasa,
    db_url,
    fake_rasa,
    gateway,
    template_db,
)

HUGE = 2**63  # one past the largest id a database column holds
JSON = [(b"Content-Type", b"application/json")]


def counts(client: TestClient) -> tuple[int, int]:
    """(messages, audit events): a rejected request must leave both alone."""
    with client.app[SESSION_FACTORY]() as s:
        return (
            s.scalar(select(func.count()).select_from(Message)) or 0,
            s.scalar(select(func.count()).select_from(AuditEvent)) or 0,
        )


def assert_json_4xx(status: int, body: bytes) -> None:
    assert 400 <= status < 500, (status, body[:200])
    error = json.loads(body)
    assert error["error"] and error["message"]
    assert all(ord(c) < 128 for c in error["error"])  # a stable code for programs, Chinese text for people
    assert any("\u4e00" <= c <= "\u9fff" for c in error["message"])


class Person:
    """One browser: a cookie jar, and the console's CSRF token once logged in."""

    def __init__(self, client: TestClient) -> None:
        self.client = client
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def post(self, path: str, body: Any = None, headers: dict[str, str] | None = None) -> aiohttp.ClientResponse:
        sent = {"X-CSRF-Token": self.csrf} if self.csrf else {}
        return await self.http.post(
            self.url(path), json=body if body is not None else {}, headers={**sent, **(headers or {})}
        )

    async def post_raw_json(self, path: str, text: str) -> aiohttp.ClientResponse:
        """A body with escapes json.dumps would not produce from valid text (a lone surrogate)."""
        headers = {"Content-Type": "application/json", **({"X-CSRF-Token": self.csrf} if self.csrf else {})}
        return await self.http.post(self.url(path), data=text.encode(), headers=headers)

    async def get(self, path: str) -> aiohttp.ClientResponse:
        return await self.http.get(self.url(path))

    def cookie(self, name: str) -> str:
        found = [c.value for c in self.http.cookie_jar if c.key == name]
        assert found, name
        return found[0]

    async def start_chat(self, persona: str | None = None) -> None:
        resp = await self.post("/api/session", {"persona": persona} if persona else {})
        assert resp.status == 200

    async def login(self, login: str = "rm001") -> None:
        resp = await self.post("/console/api/login", {"login": login, "password": PASSWORD})
        assert resp.status == 200
        self.csrf = (await resp.json())["csrf"]


@pytest.fixture
async def people(gateway: TestClient) -> AsyncIterator[list[Person]]:
    made = [Person(gateway) for _ in range(2)]
    yield made
    for p in made:
        await p.http.close()


async def owned_conversation(gateway: TestClient, customer: Person, rm: Person) -> int:
    """A customer who asked for a human, taken by rm001: reply, note and transfer are allowed."""
    await rm.login("rm001")
    await customer.start_chat(PLAIN_WEB_ID)
    assert (await customer.post("/api/messages", {"text": "我要人工服务"})).status == 200
    with gateway.app[SESSION_FACTORY]() as s:
        conv_id = s.scalar(select(Conversation.id).where(Conversation.state == ConversationState.QUEUED))
    assert conv_id is not None
    assert (await rm.post(f"/console/api/conversations/{conv_id}/take")).status == 200
    return conv_id


# --- web chat -----------------------------------------------------------------------------------


@pytest.mark.parametrize("cookie", [b"bc_web=\xe4\xb8\xad\xff.abc", b"bc_web=visitor-\xff\xfe.0123"])
@pytest.mark.parametrize("method", ["GET", "POST"])
async def test_non_ascii_web_cookie_is_no_session(gateway: TestClient, cookie: bytes, method: str) -> None:
    before = counts(gateway)
    status, body = await raw_request(
        gateway, method, b"/api/messages", [(b"Cookie", cookie), *JSON], b'{"text": "\xe4\xbd\xa0\xe5\xa5\xbd"}'
    )
    assert status == 401, body
    assert counts(gateway) == before


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None])
async def test_a_cross_site_form_cannot_write_into_a_customers_chat(
    people: list[Person], content_type: str | None
) -> None:
    """Probe: /api/messages took a text/plain body, so on a browser that ignores SameSite any site's
    form could post 挂失 (or a binding request) into a verified customer's chat. Only JSON, which a
    form cannot send without a CORS preflight, is taken now; the session route likewise."""
    customer = people[0]
    await customer.start_chat(PLAIN_WEB_ID)
    gateway = customer.client
    before = counts(gateway)
    headers = {"Content-Type": content_type} if content_type else {}
    body = b'{"text": "\xe6\x8c\x82\xe5\xa4\xb1"}'  # {"text": "挂失"}, as a text/plain form can shape it
    resp = await customer.http.post(customer.url("/api/messages"), data=body, headers=headers)
    assert_json_4xx(resp.status, await resp.read())
    assert counts(gateway) == before
    cookie = customer.cookie("bc_web")
    resp = await customer.http.post(customer.url("/api/session"), data=b"", headers=headers)
    assert_json_4xx(resp.status, await resp.read())
    assert customer.cookie("bc_web") == cookie  # the visitor's chat identity was not replaced
    # The page's own requests (JSON, with a charset) still work.
    resp = await customer.http.post(customer.url("/api/messages"), data='{"text": "你好"}'.encode(),
                                    headers={"Content-Type": "application/json; charset=utf-8"})  # fmt: skip
    assert resp.status == 200


@pytest.mark.parametrize("persona", [[], {}, ["demo-zhangjianhua"], 1e30, True])
async def test_persona_of_the_wrong_type_is_400(gateway: TestClient, people: list[Person], persona: Any) -> None:
    resp = await people[0].post("/api/session", {"persona": persona})
    assert_json_4xx(resp.status, await resp.read())
    assert "bc_web" not in resp.cookies


async def test_lone_surrogate_in_web_chat_text_is_400_and_not_stored(
    gateway: TestClient, people: list[Person], fake_rasa: tuple[FakeRasa, str]
) -> None:
    await people[0].start_chat()
    before = counts(gateway)
    for text in ['{"text": "\\ud800"}', '{"text": "\\udfff\\u4f60\\u597d"}', '{"text": "a\\u0000b"}']:
        resp = await people[0].post_raw_json("/api/messages", text)
        assert_json_4xx(resp.status, await resp.read())
    assert counts(gateway) == before
    assert fake_rasa[0].received == []


@pytest.mark.parametrize("after", [HUGE, 10**30, -1, 1.5, "1e3", [], True, "١٢"])
async def test_bad_after_on_send_stores_nothing_and_never_reaches_the_bot(
    gateway: TestClient, people: list[Person], fake_rasa: tuple[FakeRasa, str], after: Any
) -> None:
    """The worst one: the message was stored and the bot ran before ``after`` failed, so retries duplicated it."""
    await people[0].start_chat()
    before = counts(gateway)
    resp = await people[0].post("/api/messages", {"text": "你好", "after": after})
    assert_json_4xx(resp.status, await resp.read())
    assert counts(gateway) == before
    assert fake_rasa[0].received == []


@pytest.mark.parametrize("after", [str(HUGE), "9" * 40, "-1", "1.0", "%00", "１２"])
async def test_bad_after_on_history_is_400(gateway: TestClient, people: list[Person], after: str) -> None:
    await people[0].start_chat()
    status, body = await raw_request(
        gateway, "GET", b"/api/messages?after=" + quote(after, safe="%").encode(),
        [(b"Cookie", b"bc_web=" + people[0].cookie("bc_web").encode())],
    )  # fmt: skip
    assert_json_4xx(status, body)


async def test_web_socket_refuses_a_huge_after_before_the_upgrade(gateway: TestClient, people: list[Person]) -> None:
    await people[0].start_chat()
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await people[0].http.ws_connect(people[0].url(f"/ws?after={HUGE}"))
    assert refused.value.status == 400


async def test_another_sites_page_cannot_open_the_customers_chat_socket(gateway: TestClient, people: list[Person]) -> None:
    """Probe: /ws checked no Origin, so a page elsewhere (a browser ignoring SameSite, or a sibling
    domain) could open the verified customer's socket and read every pushed message, balances included."""
    customer = people[0]
    await customer.start_chat(PLAIN_WEB_ID)
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await customer.http.ws_connect(customer.url("/ws"), headers={"Origin": "https://evil.example"})
    assert refused.value.status == 403
    host = str(gateway.make_url("/")).split("://", 1)[1].rstrip("/")
    ws = await customer.http.ws_connect(customer.url("/ws"), headers={"Origin": f"http://{host}"})
    await ws.close()
    public = gateway.app[SETTINGS].public_url  # the page's address when a proxy rewrites Host
    ws = await customer.http.ws_connect(customer.url("/ws"), headers={"Origin": public})
    await ws.close()


async def test_web_socket_ignores_a_huge_after_sent_later(gateway: TestClient, people: list[Person]) -> None:
    customer = people[0]
    await customer.start_chat()
    ws = await customer.http.ws_connect(customer.url("/ws"))
    try:
        await ws.send_json({"after": HUGE})
        await ws.send_json({"after": [1]})
        await asyncio.sleep(0.2)
        assert (await customer.post("/api/messages", {"text": "你好"})).status == 200
        pushed = await ws.receive_json(timeout=10)  # still alive, still pushing from where it was
        assert pushed["author"] == "customer" and pushed["text"] == "你好"
    finally:
        await ws.close()


# --- console --------------------------------------------------------------------------------------


@pytest.mark.parametrize("cookie", [b"bc_console=\xe4\xb8\xad", b"bc_console=ab\xffcd"])
async def test_non_ascii_console_cookie_is_401(gateway: TestClient, cookie: bytes) -> None:
    for method, path in [("GET", b"/console/api/me"), ("GET", b"/console/api/conversations"),
                         ("POST", b"/console/api/heartbeat"), ("GET", b"/console/api/campaigns")]:  # fmt: skip
        status, body = await raw_request(gateway, method, path, [(b"Cookie", cookie), *JSON], b"{}")
        assert status == 401, (path, body)
        assert_json_4xx(status, body)


@pytest.mark.parametrize("token", [b"\xe4\xb8\xad\xe6\x96\x87", b"abc\xff", b"\xc3\xa9" * 20])
async def test_non_ascii_csrf_token_is_403(gateway: TestClient, people: list[Person], token: bytes) -> None:
    rm = people[0]
    await rm.login()
    cookie = b"bc_console=" + rm.cookie("bc_console").encode()
    status, body = await raw_request(
        gateway, "POST", b"/console/api/logout", [(b"Cookie", cookie), (b"X-CSRF-Token", token), *JSON], b"{}"
    )
    assert status == 403, body
    assert_json_4xx(status, body)
    assert (await rm.get("/console/api/me")).status == 200  # still logged in


@pytest.mark.parametrize(
    "body",
    [
        '{"login": "\\ud800", "password": "x"}',
        '{"login": "rm001", "password": "\\ud800"}',
        '{"login": "rm001", "password": "\\udc80bankcare-demo"}',
        '{"login": "rm\\u0000001", "password": "x"}',
        '{"login": ["rm001"], "password": "bankcare-demo"}',
    ],
)
async def test_unstorable_login_text_is_4xx_and_harms_nobody(
    gateway: TestClient, people: list[Person], body: str
) -> None:
    resp = await people[0].post_raw_json("/console/api/login", body)
    assert_json_4xx(resp.status, await resp.read())
    assert "bc_console" not in resp.cookies
    await people[1].login("rm001")  # the account is not locked or harmed


@pytest.mark.parametrize("action", ["reply", "note"])
@pytest.mark.parametrize("text", ["\\ud800", "\\udbff\\udfff\\udc00", "x\\u0000"])
async def test_lone_surrogate_in_reply_or_note_is_400_and_not_stored(
    gateway: TestClient, people: list[Person], action: str, text: str
) -> None:
    customer, rm = people
    conv_id = await owned_conversation(gateway, customer, rm)
    before = counts(gateway)
    resp = await rm.post_raw_json(f"/console/api/conversations/{conv_id}/{action}", f'{{"text": "{text}"}}')
    assert_json_4xx(resp.status, await resp.read())
    assert counts(gateway) == before
    ok = await rm.post(f"/console/api/conversations/{conv_id}/{action}", {"text": "您好"})
    assert ok.status == 200


@pytest.mark.parametrize("rm_id", [1e30, -1e30, HUGE, -HUGE, "1e30", float("1e308"), [2], {"id": 2}, True])
async def test_transfer_to_an_impossible_rm_id_is_400(gateway: TestClient, people: list[Person], rm_id: Any) -> None:
    customer, rm = people
    conv_id = await owned_conversation(gateway, customer, rm)
    before = counts(gateway)
    resp = await rm.post(f"/console/api/conversations/{conv_id}/transfer", {"rm_id": rm_id})
    assert_json_4xx(resp.status, await resp.read())
    assert counts(gateway) == before
    with gateway.app[SESSION_FACTORY]() as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.state == ConversationState.AGENT


@pytest.mark.parametrize("conv_id", [str(HUGE), "9" * 30, "-" + str(HUGE), "１", "0x10"])
async def test_impossible_conversation_ids_are_404(gateway: TestClient, people: list[Person], conv_id: str) -> None:
    rm = people[0]
    await rm.login()
    before = counts(gateway)
    detail = await rm.get(f"/console/api/conversations/{conv_id}")
    assert_json_4xx(detail.status, await detail.read())
    for action in ("take", "reply", "note", "close"):
        resp = await rm.post(f"/console/api/conversations/{conv_id}/{action}", {"text": "x"})
        assert_json_4xx(resp.status, await resp.read())
    assert counts(gateway) == before


async def test_console_socket_ignores_impossible_watch_values(gateway: TestClient, people: list[Person]) -> None:
    customer, rm = people
    conv_id = await owned_conversation(gateway, customer, rm)
    ws = await rm.http.ws_connect(rm.url("/console/ws"))
    try:
        first = await ws.receive_json(timeout=10)
        assert first["type"] == "snapshot"
        for bad in ({"watch": HUGE}, {"watch": conv_id, "after": HUGE}, {"watch": 1e30}, {"watch": [1]}, [1], "x"):
            await ws.send_json(bad)
        await ws.send_json({"watch": conv_id, "after": 0})
        for _ in range(10):  # the socket survives and answers the last, valid request
            data = await ws.receive_json(timeout=10)
            if data.get("watch", {}).get("id") == conv_id and data["watch"].get("messages"):
                break
        else:
            pytest.fail("no transcript for the watched conversation")
    finally:
        await ws.close()


async def test_a_bot_that_is_down_gets_a_polite_answer_not_a_500(people: list[Person], gateway: TestClient) -> None:
    await people[0].start_chat()
    from gateway.keys import CHAT

    gateway.app[CHAT].rasa.base_url = "http://127.0.0.1:9"
    resp = await people[0].post("/api/messages", {"text": "你好"})
    assert resp.status == 200
    texts = [m["text"] for m in (await resp.json())["messages"] if m["author"] != "customer"]
    assert texts and all(any("\u4e00" <= c <= "\u9fff" for c in t) for t in texts)
