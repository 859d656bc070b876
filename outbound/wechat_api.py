"""WeChat server API client: shared access token, customer-service and template messages.

The access token lives in the database so every gateway / scheduler process uses the same one
(each fetch from WeChat starts invalidating the previous token). Every HTTP attempt is logged
in ``wechat_send_attempts`` with the openid only as a digest.

Message sends have no idempotency key at WeChat, so a send is retried only when WeChat certainly
did not act on it: the connection was never made (refused, DNS, TLS, connect timeout), a proxy
answered 5xx, or WeChat answered errcode -1 ("system busy"). When the request may have gone out
and the answer was lost (read timeout, disconnect, garbled 200), the attempt is ``ambiguous``:
it is not retried, and the caller records it for staff instead of risking a second message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Literal, Protocol, TypeVar

import aiohttp
from sqlalchemy.orm import Session, sessionmaker

from core.db import run_in_session, session_scope
from core.group_commit import GroupCommit
from core.settings import Settings
from crm import wechat_store as store
from crm.models.base import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

# errcodes: 40001 invalid credential, 40014 invalid token, 42001 token expired
TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
ERR_OUTSIDE_WINDOW = 45015  # more than 48 h since the user's last message (or window quota used)
ERR_QUOTA = 45009  # daily API quota reached
ERR_BUSY = -1  # "system busy, retry"

SendStatus = Literal["sent", "outside_window", "quota_exceeded", "token_error", "failed", "network_error", "ambiguous"]
# One HTTP attempt, as stored in ``wechat_send_attempts.outcome``:
#   ok / api_error  WeChat answered (errcode 0 / not 0)
#   http_error      5xx (a proxy or WeChat's front end): not processed, retryable
#   rejected        other non-2xx without a JSON answer: not processed, retrying will not help
#   network_error   the request never left: connection refused, DNS, TLS, connect timeout
#   ambiguous       it may have reached WeChat and the answer was lost: never retried for sends
CallOutcome = Literal["ok", "api_error", "http_error", "rejected", "network_error", "ambiguous"]


class ApiCredentials(Protocol):
    """What the client needs of an Official Account: the gateway's ``WeChatSettings`` (which also
    carries the callback token and AES key) and :class:`WeChatApiSettings` both have it."""

    @property
    def app_id(self) -> str: ...

    @property
    def app_secret(self) -> str: ...

    @property
    def api_base(self) -> str: ...


@dataclass(frozen=True)
class WeChatApiSettings:
    """The API credentials alone, for processes that send but never receive (the care scheduler)."""

    app_id: str
    app_secret: str
    api_base: str = "https://api.weixin.qq.com"

    def __repr__(self) -> str:  # never print the AppSecret
        return f"WeChatApiSettings(app_id={self.app_id!r}, api_base={self.api_base!r})"

    @classmethod
    def from_settings(cls, settings: Settings) -> WeChatApiSettings:
        return cls(settings.wechat_app_id, settings.wechat_app_secret, settings.wechat_api_base)


@dataclass(frozen=True)
class SendResult:
    """Outcome of one logical send (possibly several HTTP attempts)."""

    status: SendStatus
    errcode: int | None
    send_id: str
    attempts: int
    msgid: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == "sent"

    @property
    def ambiguous(self) -> bool:
        """WeChat may or may not have delivered it: do not send again, let staff check."""
        return self.status == "ambiguous"


class TokenUnavailable(Exception):
    """No access token could be obtained (bad AppSecret, network down, ...)."""

    def __init__(self, errcode: int | None) -> None:
        super().__init__(f"access token unavailable (errcode={errcode})")
        self.errcode = errcode


class WeChatApiClient:
    """Typed client for the few WeChat APIs the bank uses.

    Args:
        settings: account credentials and ``api_base``.
        session_factory: crm sessionmaker (token cache and attempt log).
        http: an aiohttp session owned by the caller (opened/closed in its cleanup_ctx).
        max_attempts: HTTP attempts per send for failures WeChat certainly did not act on
            (connection never made, 5xx, errcode -1).
        backoff_s: first retry delay; doubled each time, capped at ``backoff_max_s``.
        token_margin_s: refresh the token when it has less than this left (it lives 7,200 s).
        request_timeout_s: whole HTTP call; a send that times out after connecting is ambiguous.
        connect_timeout_s: connecting alone (capped at half the request timeout), so that a
            connection that never opens is told apart from a request that got no answer.
        token_memory_s: reuse the token read from the database for this long without asking it
            again (0: ask every time); a token WeChat rejects is forgotten at once. Kept well
            below ``token_margin_s``, so a remembered token always has time left.
        sleep: injectable for tests.
    """

    def __init__(
        self,
        settings: ApiCredentials,
        session_factory: sessionmaker[Session],
        http: aiohttp.ClientSession,
        *,
        max_attempts: int = 4,
        backoff_s: float = 0.5,
        backoff_max_s: float = 8.0,
        token_margin_s: float = 300.0,
        request_timeout_s: float = 5.0,
        connect_timeout_s: float = 2.0,
        token_memory_s: float = 0.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._factory = session_factory
        self._http = http
        self._max_attempts = max_attempts
        self._backoff_s = backoff_s
        self._backoff_max_s = backoff_max_s
        self._token_margin_s = token_margin_s
        self._timeout = aiohttp.ClientTimeout(
            total=request_timeout_s, connect=min(connect_timeout_s, request_timeout_s / 2)
        )
        self._sleep = sleep
        self._token_memory_s = min(token_memory_s, token_margin_s / 2)
        self._remembered: tuple[str, float] | None = None  # token, monotonic time to ask the DB again
        self._token_lock = asyncio.Lock()
        self._attempts: GroupCommit[dict[str, Any], None] = GroupCommit(self._record_many)
        self._base = settings.api_base.rstrip("/")

    # --- public API ----------------------------------------------------------------------

    async def send_text(self, openid: str, text: str) -> SendResult:
        """Send a customer-service text message (only inside the 48-hour window).

        Returns ``outside_window`` for 45015 and ``quota_exceeded`` for 45009 without retrying:
        neither clears within seconds, and the caller decides (template fallback, skip, alert).
        """
        payload = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        return await self._send("custom", openid, "/cgi-bin/message/custom/send", payload)

    async def send_template(
        self, openid: str, template_id: str, data: Mapping[str, str | Mapping[str, str]], url: str | None = None
    ) -> SendResult:
        """Send a template (service notice) message; allowed outside the 48-hour window.

        Args:
            data: ``{"keyword1": "值"}`` or ``{"keyword1": {"value": "值", "color": "#173177"}}``.
        """
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {k: (dict(v) if isinstance(v, Mapping) else {"value": v}) for k, v in data.items()},
        }
        if url:
            body["url"] = url
        return await self._send("template", openid, "/cgi-bin/message/template/send", body)

    async def get_access_token(self) -> str:
        """A valid access token from the shared cache, fetching a new one if needed.

        Raises:
            TokenUnavailable: WeChat refused or could not be reached.
        """
        if self._token_memory_s <= 0:
            return await self._shared_token()
        async with self._token_lock:  # one database read (or fetch) for all concurrent senders
            remembered = self._remembered
            if remembered is not None and time.monotonic() < remembered[1]:
                return remembered[0]
            token = await self._shared_token()
            self._remembered = (token, time.monotonic() + self._token_memory_s)
            return token

    async def _shared_token(self) -> str:
        deadline = time.monotonic() + 20
        while True:
            now = utcnow()
            token = await self._db(
                partial(store.get_valid_token, app_id=self._settings.app_id, now=now, margin_s=self._token_margin_s)
            )
            if token:
                return token
            locked = await self._db(
                partial(store.try_lock_token_refresh, app_id=self._settings.app_id, now=now, lease_s=30)
            )
            if locked:
                # Another process may have stored a fresh token between our read and our lock:
                # fetching again would make WeChat retire the token it is using.
                fresh = await self._db(
                    partial(store.get_valid_token, app_id=self._settings.app_id, now=now, margin_s=self._token_margin_s)
                )
                if fresh:
                    await self._db(partial(store.release_token_lock, app_id=self._settings.app_id))
                    return fresh
                return await self._refresh_token()
            if time.monotonic() > deadline:
                raise TokenUnavailable(None)
            await self._sleep(0.1)  # another process is fetching; its token will appear shortly

    # --- internals -----------------------------------------------------------------------

    async def _db(self, fn: Callable[[Session], T]) -> T:
        return await run_in_session(self._factory, fn)

    async def _record(
        self, send_id: str, kind: str, openid: str | None, attempt: int, outcome: str, errcode: int | None, ms: int
    ) -> None:
        # Awaited, so an attempt is committed before its outcome is acted on; concurrent sends
        # share the transaction (group commit) instead of one commit per HTTP call.
        await self._attempts.submit(
            {"send_id": send_id, "kind": kind, "openid": openid, "attempt": attempt, "outcome": outcome,
             "errcode": errcode, "duration_ms": ms}
        )  # fmt: skip

    def _record_many(self, attempts: Sequence[dict[str, Any]]) -> list[None]:
        with session_scope(self._factory) as session:
            store.record_attempts(session, attempts)
        return [None] * len(attempts)

    def _delay(self, attempt: int) -> float:
        delay = min(self._backoff_max_s, self._backoff_s * 2 ** (attempt - 1))
        return delay * random.uniform(0.8, 1.0)  # noqa: S311 - jitter, not security

    async def _call(
        self, method: str, path: str, params: dict[str, str], body: Any
    ) -> tuple[CallOutcome, dict[str, Any]]:
        """One HTTP call. Returns (outcome, json); never raises for network problems."""
        try:
            async with self._http.request(
                method, self._base + path, params=params, json=body, timeout=self._timeout
            ) as resp:
                if resp.status >= 500:
                    return "http_error", {}
                try:
                    data = await resp.json(content_type=None)
                except ValueError:
                    data = None
        except (aiohttp.ClientError, TimeoutError) as exc:
            return classify_failure(exc), {}
        if not isinstance(data, dict):
            # A 2xx that is not WeChat's JSON may still mean it acted; a 4xx from a proxy did not.
            return ("ambiguous" if 200 <= resp.status < 300 else "rejected"), {}
        return ("api_error" if data.get("errcode") else "ok"), data

    async def _refresh_token(self) -> str:
        app_id = self._settings.app_id
        send_id = str(uuid.uuid4())
        params = {"grant_type": "client_credential", "appid": app_id, "secret": self._settings.app_secret}
        errcode: int | None = None
        try:
            for attempt in range(1, self._max_attempts + 1):
                started = time.monotonic()
                outcome, data = await self._call("GET", "/cgi-bin/token", params, None)
                errcode = _errcode(data)
                await self._record(send_id, "token", None, attempt, outcome, errcode, _ms(started))
                if outcome == "ok" and data.get("access_token"):
                    token = str(data["access_token"])
                    expires_at = utcnow() + dt.timedelta(seconds=int(data.get("expires_in", 7200)))
                    await self._db(partial(store.store_token, app_id=app_id, token=token, expires_at=expires_at))
                    return token
                # Fetching a token is safe to repeat, so "ambiguous" is retried here too.
                if not retryable(outcome, errcode, idempotent=True) or attempt == self._max_attempts:
                    break
                await self._sleep(self._delay(attempt))
        except BaseException:
            await self._db(lambda s: store.release_token_lock(s, app_id))
            raise
        await self._db(lambda s: store.release_token_lock(s, app_id))
        log.warning("wechat access token fetch failed (errcode=%s)", errcode)
        raise TokenUnavailable(errcode)

    async def _send(self, kind: str, openid: str, path: str, body: dict[str, Any]) -> SendResult:
        send_id = str(uuid.uuid4())
        attempt = 0
        refreshed = False
        while True:
            attempt += 1
            try:
                token = await self.get_access_token()
            except TokenUnavailable as exc:
                return SendResult("token_error", exc.errcode, send_id, attempt)
            started = time.monotonic()
            outcome, data = await self._call("POST", path, {"access_token": token}, body)
            errcode = _errcode(data)
            await self._record(send_id, kind, openid, attempt, outcome, errcode, _ms(started))
            if outcome == "ok":
                msgid = data.get("msgid")
                return SendResult("sent", 0, send_id, attempt, int(msgid) if isinstance(msgid, int) else None)
            if errcode in TOKEN_ERRCODES and not refreshed:
                # Refresh once: another process may have replaced the token, or WeChat revoked it.
                refreshed = True
                self._remembered = None
                await self._db(partial(store.invalidate_token, app_id=self._settings.app_id, token=token))
                continue
            if errcode == ERR_OUTSIDE_WINDOW:
                return SendResult("outside_window", errcode, send_id, attempt)
            if errcode == ERR_QUOTA:
                log.warning("wechat %s send: daily quota reached", kind)
                return SendResult("quota_exceeded", errcode, send_id, attempt)
            if outcome == "ambiguous":
                # No idempotency key: a second attempt could give the customer the message twice.
                log.warning("wechat %s send ambiguous (may have been delivered), not retried", kind)
                return SendResult("ambiguous", None, send_id, attempt)
            if retryable(outcome, errcode, idempotent=False) and attempt < self._max_attempts:
                await self._sleep(self._delay(attempt))
                continue
            status: SendStatus = "network_error" if outcome in ("network_error", "http_error") else "failed"
            if errcode in TOKEN_ERRCODES:
                status = "token_error"
            log.warning("wechat %s send failed: outcome=%s errcode=%s attempts=%d", kind, outcome, errcode, attempt)
            return SendResult(status, errcode, send_id, attempt)


def _errcode(data: dict[str, Any]) -> int | None:
    value = data.get("errcode")
    return value if isinstance(value, int) else None


def classify_failure(exc: BaseException) -> Literal["network_error", "ambiguous"]:
    """Whether a failed HTTP call certainly never reached the server.

    ``network_error``: no connection was ever made (refused, DNS, TLS handshake, proxy connect,
    connect timeout), so nothing was sent. Anything else (read timeout, the server closing the
    connection, a reset mid-answer, the whole-call timeout) happened after the request may have
    been written: ``ambiguous``. aiohttp itself retries a stale keep-alive connection only for
    idempotent methods for the same reason (RFC 9112, section 9.3.1.1).
    """
    if isinstance(exc, aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError):
        return "network_error"
    return "ambiguous"


def retryable(outcome: CallOutcome, errcode: int | None, *, idempotent: bool) -> bool:
    """Retry only what WeChat certainly did not act on, unless repeating the call is harmless."""
    if outcome == "ambiguous":
        return idempotent
    return outcome in ("network_error", "http_error") or errcode == ERR_BUSY


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
