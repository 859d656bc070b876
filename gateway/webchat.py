"""The web chat: page, session cookie, send/history API and a WebSocket for pushed messages.

The web identity is a random id in an HMAC-signed cookie issued by the server. In demo mode a
visitor may pick a demo persona, whose web identity the demo seed pre-binds and verifies.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import secrets
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from aiohttp import WSMsgType, web
from sqlalchemy.orm import Session

from core.settings import Settings
from crm.access.conversations import MessageView, messages_after
from crm.access.typing import BOT_SERVING, mark_customer_typing, serving_status
from crm.demo.seed import demo_identities
from crm.models import utcnow
from gateway.chat_types import InboundMessage
from gateway.client_address import client_address
from gateway.db import run_db
from gateway.keys import CHAT, SETTINGS
from gateway.validation import ascii_token, bad_request, bounded_int, is_clean_text, json_object, optional_id

STATIC = Path(__file__).parent / "static"
T = TypeVar("T")
COOKIE = "bc_web"
MAX_TEXT = 2000
PUSH_POLL_S = 1.0


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


async def start_session(request: web.Request) -> web.Response:
    """POST {"persona": web_id?}: issue the signed identity cookie."""
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
    else:
        web_id = "visitor-" + secrets.token_hex(12)
    resp = web.json_response({"ok": True})
    resp.set_cookie(COOKIE, _sign(cookie_secret(settings), web_id), httponly=True, samesite="Lax",
                    max_age=30 * 86400, secure=settings.public_url.startswith("https://"))
    return resp


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
    # The visitor's address reaches the actions as message metadata: binding codes are limited per address.
    meta = {"client_address": client_address(request)}
    await request.app[CHAT].handle_message(
        InboundMessage(channel="web", user_id=web_id, text=text.strip(), metadata=meta)
    )
    rows: list[MessageView] = await run_db(request, lambda s: messages_after(s, "web", web_id, after))
    return web.json_response({"messages": [m.to_json() for m in rows]})


async def history(request: web.Request) -> web.Response:
    web_id = _require_identity(request)
    after = _after(request.query.get("after"))
    rows: list[MessageView] = await run_db(request, lambda s: messages_after(s, "web", web_id, after))
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
    try:
        while not ws.closed:
            # partial binds the cursor now: the reader task may move ``last`` while the query runs.
            rows: list[MessageView] = await run_db(request, functools.partial(_fetch, web_id=web_id, after=last))
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


def _fetch(session: Session, web_id: str, after: int) -> list[MessageView]:
    return messages_after(session, "web", web_id, after)


def setup_webchat(app: web.Application) -> None:
    app.router.add_get("/", page)
    app.router.add_get("/api/demo-customers", demo_customers)
    app.router.add_post("/api/session", start_session)
    app.router.add_post("/api/messages", send)
    app.router.add_get("/api/messages", history)
    app.router.add_get("/ws", websocket)
    app.router.add_static("/static", STATIC)
