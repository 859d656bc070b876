"""Finding 1 of #19: one valid callback URL must not serve another customer's message.

The attack: a plaintext callback's signature covers only token, timestamp and nonce, so its URL
re-posted within the clock window with another ``FromUserName`` and ``查余额`` was answered with
that customer's balances. And dedupe on MsgId alone gave a re-posted MsgId the first sender's reply.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import secrets
import time
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from core.db import make_engine, make_sessionmaker
from crm import wechat_store as store
from crm.models.wechat import WeChatInbound, WeChatReplay
from gateway.wechat.messages import parse_xml_fields, render_xml
from gateway.wechat.replay import DatabaseReplayGuard, RedisReplayGuard, remaining_validity
from gateway.wechat.settings import WeChatConfigError, WeChatSettings

from .conftest import OPENID, ORIGINAL_ID, FakeChat, encrypt_request, signed_query, start_gateway

Client = TestClient[Any, Any]
VICTIM = "oVictim_000000000000000000000"


def text_xml(openid: str, content: str, msg_id: str = "24620000000000777") -> str:
    return render_xml({
        "ToUserName": ORIGINAL_ID, "FromUserName": openid, "CreateTime": str(int(time.time())),
        "MsgType": "text", "Content": content, "MsgId": msg_id,
    })  # fmt: skip


def reply_of(body: str) -> str:
    return parse_xml_fields(body.encode())["Content"]


async def gateway_in(mode: str, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]) -> Client:
    return await start_gateway(dataclasses.replace(settings, mode=mode), chat, factory)


# --- the attack of finding 1 ------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["plain", "compatible"])
async def test_a_callback_url_reposted_for_another_customer_is_refused(
    mode: str, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    gateway = await gateway_in(mode, settings, chat, factory)
    try:
        query = signed_query(settings)
        first = await gateway.post("/wechat", params=query, data=text_xml(OPENID, "你好").encode())
        assert first.status == 200
        # The same valid URL, another customer's openid, a balance question.
        attack = await gateway.post("/wechat", params=query, data=text_xml(VICTIM, "查余额", "999").encode())
        assert attack.status == 403
        assert "查余额" not in await attack.text()
    finally:
        await gateway.close()
    assert [m.user_id for m in chat.messages] == [OPENID]


async def test_wechats_own_retry_with_the_same_url_still_gets_the_first_reply(
    settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    gateway = await gateway_in("plain", settings, chat, factory)
    try:
        query, body = signed_query(settings), text_xml(OPENID, "你好").encode()
        first = await gateway.post("/wechat", params=query, data=body)
        retry = await gateway.post("/wechat", params=query, data=body)
        assert first.status == retry.status == 200
        assert reply_of(await first.text()) == reply_of(await retry.text()) == "收到：你好"
    finally:
        await gateway.close()
    assert len(chat.messages) == 1


async def test_safe_mode_refuses_plaintext_bodies(
    settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    gateway = await gateway_in("safe", settings, chat, factory)
    try:
        plain = await gateway.post("/wechat", params=signed_query(settings), data=text_xml(VICTIM, "查余额").encode())
        assert plain.status == 403 and await plain.text() == "plaintext_refused"
        # encrypt_type=aes without an Encrypt element is no better
        query = {**signed_query(settings), "encrypt_type": "aes", "msg_signature": "0" * 40}
        bare = await gateway.post("/wechat", params=query, data=text_xml(VICTIM, "查余额").encode())
        assert bare.status == 400
        query, body = encrypt_request(settings, text_xml(OPENID, "你好"))
        ok = await gateway.post("/wechat", params=query, data=body.encode())
        assert ok.status == 200 and "Encrypt" in parse_xml_fields((await ok.text()).encode())
    finally:
        await gateway.close()
    assert [m.user_id for m in chat.messages] == [OPENID]


async def test_plain_mode_ignores_encryption(
    settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    gateway = await gateway_in("plain", settings, chat, factory)
    try:
        query = {**signed_query(settings), "encrypt_type": "aes"}
        resp = await gateway.post("/wechat", params=query, data=text_xml(OPENID, "你好").encode())
        assert resp.status == 200 and reply_of(await resp.text()) == "收到：你好"  # not encrypted
    finally:
        await gateway.close()


async def test_a_msgid_reposted_by_another_sender_never_gets_the_first_senders_reply(
    gateway: Client, settings: WeChatSettings, chat: FakeChat
) -> None:
    first = await gateway.post("/wechat", params=signed_query(settings), data=text_xml(OPENID, "我的余额").encode())
    assert reply_of(await first.text()) == "收到：我的余额"
    other = await gateway.post("/wechat", params=signed_query(settings), data=text_xml(VICTIM, "存款利率").encode())
    assert other.status == 200 and reply_of(await other.text()) == "收到：存款利率"
    assert [m.user_id for m in chat.messages] == [OPENID, VICTIM]


def test_mode_defaults_to_safe_with_a_key_and_plain_without() -> None:
    key = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
    assert WeChatSettings(token="t", app_id="wx1", encoding_aes_key=key).mode == "safe"
    assert WeChatSettings(token="t", app_id="wx1").mode == "plain"
    assert WeChatSettings.from_env({"WECHAT_MODE": "compatible"}).mode == "compatible"
    with pytest.raises(WeChatConfigError, match="WECHAT_MODE"):
        WeChatSettings(token="t", app_id="wx1", mode="safe")
    with pytest.raises(WeChatConfigError, match="WECHAT_MODE"):
        WeChatSettings(token="t", app_id="wx1", encoding_aes_key=key, mode="strict")


# --- the stores ---------------------------------------------------------------------------------


def test_remaining_validity_covers_the_clock_window() -> None:
    assert remaining_validity("1000", 300, now=1000) == 301
    assert remaining_validity("1000", 300, now=1400) == 1


@pytest.fixture
def db_factory(migrated_url: str) -> Any:
    engine = make_engine(migrated_url)
    yield make_sessionmaker(engine)
    engine.dispose()


async def test_database_store_remembers_pairs_per_message_and_purges_them(db_factory: Any) -> None:
    guard = DatabaseReplayGuard(db_factory)
    assert await guard.first_use("1700000000", "n1", "msg:a:1", 300)
    assert await guard.first_use("1700000000", "n1", "msg:a:1", 300)  # WeChat's retry
    assert not await guard.first_use("1700000000", "n1", "msg:b:2", 300)  # a replay
    assert await guard.first_use("1700000000", "n2", "msg:b:2", 300)
    now = dt.datetime.now(dt.UTC)
    with db_factory() as s:
        # An expired use gives the pair up (its timestamp can no longer pass anyway).
        assert store.remember_callback(s, "1700000000:n3", "msg:a", now - dt.timedelta(seconds=1), now)
        assert store.remember_callback(s, "1700000000:n3", "msg:b", now + dt.timedelta(seconds=60), now)
        assert not store.remember_callback(s, "1700000000:n3", "msg:c", now + dt.timedelta(seconds=60), now)
        assert store.purge_replay(s, now + dt.timedelta(seconds=301)) == 3
        s.commit()
        assert s.scalar(select(func.count()).select_from(WeChatReplay)) == 0


async def test_the_handler_purges_replies_old_dedupe_rows_and_dead_pairs(
    gateway: Client, settings: WeChatSettings, chat: FakeChat, factory: sessionmaker[Session]
) -> None:
    from gateway.wechat.routes import WECHAT_HANDLER_KEY

    resp = await gateway.post("/wechat", params=signed_query(settings), data=text_xml(OPENID, "你好").encode())
    assert resp.status == 200
    handler = gateway.app[WECHAT_HANDLER_KEY]
    await handler.purge()
    with factory() as s:  # a fresh reply stays for WeChat's retries
        assert s.scalars(select(WeChatInbound.reply_text)).all() == ["收到：你好"]
        old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=6)
        s.execute(WeChatInbound.__table__.update().values(updated_at=old))
        s.execute(WeChatReplay.__table__.update().values(expires_at=old))
        s.commit()
    await handler.purge()
    with factory() as s:
        assert s.scalars(select(WeChatInbound.reply_text)).all() == [None]
        assert s.scalar(select(func.count()).select_from(WeChatReplay)) == 0
        s.execute(WeChatInbound.__table__.update().values(created_at=old - dt.timedelta(days=1)))
        s.commit()
    await handler.purge()
    with factory() as s:
        assert s.scalar(select(func.count()).select_from(WeChatInbound)) == 0


@pytest.mark.redis
async def test_redis_store_remembers_pairs_per_message_with_an_expiry() -> None:
    guard = RedisReplayGuard.from_url("redis://127.0.0.1:6379/15")
    try:
        try:
            await guard.client.ping()
        except Exception:  # noqa: BLE001 - any connection problem means "not available"
            if os.environ.get("CI") == "true":
                pytest.fail("Redis at 127.0.0.1:6379 is required on CI (CI=true)")
            pytest.skip("Redis not reachable at 127.0.0.1:6379")
        ts, nonce = str(int(time.time())), secrets.token_hex(8)
        assert await guard.first_use(ts, nonce, "msg:a:1", 5)
        assert await guard.first_use(ts, nonce, "msg:a:1", 5)
        assert not await guard.first_use(ts, nonce, "msg:b:2", 5)
        keys = [k async for k in guard.client.scan_iter(match="bankcare:wechat:replay:*")]
        assert keys
        for key in keys:
            assert 0 < await guard.client.ttl(key) <= 5
        for key in keys:
            await guard.client.delete(key)
    finally:
        await guard.close()
