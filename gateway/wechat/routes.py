"""``GET/POST /wechat``: the Official Account callback.

Order of work for a POST: size limit → query check → signature → (decrypt) → parse → claim the
message in the database → run the bot. Everything before the claim is pure, so a rejected
request has no side effect. The claim (unique dedupe key) makes WeChat's retries safe across
processes: a retry waits for the first attempt's reply instead of running anything again.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TypeVar

import aiohttp
from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from crm import wechat_store as store
from crm.db import session_scope
from gateway.chat_types import BotReply, ChatService, InboundMessage
from gateway.wechat import convert
from gateway.wechat.api_client import WeChatApiClient
from gateway.wechat.crypto import MessageCrypto, make_signature
from gateway.wechat.inbound import Rejected, VerifiedRequest, verify_and_parse, verify_echo
from gateway.wechat.messages import build_encrypted_envelope, build_text_reply
from gateway.wechat.settings import WeChatSettings

log = logging.getLogger(__name__)
T = TypeVar("T")

CHOICE_MAX_AGE = dt.timedelta(minutes=30)
POLL_INTERVAL_S = 0.05


@dataclass
class _Job:
    """Hand-over between the request (waits ≤ reply_timeout_s) and the job (runs to the end)."""

    result: asyncio.Future[str]
    deferred: bool = False  # set by the request when it gave up and answered "success"


class WeChatHandler:
    """Request handling for one account; shared by all requests of one gateway process."""

    def __init__(
        self,
        settings: WeChatSettings,
        chat: ChatService,
        session_factory: sessionmaker[Session],
        api: Callable[[], WeChatApiClient | None],
    ) -> None:
        self.settings = settings
        self.chat = chat
        self.factory = session_factory
        self.crypto = MessageCrypto(settings.encoding_aes_key, settings.app_id) if settings.safe_mode else None
        self._api = api
        self.jobs: set[asyncio.Task[str]] = set()

    async def db(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in its own session/transaction on a worker thread."""

        def run() -> T:
            with session_scope(self.factory) as session:
                return fn(session)

        return await asyncio.to_thread(run)

    # --- HTTP -------------------------------------------------------------------------------

    async def get(self, request: web.Request) -> web.Response:
        try:
            echostr = verify_echo(self.settings, request.query)
        except Rejected as exc:
            return _reject(exc)
        return web.Response(text=echostr, content_type="text/plain")

    async def post(self, request: web.Request) -> web.Response:
        try:
            body = await _read_limited(request, self.settings.max_body_bytes)
            verified = verify_and_parse(self.settings, self.crypto, request.query, body)
        except Rejected as exc:
            return _reject(exc)
        text = await self.process(verified)
        return self._reply(verified, text)

    # --- processing -------------------------------------------------------------------------

    async def process(self, verified: VerifiedRequest) -> str:
        """Deduplicate and run one verified message; return the passive reply text ("" = none)."""
        msg = verified.message
        dispatch = convert.to_dispatch(msg)
        if dispatch.kind == "ignore":
            return ""
        key = msg.dedupe_key
        state = await self.db(lambda s: store.claim_inbound(s, key, msg.from_user))
        if not state.created:
            return await self._wait_for_first(key, state)
        job = _Job(result=asyncio.get_running_loop().create_future())
        task = asyncio.create_task(self._run(key, msg.from_user, dispatch, job))
        self.jobs.add(task)
        task.add_done_callback(self.jobs.discard)
        try:
            return await asyncio.wait_for(asyncio.shield(job.result), self.settings.reply_timeout_s)
        except TimeoutError:
            # No await between this check and the flag: the job sees one consistent decision.
            if job.result.done():
                return job.result.result()
            job.deferred = True  # answer "success"; the job delivers through the API
            return ""

    async def _wait_for_first(self, key: str, state: store.InboundState) -> str:
        """A retry: wait (bounded) for the first attempt's reply; never run anything again."""
        deadline = time.monotonic() + self.settings.reply_timeout_s
        current: store.InboundState | None = state
        while current is not None and current.status == store.PROCESSING and time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL_S)
            current = await self.db(lambda s: store.read_inbound(s, key))
        if current is not None and current.status == store.REPLIED:
            return current.reply_text or ""
        return ""

    async def _run(self, key: str, openid: str, dispatch: convert.Dispatch, job: _Job) -> str:
        """The job for one message: call the core, record the reply, deliver it late if needed."""
        payloads: list[str] | None = None
        try:
            replies = await self._call_chat(openid, dispatch)
            text, buttons = convert.render_replies(replies)
            if dispatch.kind == "message":
                payloads = [b.payload for b in buttons]
        except Exception:
            log.exception("wechat: conversation core failed")
            text = convert.TEXT_BUSY

        if payloads is not None:
            # Before the customer can see the numbered choices: a quick "1" must find them.
            choices = payloads
            await self.db(lambda s: store.save_choices(s, openid, choices))
        if not job.deferred:
            job.result.set_result(text)
            await self.db(lambda s: store.finish_inbound(s, key, store.REPLIED, text))
            return text
        await self.db(lambda s: store.finish_inbound(s, key, store.DEFERRED, None))
        status = store.DELIVERED
        if text:
            status = store.DELIVERED if await self._deliver(openid, text) else store.FAILED
        await self.db(lambda s: store.finish_inbound(s, key, status))
        return text

    async def _call_chat(self, openid: str, dispatch: convert.Dispatch) -> list[BotReply]:
        if dispatch.kind == "fixed":
            return [BotReply(text=dispatch.fixed_text)]
        if dispatch.kind == "subscribe":
            return await self.chat.on_subscribe(convert.CHANNEL, openid, dispatch.scene)
        if dispatch.kind == "unsubscribe":
            await self.chat.on_unsubscribe(convert.CHANNEL, openid)
            await self.db(lambda s: store.forget_openid(s, openid))
            return []
        inbound = dispatch.inbound
        assert inbound is not None
        number = convert.choice_index(inbound.text)
        if number is not None:
            payload = await self.db(lambda s: store.resolve_choice(s, openid, number, CHOICE_MAX_AGE))
            if payload is not None:
                meta = {**inbound.metadata, "choice": str(number)}
                inbound = InboundMessage(inbound.channel, inbound.user_id, payload, inbound.location, meta)
        return await self.chat.handle_message(inbound)

    async def _deliver(self, openid: str, text: str) -> bool:
        api = self._api()
        if api is None:
            log.warning("wechat: late reply dropped, no API client configured")
            return False
        result = await api.send_text(openid, text)
        if not result.ok:
            log.warning("wechat: late reply not delivered (status=%s errcode=%s)", result.status, result.errcode)
        return result.ok

    def _reply(self, verified: VerifiedRequest, text: str) -> web.Response:
        if not text:
            return web.Response(text="success", content_type="text/plain")
        msg = verified.message
        xml = build_text_reply(msg.from_user, msg.to_user, text)
        if verified.encrypted and self.crypto is not None:
            encrypt = self.crypto.encrypt(xml)
            timestamp = str(int(time.time()))
            signature = make_signature(self.settings.token, timestamp, verified.nonce, encrypt)
            xml = build_encrypted_envelope(encrypt, signature, timestamp, verified.nonce)
        return web.Response(text=xml, content_type="application/xml")


