"""Replay protection: each callback's (timestamp, nonce) pair is usable for one message only.

In plaintext the signature covers only token, timestamp and nonce, not the body: without this, a
callback URL seen once could be re-posted within the clock window with another customer's
``FromUserName``. A pair is remembered until its timestamp would fail the clock check anyway
(``timestamp + max_clock_skew_s``), so memory is bounded by the callbacks of one window.

The pair is bound to the message it came with (sender + MsgId, or sender + CreateTime): WeChat's
own retry of that message may repeat the pair and still reaches the dedupe, which answers it from
the first attempt. Any other message with a used pair is refused.

Redis (``SET NX EX``, shared by every gateway) when ``REDIS_URL`` is set, else the database.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from typing import Protocol

from redis.asyncio import Redis
from sqlalchemy.orm import Session, sessionmaker

from core.db import run_in_session
from crm import wechat_store as store

KEY_PREFIX = "bankcare:wechat:replay:"


class ReplayGuard(Protocol):
    async def first_use(self, timestamp: str, nonce: str, message_key: str, ttl_s: int) -> bool:
        """True unless (timestamp, nonce) was already used, within ``ttl_s``, for another message."""
        ...

    async def close(self) -> None: ...


def remaining_validity(timestamp: str, max_clock_skew_s: int, now: float | None = None) -> int:
    """Seconds until a callback with ``timestamp`` fails the clock check (at least 1)."""
    current = time.time() if now is None else now
    return max(1, int(int(timestamp) + max_clock_skew_s - current) + 1)


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


class RedisReplayGuard:
    """Pairs in Redis with an expiry: one round trip per callback, shared by every gateway."""

    def __init__(self, client: Redis) -> None:
        self.client = client

    @classmethod
    def from_url(cls, url: str) -> RedisReplayGuard:
        return cls(Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))

    async def first_use(self, timestamp: str, nonce: str, message_key: str, ttl_s: int) -> bool:
        key = KEY_PREFIX + _digest(f"{timestamp}:{nonce}")
        message = _digest(message_key)
        if await self.client.set(key, message, nx=True, ex=ttl_s):
            return True
        stored = await self.client.get(key)
        # None: the earlier use expired between the two calls; it is the same as a first use.
        return stored is None or (stored.decode() if isinstance(stored, bytes) else stored) == message

    async def close(self) -> None:
        await self.client.aclose()


class DatabaseReplayGuard:
    """Pairs in the ``wechat_replay`` table (no Redis): one short transaction per callback."""

    def __init__(self, factory: sessionmaker[Session]) -> None:
        self.factory = factory

    async def first_use(self, timestamp: str, nonce: str, message_key: str, ttl_s: int) -> bool:
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(seconds=ttl_s)
        return await run_in_session(
            self.factory, lambda s: store.remember_callback(s, f"{timestamp}:{nonce}", message_key, expires, now)
        )

    async def close(self) -> None:
        return None


def make_replay_guard(redis_url: str, factory: sessionmaker[Session]) -> ReplayGuard:
    """Redis when a URL is configured, else the database."""
    if redis_url:
        return RedisReplayGuard.from_url(redis_url)
    return DatabaseReplayGuard(factory)
