"""The web chat: page, session cookie, send/history API and a WebSocket for pushed messages.

The web identity is a random id in an HMAC-signed cookie issued by the server. In demo mode a
visitor may pick a demo persona, whose web identity the demo seed pre-binds and verifies.

Shared devices (网吧, a relative's phone, a branch PC): verification lapses after
``WEB_VERIFY_IDLE_MINUTES`` without a message and ``WEB_VERIFY_MAX_HOURS`` at most
(``crm.access.identity``); the history the page loads starts with the current visit; 退出
(``POST /api/logout``) ends verification and the cookie. Sessions, messages and 转人工 requests are
rate-limited per address and per chat identity (``gateway/rate_limit.py``): 429 with a JSON message.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from sqlalchemy import select
from sqlalchemy.orm import Session

from core.settings import Settings
from crm.access.conversations import MessageView, find_conversation, messages_after
from crm.access.identity import VerificationPolicies, expire_session, find_identity, log_out, renew_demo_verification
from crm.access.typing import BOT_SERVING, mark_customer_typing, serving_status
from crm.demo import catalogue
from crm.demo.seed import demo_identities
from crm.models import Customer, utcnow
from crm.models.conversations import ConversationState
from gateway.chat_types import InboundMessage
from gateway.client_address import client_address
from gateway.db import run_db
from gateway.keys import CHAT, SETTINGS
from gateway.rate_limit import Limit, RateLimiter, WebChatLimits, make_rate_limiter, over_limit
from gateway.validation import ascii_token, bad_request, bounded_int, is_clean_text, json_object, optional_id

STATIC = Path(__file__).parent / "static"
T = TypeVar("T")
COOKIE = "bc_web"
MAX_TEXT = 2000
PUSH_POLL_S = 1.0
COOKIE_MAX_AGE_S = 30 * 86400  # the chat id; verification behind it lapses far sooner (crm.access.identity)
LIMITER = web.AppKey("webchat_limiter", RateLimiter)
LIMITS = web.AppKey("webchat_limits", WebChatLimits)
TOO_FAST = "您发送得太快了，请稍等片刻再试。"
TOO_MANY_SESSIONS = "当前网络下新开的会话太多了，请稍后再试。"
TOO_MANY_HANDOFFS = "转人工的请求有些频繁，客服人员会按顺序为您服务，请稍等几分钟再试。"
# A message asking for a person: the button's payload, or words the bot's NLU maps to it.
HUMAN_WORDS = ("/request_human", "人工", "真人", "客服经理")


# Outside demo mode a SESSION_SECRET still at its public development value (this repository) must
# not sign web chat cookies anyone could forge: such a gateway signs with a secret of its own, new
# each start (sessions do not survive a restart; several gateways need a real SESSION_SECRET).
_PROCESS_SECRET = secrets.token_urlsafe(32)


def cookie_secret(settings: Settings) -> str:
    """The key web chat cookies are signed with (see ``_PROCESS_SECRET``)."""
    if settings.demo_mode or "SESSION_SECRET" not in settings.development_secrets():
        return settings.session_secret
    return _PROCESS_SECRET


def _sign(secret: str, value: str) -> str:
    mac = hmac.new(secret.encode(), value.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{value}.{mac}"


def _unsign(secret: str, token: str) -> str | None:
    value, _, mac = token.rpartition(".")
    if not value:
        return None
    return value if hmac.compare_digest(_sign(secret, value), token) else None


async def _json_body(request: web.Request, *, optional: bool = False) -> dict[str, object]:
    """The JSON body of a web chat POST, sent as ``application/json`` or refused (400).

    The session cookie is SameSite=Lax, which old browsers (common on customers' phones) ignore:
    a form on another site could otherwise post "挂失" into a verified customer's chat. A form can
    only send text/plain, urlencoded or multipart; ``application/json`` needs a CORS preflight
    this gateway never grants.
    """
    if request.content_type != "application/json":
        bad_request("请求格式不正确。", "bad_content_type")
    return await json_object(request, optional=optional)


def web_identity(request: web.Request) -> str | None:
    token = ascii_token(request.cookies.get(COOKIE))  # raw bytes in a cookie are no session, not a 500
    return _unsign(cookie_secret(request.app[SETTINGS]), token) if token else None


async def page(_request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "webchat.html")


async def demo_customers(request: web.Request) -> web.Response:
    if not request.app[SETTINGS].demo_mode:
        return web.json_response([])
    return web.json_response(
        [{"web_id": d["web_id"], "label": d["label"], "note": d["note"], "bound": d["bound"] == "true"}
         for d in demo_identities()]
    )


def _too_many(message: str, wait_s: int) -> web.Response:
    """HTTP 429 with the gateway's JSON error (the page shows ``message`` as the bot's line)."""
    return web.json_response(
        {"error": "rate_limited", "message": message, "retry_after": wait_s},
        status=429, headers={"Retry-After": str(wait_s)},
    )  # fmt: skip


def _policies(request: web.Request) -> VerificationPolicies:
    return VerificationPolicies.from_settings(request.app[SETTINGS])


async def start_session(request: web.Request) -> web.Response:
    """POST {"persona": web_id?}: issue the signed identity cookie."""
    limits = request.app[LIMITS]
    wait = await over_limit(request.app[LIMITER], [("session", client_address(request), limits.sessions_per_address)])
    if wait:
        return _too_many(TOO_MANY_SESSIONS, wait)
    body = await _json_body(request, optional=True)
    persona = body.get("persona")
    if persona is not None and not isinstance(persona, str):
        bad_request("请选择演示客户。", "bad_persona")
    settings = request.app[SETTINGS]
    if persona:
        allowed = {d["web_id"] for d in demo_identities()}
        if not settings.demo_mode or persona not in allowed:
            raise web.HTTPForbidden(text="只有演示模式可以选择演示客户")
        web_id = str(persona)
        await run_db(request, functools.partial(_renew_persona, web_id=web_id, policies=_policies(request)))
    else:
        web_id = "visitor-" + secrets.token_hex(12)
    resp = web.json_response({"ok": True})
    resp.set_cookie(COOKIE, _sign(cookie_secret(settings), web_id), httponly=True, samesite="Lax",
                    max_age=COOKIE_MAX_AGE_S, secure=settings.public_url.startswith("https://"))
    return resp


def _renew_persona(session: Session, web_id: str, policies: VerificationPolicies) -> None:
    """Demo mode: a bound demo persona picked again is verified again (the demo has no real SMS)."""
    persona = next((p for p in catalogue.PERSONAS if p.web_id == web_id and p.bound), None)
    identity = find_identity(session, "web", web_id)
    if persona is None or identity is None:
        return
    customer_id = session.scalar(select(Customer.id).where(Customer.phone == persona.phone).limit(1))
    if customer_id is not None:
        renew_demo_verification(session, identity, customer_id, utcnow(), policies.web)


async def logout(request: web.Request) -> web.Response:
    """POST: 退出. Ends the verification and the visit (history) of this chat id, deletes the cookie."""
    await _json_body(request, optional=True)  # JSON only, like every chat POST: no cross-site form can log out
    web_id = web_identity(request)
    if web_id is not None:
        await run_db(request, functools.partial(_log_out, web_id=web_id))
    resp = web.json_response({"ok": True})
    resp.del_cookie(COOKIE)
    return resp


def _log_out(session: Session, web_id: str) -> None:
    identity = find_identity(session, "web", web_id)
    if identity is not None:
        log_out(session, identity, utcnow())


def _after(value: object) -> int:
    """The client's last seen message id; anything but an integer in 0..2⁶³-1 is a 400."""
    return optional_id(value, field_name="after")


