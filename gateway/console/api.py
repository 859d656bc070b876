"""The RM console's JSON API and page. Authorisation is checked on every call, from the session.

An RM sees the queued conversations routed to them and the ones they own; a supervisor also sees
their branch. Anything else is answered 404 (no hint that it exists); visible but not theirs to
change is 403.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.access.handoff_queue import routed_to
from crm.access.history import customer_records
from crm.access.notes import add_note, notes
from crm.access.presence import is_online, rm_by_id, touch_presence
from crm.access.send_keys import message_for_key
from crm.access.visibility import visible
from crm.errors import NotFound
from crm.models import AuditEvent, Message, RelationshipManager, utcnow
from crm.models.conversations import ConversationState
from gateway.console import panel
from gateway.console.auth import (
    ConsoleUser,
    current_user,
    json_error,
    login,
    logout,
    state_changing_user,
)
from gateway.console.live import live
from gateway.console.totp import setup_totp_routes
from gateway.db import run_db
from gateway.handoff.machine import Effects, send_key_for_request
from gateway.handoff.service import HandoffService
from gateway.keys import SETTINGS
from gateway.validation import bounded_int, is_clean_text, json_object, path_id

STATIC = Path(__file__).parent / "static"
MAX_TEXT = 2000
# The page makes one key per message it sends and repeats it on retries (letters, digits, - and _).
REQUEST_KEY = re.compile(r"[A-Za-z0-9_-]{8,64}")
HANDOFF = web.AppKey("handoff", HandoffService)


def _conv_id(request: web.Request) -> int:
    conv_id = path_id(request, "conv_id")  # 1..2⁶³-1: anything else names no row (and would overflow)
    if conv_id is None:
        raise json_error(404, "not_found", "会话不存在。")
    return conv_id


def _me(session: Session, user: ConsoleUser) -> RelationshipManager:
    return rm_by_id(session, user.rm_id)


async def _body(request: web.Request) -> dict[str, Any]:
    return await json_object(request)  # strict: no lone surrogates, NUL, NaN; an object or 400


def _text(body: dict[str, Any]) -> str:
    text = body.get("text")
    if isinstance(text, str) and not is_clean_text(text):
        raise json_error(400, "bad_text", "内容无法识别，请重新输入。")
    if not isinstance(text, str) or not text.strip():
        raise json_error(400, "empty", "内容不能为空。")
    if len(text) > MAX_TEXT:
        raise json_error(400, "too_long", "内容太长了，请分几次发送。")
    return text.strip()


def _request_key(body: dict[str, Any]) -> str | None:
    key = body.get("key")
    if key is None:
        return None
    if not isinstance(key, str) or not REQUEST_KEY.fullmatch(key):
        raise json_error(400, "bad_key", "请求格式不正确，请刷新页面后重试。")
    return key


def _sent_message(session: Session, message_id: int) -> dict[str, Any]:
    """The reply as the console shows it, with its delivery state."""
    msg = session.get(Message, message_id)
    if msg is None:  # pragma: no cover - stored in the same request
        raise NotFound("message")
    return {"ok": True, "id": msg.id, **panel.delivery(msg.delivery_status)}


async def page(_request: web.Request) -> web.FileResponse:
    resp = web.FileResponse(STATIC / "console.html")
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'"
    )
    return resp


async def me(request: web.Request) -> web.Response:
    user = await current_user(request)
    return web.json_response(
        {"id": user.rm_id, "code": user.code, "name": user.name, "role": user.role, "csrf": user.csrf,
         # Transcript times are shown in the bank's zone, not the device's (#21).
         "timezone": request.app[SETTINGS].timezone}
    )  # fmt: skip


async def conversations(request: web.Request) -> web.Response:
    user = await current_user(request)
    listing = await run_db(request, lambda s: panel.conversation_list(s, user.rm_id))
    return web.json_response({"conversations": listing})


async def conversation(request: web.Request) -> web.Response:
    user = await current_user(request)
    conv_id = _conv_id(request)
    tz = request.app[SETTINGS].timezone

    def work(session: Session) -> dict[str, Any]:
        rm = _me(session, user)
        conv, hs = visible(session, rm, conv_id)
        session.add(
            AuditEvent(
                actor=f"rm:{rm.code}",
                action="console_view_customer",
                customer_id=hs.customer_id,
                detail={"conversation_id": conv.id},
            )
        )
        return {
            "conversation": panel.row(session, conv, hs, rm.id, utcnow()),
            "messages": panel.transcript(session, conv.id),
            "customer": panel.customer_panel(session, conv, tz),
            # Loss reports, appointments and tickets of a bound customer (#21).
            "records": customer_records(session, hs.customer_id, tz) if hs.customer_id else None,
            "notes": [
                {"id": n.id, "rm": name, "text": n.text, "created_at": n.created_at.isoformat()}
                for n, name in notes(session, conv.id)
            ],
        }

    return web.json_response(await _guard(request, work))


async def _guard(request: web.Request, work: Any) -> Any:
    try:
        return await run_db(request, work)
    except NotFound as exc:
        raise json_error(404, "not_found", "会话不存在或您无权查看。") from exc


def _action(name: str):  # type: ignore[no-untyped-def]
    """A state-changing conversation action: CSRF, visibility, then the machine, then effects."""

    async def handler(request: web.Request) -> web.Response:
        user = await state_changing_user(request)
        conv_id = _conv_id(request)
        body = await _body(request) if request.can_read_body else {}
        # The whole body is checked before the transaction, so a bad field cannot fail it halfway.
        text = _text(body) if name in ("reply", "note") else ""
        request_key = _request_key(body) if name == "reply" else None
        target_id = bounded_int(body.get("rm_id"), lo=1) if name == "transfer" else None
        if name == "transfer" and target_id is None:
            raise json_error(400, "bad_request", "请选择要转给的客户经理。")
        service = request.app[HANDOFF]
        machine = service.machine

        def work(session: Session, fx: Effects) -> dict[str, Any]:
            rm = _me(session, user)
            conv, hs = visible(session, rm, conv_id)
            owner = conv.rm_id == rm.id and conv.state == ConversationState.AGENT
            if name == "take":
                if conv.state != ConversationState.QUEUED or not (routed_to(rm, hs) or rm.role == "supervisor"):
                    return {"status": 409 if conv.state != ConversationState.QUEUED else 403}
                return {"ok": machine.take(session, conv, rm, fx)}
            if name == "note":
                note = add_note(session, conv.id, rm.id, text)
                return {"ok": True, "id": note.id}
            if name == "close" and conv.state == ConversationState.QUEUED and rm.role == "supervisor":
                return {"ok": machine.close(session, conv, rm, fx)}
            if not owner:
                return {"status": 403}
            if name == "reply":
                msg = machine.rm_reply(session, conv, rm, text, fx, request_key)
                return {"ok": msg is not None, "id": msg.id if msg else None}
            if name == "transfer":
                try:
                    target = rm_by_id(session, target_id or 0)
                except NotFound:
                    return {"status": 400}
                return {"ok": machine.transfer(session, conv, rm, target, fx)}
            if name == "handback":
                return {"ok": machine.hand_back(session, conv, rm, fx)}
            if name == "close":
                return {"ok": machine.close(session, conv, rm, fx)}
            return {"status": 404}

        try:
            result: dict[str, Any] = await service.run(work)
        except NotFound as exc:
            raise json_error(404, "not_found", "会话不存在或您无权查看。") from exc
        except IntegrityError:
            key = body.get("key")
            if name != "reply" or not isinstance(key, str):
                raise
            # The same console request arrived twice at once and the other one stored the message.
            result = await _same_request(request, user.rm_id, conv_id, key)
        status = result.get("status")
        if status == 403:
            raise json_error(403, "forbidden", "这个会话不归您处理。")
        if status == 409:
            raise json_error(409, "conflict", "会话状态已变化（可能已被其他客户经理接入），请刷新。")
        if status == 400:
            raise json_error(400, "bad_request", "请选择要转给的客户经理。")
        if status == 404:
            raise json_error(404, "not_found", "未知操作。")
        if not result.get("ok"):
            raise json_error(409, "conflict", "会话状态已变化（可能已被其他客户经理接入），请刷新。")
        if name == "reply":
            result = await run_db(request, lambda s: _sent_message(s, int(result["id"])))
        return web.json_response(result)

    return handler


async def _same_request(request: web.Request, rm_id: int, conv_id: int, key: str) -> dict[str, Any]:
    def find(session: Session) -> dict[str, Any]:
        msg = message_for_key(session, send_key_for_request(rm_id, key))
        if msg is None or msg.conversation_id != conv_id:
            return {"status": 409}
        return {"ok": True, "id": msg.id}

    return dict(await run_db(request, find))


async def rms(request: web.Request) -> web.Response:
    """Colleagues to transfer to: own branch first, then anyone online."""
    user = await current_user(request)
    presence = request.app[HANDOFF].settings.presence_timeout_s

    def work(session: Session) -> list[dict[str, Any]]:
        now = utcnow()
        out = []
        for rm in session.scalars(select(RelationshipManager).order_by(RelationshipManager.id)):
            online = is_online(rm, now, presence)
            if rm.id != user.rm_id and (rm.branch_id == user.branch_id or online):
                out.append(
                    {
                        "id": rm.id,
                        "name": rm.name,
                        "code": rm.code,
                        "online": online,
                        "same_branch": rm.branch_id == user.branch_id,
                    }
                )
        return sorted(out, key=lambda r: (not r["same_branch"], not r["online"], r["id"]))

    return web.json_response({"rms": await run_db(request, work)})


async def heartbeat(request: web.Request) -> web.Response:
    user = await state_changing_user(request)
    await run_db(request, lambda s: touch_presence(s, user.rm_id, utcnow()))
    return web.json_response({"ok": True})


async def stats(request: web.Request) -> web.Response:
    user = await current_user(request)
    if user.role != "supervisor":
        raise json_error(403, "forbidden", "只有主管可以查看统计。")
    tz = request.app[SETTINGS].timezone
    return web.json_response(
        await run_db(request, lambda s: panel.supervisor_stats(s, user.branch_id, utcnow(), tz))
    )


def setup_console(app: web.Application, service: HandoffService) -> None:
    """Add ``/console`` (page, static files, JSON API, WebSocket) to the gateway."""
    app[HANDOFF] = service
    app.router.add_get("/console", page)
    app.router.add_static("/console/static", STATIC)
    app.router.add_post("/console/api/login", login)
    app.router.add_post("/console/api/logout", logout)
    setup_totp_routes(app)  # second factor: login code step and enrolment (gateway/console/totp.py)
    app.router.add_get("/console/api/me", me)
    app.router.add_get("/console/api/conversations", conversations)
    app.router.add_get("/console/api/conversations/{conv_id}", conversation)
    for name in ("take", "reply", "note", "transfer", "handback", "close"):
        app.router.add_post(f"/console/api/conversations/{{conv_id}}/{name}", _action(name))
    app.router.add_get("/console/api/rms", rms)
    app.router.add_post("/console/api/heartbeat", heartbeat)
    app.router.add_get("/console/api/stats", stats)
    app.router.add_get("/console/ws", live)
