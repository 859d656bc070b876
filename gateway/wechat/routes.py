"""``GET/POST /wechat``: the Official Account callback.

Order of work for a POST: size limit → query check → signature → (decrypt) → parse → replay
check of (timestamp, nonce) → claim the message in the database → run the bot. Everything before
the replay check is pure, so a rejected request has no side effect beyond remembering the pair.
The claim (unique dedupe key) makes WeChat's retries safe across processes: a retry waits for
the first attempt's reply instead of running anything again.

A text message costs two transactions: the claim commits together with the recorded inbound
message, and the passive reply, the numbered choices and the recorded replies commit together
(both inside the conversation core, through ``TurnHooks``). A claim that rolls back leaves
nothing behind, so a retry of a message whose first attempt failed is simply processed.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import TypeVar

import aiohttp
from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from core.db import run_in_session
from crm import wechat_store as store
from gateway.chat_types import BotReply, ChatService
from gateway.wechat import convert
from gateway.wechat.crypto import MessageCrypto, make_signature
from gateway.wechat.inbound import Rejected, VerifiedRequest, verify_and_parse, verify_echo
from gateway.wechat.messages import build_encrypted_envelope, build_text_reply
from gateway.wechat.replay import ReplayGuard, make_replay_guard, remaining_validity
from gateway.wechat.settings import WeChatSettings
from gateway.wechat.turn import Duplicate, WeChatTurn
from outbound.wechat_api import WeChatApiClient

log = logging.getLogger(__name__)
T = TypeVar("T")

POLL_INTERVAL_S = 0.05
# Housekeeping of the channel's tables (every gateway runs it; the deletes are idempotent).
PURGE_INTERVAL_S = 60.0
# A stored passive reply only serves WeChat's retries (within ~15 s): blank it soon after.
REPLY_KEEP = dt.timedelta(minutes=5)
# Dedupe rows hold digests only; a day covers any retry and any clock trouble.
INBOUND_KEEP = dt.timedelta(days=1)
# After the deadline, how long the request still waits for a reply whose transaction is committing.
FINAL_COMMIT_WAIT_S = 0.4


class WeChatHandler:
    """Request handling for one account; shared by all requests of one gateway process."""

    def __init__(
        self,
        settings: WeChatSettings,
        chat: ChatService,
        session_factory: sessionmaker[Session],
        api: Callable[[], WeChatApiClient | None],
        replay: ReplayGuard | None = None,
    ) -> None:
        self.settings = settings
        self.chat = chat
        self.factory = session_factory
        self.crypto = MessageCrypto(settings.encoding_aes_key, settings.app_id) if settings.safe_mode else None
        self.replay = replay or make_replay_guard(settings.replay_redis_url, session_factory)
        self._api = api
        self.jobs: set[asyncio.Task[None]] = set()

    async def db(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn`` in its own session/transaction on a worker thread."""
        return await run_in_session(self.factory, fn)

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
            if convert.to_dispatch(verified.message).kind != "ignore":  # those change nothing
                await self._check_replay(verified)
        except Rejected as exc:
            return _reject(exc)
        text = await self.process(verified)
        return self._reply(verified, text)

    async def _check_replay(self, verified: VerifiedRequest) -> None:
        """Refuse a (timestamp, nonce) pair already used for another message (see ``replay``)."""
        ttl = remaining_validity(verified.timestamp, self.settings.max_clock_skew_s)
        try:
            fresh = await self.replay.first_use(verified.timestamp, verified.nonce, verified.message.dedupe_key, ttl)
        except Exception as exc:
            # Fail closed: without the check a replay would pass. WeChat retries in 5 s.
            log.exception("wechat: replay store unavailable")
            raise Rejected(503, "replay_store_unavailable") from exc
        if not fresh:
            raise Rejected(403, "replayed_nonce")

    async def purge(self) -> None:
        """Forget expired nonce pairs, blank old passive replies, drop old dedupe rows."""
        now = dt.datetime.now(dt.UTC)

        def work(session: Session) -> None:
            store.purge_replay(session, now)
            store.purge_replies(session, now - REPLY_KEEP)
            store.purge_inbound(session, now - INBOUND_KEEP)

        await self.db(work)

    async def purge_forever(self) -> None:
        """``purge`` every ``PURGE_INTERVAL_S`` until cancelled; a failed round is logged and retried."""
        while True:
            await asyncio.sleep(PURGE_INTERVAL_S)  # nothing is old yet when the gateway starts
            try:
                await self.purge()
            except Exception:
                log.exception("wechat: purge failed")

    # --- processing -------------------------------------------------------------------------

    async def process(self, verified: VerifiedRequest) -> str:
        """Deduplicate and run one verified message; return the passive reply text ("" = none)."""
        msg = verified.message
        dispatch = convert.to_dispatch(msg)
        if dispatch.kind == "ignore":
            return ""
        deadline = time.monotonic() + self.settings.reply_timeout_s
        key = msg.dedupe_key
        if dispatch.kind == "fixed":
            return await self._answer_fixed(key, msg.from_user, dispatch.fixed_text, deadline)
        turn = WeChatTurn(key, msg.from_user, dispatch, asyncio.get_running_loop().create_future())
        task = asyncio.create_task(self._run(turn))
        self.jobs.add(task)
        task.add_done_callback(self.jobs.discard)
        try:
            outcome = await asyncio.wait_for(asyncio.shield(turn.result), self.settings.reply_timeout_s)
        except TimeoutError:
            if turn.give_up():
                return ""  # answer "success"; the job delivers through the API
            # The reply is being committed right now: a few milliseconds more.
            try:
                outcome = await asyncio.wait_for(asyncio.shield(turn.result), FINAL_COMMIT_WAIT_S)
            except TimeoutError:
                return ""  # a retry will find the stored reply
        if isinstance(outcome, store.InboundState):
            return await self._wait_for_first(key, outcome, deadline)
        return outcome

    async def _answer_fixed(self, key: str, openid: str, text: str, deadline: float) -> str:
        """A fixed answer (media, unknown menu key): claimed and answered in one transaction."""

        def claim_and_answer(session: Session) -> store.InboundState:
            state = store.claim_inbound(session, key, openid, commit=False)
            if state.created:
                store.finish_inbound(session, key, store.REPLIED, text)
            return state

        state = await self.db(claim_and_answer)
        return text if state.created else await self._wait_for_first(key, state, deadline)

    async def _wait_for_first(self, key: str, state: store.InboundState, deadline: float) -> str:
        """A retry: wait (until ``deadline``) for the first attempt's reply; never run anything again."""
        current: store.InboundState | None = state
        while current is not None and current.status == store.PROCESSING and time.monotonic() < deadline:
            await asyncio.sleep(POLL_INTERVAL_S)
            current = await self.db(lambda s: store.read_inbound(s, key))
        if current is not None and current.status == store.REPLIED:
            return current.reply_text or ""
        return ""

    async def _run(self, turn: WeChatTurn) -> None:
        """The job for one message: run the core, settle the reply, deliver it late if needed."""
        try:
            await self._call_chat(turn)
            if turn.text is None:
                raise RuntimeError("the conversation core did not finish the turn")
            text = turn.text  # the core returned, so the transaction that stored it committed
        except Duplicate as dup:
            turn.result.set_result(dup.state)
            return
        except Exception:
            # Whatever the failed transaction wrote is gone; a claim that committed stays, so the
            # bot does not run again and the retries get the apology.
            log.exception("wechat: conversation core failed")
            text = convert.TEXT_BUSY
            try:
                await self.db(lambda s: turn.settle(s, text))
            except Exception:
                log.exception("wechat: could not record the apology")
        if not turn.deferred:
            turn.result.set_result(text)
            return
        status = store.DELIVERED
        if text:
            status = store.DELIVERED if await self._deliver(turn.openid, text) else store.FAILED
        await self.db(lambda s: store.finish_inbound(s, turn.key, status))

    async def _call_chat(self, turn: WeChatTurn) -> list[BotReply]:
        """Run the core. Messages claim inside the core's first transaction; events (rare) here."""
        dispatch = turn.dispatch
        if dispatch.kind == "message":
            assert dispatch.inbound is not None
            return await self.chat.handle_message(dispatch.inbound, turn)
        state = await self.db(lambda s: store.claim_inbound(s, turn.key, turn.openid))
        if not state.created:
            raise Duplicate(state)
        replies: list[BotReply] = []
        if dispatch.kind == "subscribe":
            replies = await self.chat.on_subscribe(convert.CHANNEL, turn.openid, dispatch.scene)
        elif dispatch.kind == "unsubscribe":
            await self.chat.on_unsubscribe(convert.CHANNEL, turn.openid)
            await self.db(lambda s: store.forget_openid(s, turn.openid))
        await self.db(lambda s: turn.finish(s, replies))
        return replies

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
    replay: ReplayGuard | None = None,
) -> WeChatHandler:
    """Add ``GET/POST /wechat`` to ``app`` and own the WeChat API client's HTTP session.

    Args:
        app: the gateway application (routes and a cleanup context are added).
        settings: the account's settings.
        chat: the conversation core.
        session_factory: crm sessionmaker for dedupe, choices and the token cache.
        api_client: use this client instead of creating one (the outbound sender may share it).
        replay: where (timestamp, nonce) pairs are remembered (default: Redis if
            ``settings.replay_redis_url``, else the database).

    Returns:
        The handler (``app[WECHAT_HANDLER_KEY]``); ``app[WECHAT_API_KEY]`` is the API client
        once the app has started.
    """
    holder: dict[str, WeChatApiClient] = {}
    handler = WeChatHandler(settings, chat, session_factory, lambda: holder.get("api"), replay)
    app[WECHAT_HANDLER_KEY] = handler

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        http: aiohttp.ClientSession | None = None
        if api_client is not None:
            holder["api"] = api_client
        else:
            http = aiohttp.ClientSession()
            holder["api"] = WeChatApiClient(settings, session_factory, http)
        app[WECHAT_API_KEY] = holder["api"]
        purger = asyncio.create_task(handler.purge_forever())
        yield
        purger.cancel()
        # Give late deliveries a chance to finish before the HTTP session closes.
        if handler.jobs:
            _done, pending = await asyncio.wait(set(handler.jobs), timeout=10)
            for task in pending:
                task.cancel()
        if http is not None:
            await http.close()
        await handler.replay.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_get("/wechat", handler.get)
    app.router.add_post("/wechat", handler.post)
    return handler