def _require_identity(request: web.Request) -> str:
    web_id = web_identity(request)
    if web_id is None:
        raise web.HTTPUnauthorized(text="请先开始会话")
    return web_id


async def send(request: web.Request) -> web.Response:
    # Everything is checked before the message is stored and the bot runs: a request that fails
    # later would be retried by the client and store the message twice.
    web_id = _require_identity(request)
    body = await _json_body(request)
    text = body.get("text")
    if not isinstance(text, str) or not is_clean_text(text):
        bad_request("消息内容无法识别，请重新输入。", "bad_text")
    if not text.strip():
        bad_request("消息不能为空。", "empty")
    if len(text) > MAX_TEXT:
        raise web.HTTPRequestEntityTooLarge(max_size=MAX_TEXT, actual_size=len(text), text="消息太长了，请分几次发送")
    after = _after(body.get("after"))
    address = client_address(request)
    limits = request.app[LIMITS]
    checks: list[tuple[str, str, Limit | None]] = [
        ("message", f"web:{web_id}", limits.messages_per_identity), ("message@", address, limits.messages_per_address)
    ]
    wait = await over_limit(request.app[LIMITER], checks)
    if wait:
        return _too_many(TOO_FAST, wait)
    if any(word in text for word in HUMAN_WORDS):
        checks = [
            ("handoff", f"web:{web_id}", limits.handoffs_per_identity),
            ("handoff@", address, limits.handoffs_per_address),
        ]
        wait = await over_limit(request.app[LIMITER], checks)
        if wait:
            return _too_many(TOO_MANY_HANDOFFS, wait)
    # The visitor's address reaches the actions as message metadata: binding codes are limited per address.
    meta = {"client_address": address}
    await request.app[CHAT].handle_message(
        InboundMessage(channel="web", user_id=web_id, text=text.strip(), metadata=meta)
    )
    policies = _policies(request)
    _, rows = await run_db(request, functools.partial(_fetch, web_id=web_id, after=after, policies=policies))
    return web.json_response({"messages": [m.to_json() for m in rows]})


