"""Rate limits of the web chat: new sessions, messages and 转人工 requests per address and per chat identity.

Fixed windows ("20/60": at most 20 in each 60-second window), counted in Redis when ``REDIS_URL``
is set (shared by every gateway: ``INCR`` + ``EXPIRE``), else in this process's memory (each gateway
counts alone: with N gateways and no Redis a client gets up to N times the limit). The limits are
``WEBCHAT_LIMIT_*`` settings, generous enough that a person typing never meets them; they stop
scripts flooding Rasa or the RM queue. A Redis failure lets the request through (logged): a
limit must never turn into a 5xx or lock every customer out.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.settings import Settings

log = logging.getLogger(__name__)
KEY_PREFIX = "bankcare:webchat:limit:"


@dataclass(frozen=True)
class Limit:
    count: int
    window_s: int

    @classmethod
    def parse(cls, value: str) -> Limit | None:
        """"20/60" → Limit(20, 60); "off" → None (validated by ``Settings.validate``)."""
        text = value.strip().lower()
        if text == "off":
            return None
        count, _, window = text.partition("/")
        return cls(int(count), int(window))


@dataclass(frozen=True)
class WebChatLimits:
    sessions_per_address: Limit | None = Limit(30, 600)
    messages_per_identity: Limit | None = Limit(20, 60)
    messages_per_address: Limit | None = Limit(120, 60)
    handoffs_per_identity: Limit | None = Limit(5, 600)
    handoffs_per_address: Limit | None = Limit(30, 600)

    @classmethod
    def from_settings(cls, settings: Settings) -> WebChatLimits:
        return cls(
            sessions_per_address=Limit.parse(settings.webchat_limit_sessions),
            messages_per_identity=Limit.parse(settings.webchat_limit_messages),
            messages_per_address=Limit.parse(settings.webchat_limit_messages_address),
            handoffs_per_identity=Limit.parse(settings.webchat_limit_handoffs),
            handoffs_per_address=Limit.parse(settings.webchat_limit_handoffs_address),
        )


#: Settings for a test or benchmark driving many chats from one address (127.0.0.1): no web chat limits.
NO_LIMITS: dict[str, Any] = {  # Any: spread into Settings(...)
    name: "off"
    for name in (
        "webchat_limit_sessions", "webchat_limit_messages", "webchat_limit_messages_address",
        "webchat_limit_handoffs", "webchat_limit_handoffs_address",
    )
}  # fmt: skip


class RateLimiter(Protocol):
    async def hit(self, scope: str, subject: str, limit: Limit) -> int:
        """Count one request; 0 when within the limit, else the seconds until the window ends."""
        ...

    async def close(self) -> None: ...


def _key(scope: str, subject: str, limit: Limit, window: int) -> str:
    # Addresses and chat ids are hashed: the keys say nothing about who was counted.
    digest = hashlib.sha256(f"{scope}|{subject}".encode()).hexdigest()[:32]
    return f"{KEY_PREFIX}{scope}:{limit.window_s}:{window}:{digest}"


def _retry_after(limit: Limit, now: float) -> int:
    return max(1, math.ceil((math.floor(now / limit.window_s) + 1) * limit.window_s - now))


class MemoryRateLimiter:
    """Counters in this process (no Redis); at most ``max_keys`` windows kept, oldest dropped first."""

    def __init__(self, clock: Callable[[], float] = time.time, max_keys: int = 100_000) -> None:
        self.clock = clock
        self.max_keys = max_keys
        self.counts: dict[str, tuple[float, int]] = {}  # key → (window end, count)

    async def hit(self, scope: str, subject: str, limit: Limit) -> int:
        now = self.clock()
        window = math.floor(now / limit.window_s)
        key = _key(scope, subject, limit, window)
        end, count = self.counts.get(key, ((window + 1) * limit.window_s, 0))
        if key not in self.counts and len(self.counts) >= self.max_keys:
            self._prune(now)
        self.counts[key] = (end, count + 1)
        return 0 if count + 1 <= limit.count else _retry_after(limit, now)

    def _prune(self, now: float) -> None:
        self.counts = {k: v for k, v in self.counts.items() if v[0] > now}
        while len(self.counts) >= self.max_keys:  # still full of live windows: drop the oldest
            self.counts.pop(next(iter(self.counts)))

    async def close(self) -> None:
        return None


class RedisRateLimiter:
    """Counters in Redis, shared by every gateway: one INCR (and an EXPIRE on a window's first hit)."""

    def __init__(self, client: Redis, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock

    @classmethod
    def from_url(cls, url: str) -> RedisRateLimiter:
        return cls(Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1))

    async def hit(self, scope: str, subject: str, limit: Limit) -> int:
        now = self.clock()
        key = _key(scope, subject, limit, math.floor(now / limit.window_s))
        try:
            count = int(await self.client.incr(key))
            if count == 1:
                await self.client.expire(key, limit.window_s + 1)
        except (RedisError, OSError, TimeoutError) as exc:
            log.warning("rate limit not counted (redis: %s)", type(exc).__name__)
            return 0
        return 0 if count <= limit.count else _retry_after(limit, now)

    async def close(self) -> None:
        await self.client.aclose()


def make_rate_limiter(redis_url: str) -> RateLimiter:
    """Redis when a URL is configured, else this process's memory."""
    return RedisRateLimiter.from_url(redis_url) if redis_url else MemoryRateLimiter()


async def over_limit(limiter: RateLimiter, checks: list[tuple[str, str, Limit | None]]) -> int:
    """Count the request against each (scope, subject, limit) in turn; the wait of the first that
    refuses it, 0 when all allow it.

    Later limits are not counted once one refused: put the narrow subject (the chat identity) first,
    so a script hammering one chat keeps only its own window full, not its neighbours' behind the
    same address (a branch, a carrier's NAT).
    """
    for scope, subject, limit in checks:
        if limit is not None:
            wait = await limiter.hit(scope, subject, limit)
            if wait:
                return wait
    return 0
