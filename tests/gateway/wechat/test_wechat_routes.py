"""``/wechat`` over HTTP: verification, every message type, rejections, dedupe, late replies."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy.orm import Session, sessionmaker

from gateway.wechat.crypto import MessageCrypto, check_signature, make_signature
from gateway.wechat.messages import parse_xml_fields, render_xml
from gateway.wechat.sandbox import SANDBOX_SETTINGS_KEY
from gateway.wechat.settings import WeChatSettings

from .conftest import (
    OPENID,
    FakeChat,
    encrypt_request,
    fixture_xml,
    signed_query,
    start_gateway,
    table_counts,
    with_api_base,
)

Client = TestClient[Any, Any]


async def post_plain(
    client: Client, settings: WeChatSettings, xml: str, nonce: str | None = None
) -> tuple[int, str]:
    params = signed_query(settings, nonce=nonce)
    resp = await client.post("/wechat", params=params, data=xml.encode("utf-8"))
    return resp.status, await resp.text()


def reply_content(body: str) -> str:
    return parse_xml_fields(body.encode())["Content"]


# --- verification -------------------------------------------------------------------------


async def test_get_echoes_echostr(gateway: Client, settings: WeChatSettings) -> None:
    resp = await gateway.get("/wechat", params={**signed_query(settings), "echostr": "8723645"})
    assert resp.status == 200 and await resp.text() == "8723645"


async def test_get_bad_signature(gateway: Client, settings: WeChatSettings) -> None:
    params = {**signed_query(settings), "echostr": "8723645", "signature": "0" * 40}
    resp = await gateway.get("/wechat", params=params)
    assert resp.status == 403 and "8723645" not in await resp.text()


# --- message types ------------------------------------------------------------------------


async def test_text_plain(gateway: Client, settings: WeChatSettings, chat: FakeChat) -> None:
    status, body = await post_plain(gateway, settings, fixture_xml("text__basic"))
    assert status == 200
    fields = parse_xml_fields(body.encode())
    assert fields["Content"] == "收到：你好，我想查一下余额"
    assert fields["ToUserName"] == OPENID and fields["FromUserName"] == "gh_bankcare_test"
    (msg,) = chat.messages
    assert msg.channel == "wechat" and msg.user_id == OPENID and msg.metadata["msg_id"] == "24620000000000001"


async def test_text_safe_mode_reply_is_encrypted(gateway: Client, settings: WeChatSettings) -> None:
    query, body = encrypt_request(settings, fixture_xml("text__basic"))
    resp = await gateway.post("/wechat", params=query, data=body.encode())
    assert resp.status == 200
    envelope = parse_xml_fields((await resp.text()).encode())
    assert "Content" not in envelope
    assert check_signature(
        envelope["MsgSignature"], settings.token, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"]
    )
    plain = MessageCrypto(settings.encoding_aes_key, settings.app_id).decrypt(envelope["Encrypt"])
    assert parse_xml_fields(plain)["Content"] == "收到：你好，我想查一下余额"


@pytest.mark.parametrize(
    ("fixture", "expected_text"),
    [
        ("event_click__balance", "/check_balance"),
        ("voice__with_recognition", "我的银行卡丢了"),
        ("location__basic", "/ask_branch"),
        ("event_location__basic", "/ask_branch"),
    ],
)
async def test_mapped_to_core(
    gateway: Client, settings: WeChatSettings, chat: FakeChat, fixture: str, expected_text: str
) -> None:
    status, body = await post_plain(gateway, settings, fixture_xml(fixture))
    assert status == 200 and reply_content(body) == f"收到：{expected_text}"
    assert [m.text for m in chat.messages] == [expected_text]
    if "location" in fixture:
        assert chat.messages[0].location is not None and chat.messages[0].location.latitude == pytest.approx(30.274085)


@pytest.mark.parametrize(
    "fixture", ["image__basic", "video__basic", "shortvideo__basic", "voice__without_recognition", "link__basic"]
)
async def test_media_gets_polite_text_without_core(
    gateway: Client, settings: WeChatSettings, chat: FakeChat, fixture: str
) -> None:
    status, body = await post_plain(gateway, settings, fixture_xml(fixture))
    assert status == 200 and reply_content(body).startswith("您好") and chat.calls == 0


async def test_subscribe_with_rm_scene(gateway: Client, settings: WeChatSettings, chat: FakeChat) -> None:
    status, body = await post_plain(gateway, settings, fixture_xml("event_subscribe__qrscene"))
    assert status == 200 and reply_content(body) == "欢迎关注！"
    assert chat.subscribes == [("wechat", OPENID, "RM0012")]


async def test_unsubscribe_calls_core_and_replies_success(
    gateway: Client, settings: WeChatSettings, chat: FakeChat
) -> None:
    status, body = await post_plain(gateway, settings, fixture_xml("event_unsubscribe__basic"))
    assert (status, body) == (200, "success") and chat.unsubscribes == [("wechat", OPENID)]


@pytest.mark.parametrize("fixture", ["event_view__basic", "event_templatesendjobfinish__success"])
async def test_ignored_events_store_nothing(
    gateway: Client, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session], fixture: str
) -> None:
    before = table_counts(factory)
    assert await post_plain(gateway, settings, fixture_xml(fixture)) == (200, "success")
    assert chat.calls == 0 and table_counts(factory) == before


async def test_numbered_choice_sends_button_payload(gateway: Client, settings: WeChatSettings, chat: FakeChat) -> None:
    xml = fixture_xml("text__basic").replace("你好，我想查一下余额", "选择")
    _, body = await post_plain(gateway, settings, xml)
    assert reply_content(body).endswith("回复 1：查询余额\n回复 2：挂失")
    status, body = await post_plain(gateway, settings, fixture_xml("text__number_choice"))  # "１"
    assert status == 200 and chat.messages[-1].text == "/check_balance"
    assert chat.messages[-1].metadata["choice"] == "1"


async def test_core_failure_gives_polite_apology(gateway: Client, settings: WeChatSettings, chat: FakeChat) -> None:
    chat.fail = True
    status, body = await post_plain(gateway, settings, fixture_xml("text__basic"))
    assert status == 200 and "抱歉" in reply_content(body)


# --- rejections: 4xx and nothing stored, nothing run ---------------------------------------


def _flip_ciphertext(body: str) -> str:
    encrypted = parse_xml_fields(body.encode())["Encrypt"]
    flipped = ("B" if encrypted[5] != "B" else "C").join((encrypted[:5], encrypted[6:]))
    return body.replace(encrypted, flipped)


def _rejections(settings: WeChatSettings) -> list[tuple[str, dict[str, str], bytes, int]]:
    good = fixture_xml("text__basic")
    q = signed_query(settings)
    old = signed_query(settings, timestamp=int(time.time()) - 301)
    future = signed_query(settings, timestamp=int(time.time()) + 301)
    wrong_app_q, wrong_app_body = encrypt_request(settings, good, app_id="wxsomebodyelse01")
    enc_q, enc_body = encrypt_request(settings, good)
    return [
        ("bad signature", {**q, "signature": "f" * 40}, good.encode(), 403),
        ("missing signature", {k: v for k, v in q.items() if k != "signature"}, good.encode(), 403),
        ("stale timestamp", old, good.encode(), 403),
        ("future timestamp", future, good.encode(), 403),
        ("missing nonce", {k: v for k, v in q.items() if k != "nonce"}, good.encode(), 400),
        ("body too large", q, good.replace("你好", "好" * 30000).encode(), 413),
        ("malformed", q, fixture_xml("invalid__malformed").encode(), 400),
        ("xxe", q, fixture_xml("invalid__xxe").encode(), 400),
        ("billion laughs", q, fixture_xml("invalid__billion_laughs").encode(), 400),
        ("missing msgid", q, fixture_xml("invalid__missing_msgid").encode(), 400),
        ("wrong account", q, fixture_xml("invalid__wrong_account").encode(), 403),
        ("unknown appid", wrong_app_q, wrong_app_body.encode(), 403),
        ("bad msg_signature", {**enc_q, "msg_signature": "0" * 40}, enc_body.encode(), 403),
        ("tampered ciphertext", enc_q, _flip_ciphertext(enc_body).encode(), 403),
        ("unknown encrypt_type", {**q, "encrypt_type": "rsa"}, good.encode(), 400),
    ]


async def test_every_rejection_is_4xx_without_side_effect(
    gateway: Client, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    before = table_counts(factory)
    for name, query, body, status in _rejections(settings):
        resp = await gateway.post("/wechat", params=query, data=body)
        assert resp.status == status, name
        assert "success" not in await resp.text(), name
    assert chat.calls == 0
    assert table_counts(factory) == before


async def test_body_limit_counts_streamed_bytes(gateway: Client, settings: WeChatSettings, chat: FakeChat) -> None:
    async def stream() -> Any:
        for _ in range(80):
            yield b"x" * 1024

    resp = await gateway.post("/wechat", params=signed_query(settings), data=stream())
    assert resp.status == 413 and chat.calls == 0


async def test_encrypted_ciphertext_with_valid_signature_but_garbage(
    gateway: Client, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    q = signed_query(settings)
    garbage = "QUJDREVGR0hJSktMTU5PUA=="  # valid base64, 16 bytes, not a WeChat ciphertext
    q.update(encrypt_type="aes", msg_signature=make_signature(settings.token, q["timestamp"], q["nonce"], garbage))
    resp = await gateway.post("/wechat", params=q, data=render_xml({"Encrypt": garbage}).encode())
    assert resp.status == 400 and chat.calls == 0 and table_counts(factory)["wechat_inbound"] == 0


# --- dedupe -------------------------------------------------------------------------------


async def test_sequential_retry_gets_same_reply_and_runs_once(
    gateway: Client, settings: WeChatSettings, chat: FakeChat
) -> None:
    first = await post_plain(gateway, settings, fixture_xml("text__basic"))
    again = await post_plain(gateway, settings, fixture_xml("text__basic"), nonce="999")
    assert first[0] == again[0] == 200
    assert reply_content(first[1]) == reply_content(again[1]) == "收到：你好，我想查一下余额"
    assert len(chat.messages) == 1


async def test_event_retry_deduplicated_by_user_and_time(
    gateway: Client, settings: WeChatSettings, chat: FakeChat
) -> None:
    for _ in range(3):
        await post_plain(gateway, settings, fixture_xml("event_subscribe__plain"))
    assert len(chat.subscribes) == 1


async def test_concurrent_retries_across_two_processes_run_once(
    gateway: Client, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    """Two gateway apps on one database stand in for two processes behind a load balancer."""
    chat.delay_s = 0.3
    other_chat = FakeChat(factory)
    other = await start_gateway(settings, other_chat, factory)
    try:
        xml = fixture_xml("text__basic")
        results = await asyncio.gather(
            *(post_plain(client, settings, xml, nonce=str(i)) for i, client in enumerate([gateway, other] * 3))
        )
    finally:
        await other.close()
    assert len(chat.messages) + len(other_chat.messages) == 1
    assert {status for status, _ in results} == {200}
    assert {reply_content(body) for _, body in results} == {"收到：你好，我想查一下余额"}


# --- slow bot: "success" now, customer-service message later --------------------------------


async def test_slow_bot_replies_success_then_delivers_via_sandbox(
    sandbox: Client, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    settings = dataclasses.replace(with_api_base(settings, sandbox), reply_timeout_s=0.2)
    chat.delay_s = 0.6
    gateway = await start_gateway(settings, chat, factory)
    try:
        # the user's message opens the 48-hour window in the sandbox
        await sandbox.post("/sandbox/control", json={"action": "touch_user", "openid": OPENID})
        started = time.monotonic()
        status, body = await post_plain(gateway, settings, fixture_xml("text__basic"))
        assert (status, body) == (200, "success") and time.monotonic() - started < 0.5
        # WeChat's retry while the bot is still thinking: waits, then "success", never runs twice
        assert await post_plain(gateway, settings, fixture_xml("text__basic"), nonce="2") == (200, "success")
        for _ in range(100):
            received = (await (await sandbox.get("/sandbox/messages")).json())["received"]
            if received:
                break
            await asyncio.sleep(0.05)
        assert received == [
            {"kind": "custom", "touser": OPENID, "at": received[0]["at"], "msgtype": "text",
             "content": "收到：你好，我想查一下余额"}
        ]  # fmt: skip
        assert len(chat.messages) == 1
        # a retry after delivery also just gets "success"
        assert await post_plain(gateway, settings, fixture_xml("text__basic"), nonce="3") == (200, "success")
    finally:
        await gateway.close()
    assert len(chat.messages) == 1


async def test_sandbox_plays_a_user_against_the_gateway(
    sandbox: Client, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    gateway = await start_gateway(settings, chat, factory)
    sandbox.server.app[SANDBOX_SETTINGS_KEY].gateway_url = str(gateway.make_url("")).rstrip("/")
    try:
        for encrypt in (False, True):
            resp = await sandbox.post(
                "/sandbox/play", json={"openid": "o_user_2", "type": "text", "content": "存款利率", "encrypt": encrypt}
            )
            data = await resp.json()
            assert data["status"] == 200 and data["reply"] == "收到：存款利率"
        resp = await sandbox.post("/sandbox/play", json={"openid": "o_user_2", "type": "event", "event": "subscribe",
                                                         "event_key": "qrscene_RM0099"})  # fmt: skip
        assert (await resp.json())["reply"] == "欢迎关注！" and chat.subscribes[-1][2] == "RM0099"
    finally:
        await gateway.close()
    assert [m.text for m in chat.messages] == ["存款利率", "存款利率"]