async def history(request: web.Request) -> web.Response:
    """The current visit's messages: nothing from before a lapse or a 退出 (a shared device's next user)."""
    web_id = _require_identity(request)
    after = _after(request.query.get("after"))
    policies = _policies(request)
    _, rows = await run_db(request, functools.partial(_fetch, web_id=web_id, after=after, policies=policies))
    return web.json_response({"messages": [m.to_json() for m in rows]})


async def websocket(request: web.Request) -> web.WebSocketResponse:
    """Pushes every message newer than the client's last seen id (RM replies, campaigns).

    Polling the database keeps this correct with several gateway processes and across
    reconnects: the client says where it stopped, nothing is lost.
    """
    web_id = _require_identity(request)
    origin = request.headers.get("Origin")
    ours = {request.host, urlsplit(request.app[SETTINGS].public_url).netloc}  # also behind a proxy
    if origin is not None and origin.split("://", 1)[-1] not in ours:
        # A browser sends the chat cookie on another page's WebSocket handshake when it ignores
        # SameSite (or the page is on a sibling domain): that page would read the chat, balances
        # included. Browsers always say where the page came from; only our own page may connect.
        raise web.HTTPForbidden(text="来源不被允许")
    last = _after(request.query.get("after"))  # before the upgrade: afterwards no 400 can be sent
    ws = web.WebSocketResponse(heartbeat=30)
    await ws.prepare(request)

    async def reader() -> None:
        nonlocal last
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                try:
                    data = json.loads(msg.data)
                except (ValueError, RecursionError):
                    continue
                if isinstance(data, dict) and data.get("typing") is True:
                    # The customer is typing: the RM serving them sees "客户正在输入…" (#21).
                    await run_db(request, functools.partial(_typing, sender_id=f"web:{web_id}"))
                    continue
                after = bounded_int(data.get("after", 0)) if isinstance(data, dict) else None
                if after is not None:  # anything else is ignored: the socket keeps pushing
                    last = max(last, after)

    read_task = asyncio.create_task(reader())
    last_status: dict[str, object] = dict(BOT_SERVING)  # said only once it changes: the bot needs no banner
    policies = _policies(request)
    visit: dt.datetime | None | bool = False  # the visit's start as first seen (False: not yet read)
    try:
        while not ws.closed:
            # partial binds the cursor now: the reader task may move ``last`` while the query runs.
            since, rows = await run_db(
                request, functools.partial(_fetch, web_id=web_id, after=last, policies=policies)
            )
            if visit is not False and since != visit:
                # The verification lapsed or the customer logged out elsewhere: the page clears itself.
                await ws.send_json({"type": "reset"})
            visit = since
            for m in rows:
                await ws.send_json(m.to_json())
                last = max(last, m.id)
            # Who is serving and whether the RM is typing, each time it changes (#21).
            status = await run_db(request, functools.partial(_status, sender_id=f"web:{web_id}"))
            if status != last_status:
                await ws.send_json({"type": "status", **status})
                last_status = status
            await asyncio.sleep(PUSH_POLL_S)
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        read_task.cancel()
    return ws


def _typing(session: Session, sender_id: str) -> None:
    mark_customer_typing(session, sender_id, utcnow())


def _status(session: Session, sender_id: str) -> dict[str, object]:
    return serving_status(session, sender_id, utcnow())


def _fetch(
    session: Session, web_id: str, after: int, policies: VerificationPolicies
) -> tuple[dt.datetime | None, list[MessageView]]:
    """The expiry rule first (a lapse ends the visit), then the visit's messages after ``after``."""
    identity = find_identity(session, "web", web_id)
    if identity is None:
        return None, []
    ref = find_conversation(session, "web", web_id)
    with_rm = ref is not None and ref.state in (ConversationState.QUEUED, ConversationState.AGENT)
    expire_session(session, identity, utcnow(), policies.web, with_rm=with_rm)
    since = identity.session_since
    return since, messages_after(session, "web", web_id, after, since=since)


def setup_webchat(app: web.Application) -> None:
    app.router.add_get("/", page)
    app.router.add_get("/api/demo-customers", demo_customers)
    app.router.add_post("/api/session", start_session)
    app.router.add_post("/api/logout", logout)
    app.router.add_post("/api/messages", send)
    app.router.add_get("/api/messages", history)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static", STATIC)
    settings = app[SETTINGS]
    app[LIMITS] = WebChatLimits.from_settings(settings)
    app[LIMITER] = make_rate_limiter(settings.redis_url)

    async def _close_limiter(app: web.Application) -> AsyncIterator[None]:
        yield
        await app[LIMITER].close()

    app.cleanup_ctx.append(_close_limiter)