async def _read_limited(request: web.Request, limit: int) -> bytes:
    if request.content_length is not None and request.content_length > limit:
        raise Rejected(413, "body_too_large")
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await request.content.read(65536)
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise Rejected(413, "body_too_large")
        chunks.append(chunk)
    return b"".join(chunks)


WECHAT_HANDLER_KEY: web.AppKey[WeChatHandler] = web.AppKey("wechat_handler", WeChatHandler)
WECHAT_API_KEY: web.AppKey[WeChatApiClient] = web.AppKey("wechat_api_client", WeChatApiClient)


def _reject(exc: Rejected) -> web.Response:
    log.info("wechat callback rejected: %s", exc.code)
    return web.Response(status=exc.status, text=exc.code, content_type="text/plain")


def setup_wechat(
    app: web.Application,
    settings: WeChatSettings,
    chat: ChatService,
    session_factory: sessionmaker[Session],
    *,
    api_client: WeChatApiClient | None = None,
) -> WeChatHandler:
    """Add ``GET/POST /wechat`` to ``app`` and own the WeChat API client's HTTP session.

    Args:
        app: the gateway application (routes and a cleanup context are added).
        settings: the account's settings.
        chat: the conversation core.
        session_factory: crm sessionmaker for dedupe, choices and the token cache.
        api_client: use this client instead of creating one (the outbound sender may share it).

    Returns:
        The handler (``app[WECHAT_HANDLER_KEY]``); ``app[WECHAT_API_KEY]`` is the API client
        once the app has started.
    """
    holder: dict[str, WeChatApiClient] = {}
    handler = WeChatHandler(settings, chat, session_factory, lambda: holder.get("api"))
    app[WECHAT_HANDLER_KEY] = handler

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        http: aiohttp.ClientSession | None = None
        if api_client is not None:
            holder["api"] = api_client
        else:
            http = aiohttp.ClientSession()
            holder["api"] = WeChatApiClient(settings, session_factory, http)
        app[WECHAT_API_KEY] = holder["api"]
        yield
        # Give late deliveries a chance to finish before the HTTP session closes.
        if handler.jobs:
            _done, pending = await asyncio.wait(set(handler.jobs), timeout=10)
            for task in pending:
                task.cancel()
        if http is not None:
            await http.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/wechat", handler.get)
    app.router.add_post("/wechat", handler.post)
    return handler
