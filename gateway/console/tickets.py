"""The console's work queue (工单) page and API (#21).

``/console/tickets`` lists complaints, 留言, loss reports, appointments and callbacks with filters;
RMs assign, move and resolve them. Resolving tells the customer on the channel they wrote from
(through the handoff machine's outbound path, the one RM replies use) and asks for a rating.
The callback number a customer left is revealed to the assigned RM only, one audited reveal at a time.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from care.sla import due_at
from crm.access.callback import NotAssigned, reveal_callback_number
from crm.access.presence import rm_by_id
from crm.access.tickets import (
    NotAllowed,
    WorkFilter,
    assign,
    change_status,
    item_view,
    list_work,
    sync_work_items,
)
from crm.errors import NotFound
from crm.models import ChannelIdentity, Conversation, RelationshipManager, Ticket, utcnow
from crm.models.conversations import ConversationState
from crm.models.service import TICKET_KIND_ZH, TICKET_STATUS_ZH, TicketStatus
from gateway.console.auth import current_user, json_error, state_changing_user
from gateway.db import run_db
from gateway.handoff.machine import Effects
from gateway.handoff.service import HandoffService
from gateway.keys import SETTINGS
from gateway.validation import bounded_int, json_object, path_id

STATIC = Path(__file__).parent / "static"
HANDOFF_SERVICE = web.AppKey("tickets_handoff", HandoffService)
REFUSALS = {
    "not_yours": "这个工单不归您处理。",
    "bad_target": "请选择本网点的客户经理。",
    "bad_status": "工单当前状态不能这样变更，请刷新后重试。",
    "need_resolution": "请填写处理结果后再标记为已解决。",
    "closed": "工单已关闭，不能再分配。",
}
MAX_NOTE = 1000


def resolved_text(ref: str, kind: str, resolution: str) -> str:
    """What the customer reads when their ticket is resolved (the note is the RM's own words)."""
    what = TICKET_KIND_ZH.get(kind, "工单")
    return f"您好，您的{what}（工单号 {ref}）已处理完毕。处理结果：{resolution}\n如还有疑问，随时回复我们。"


def _filter(request: web.Request) -> WorkFilter:
    q = request.query
    kind = q.get("kind") or None
    status = q.get("status") or None
    due = q.get("due") or None
    if kind is not None and kind not in TICKET_KIND_ZH:
        raise json_error(400, "bad_filter", "工单类型不正确。")
    if status is not None and status != "active" and status not in TICKET_STATUS_ZH:
        raise json_error(400, "bad_filter", "工单状态不正确。")
    if due is not None and due not in ("overdue", "today"):
        raise json_error(400, "bad_filter", "到期筛选不正确。")
    order = q.get("order") or None
    if order is not None and order not in ("due", "visit"):
        raise json_error(400, "bad_filter", "排序方式不正确。")
    rm_raw = q.get("rm")
    rm_id = bounded_int(rm_raw, lo=0) if rm_raw else None
    branch_raw = q.get("branch")
    branch_id = bounded_int(branch_raw, lo=1) if branch_raw else None
    return WorkFilter(kind=kind, status=status, branch_id=branch_id, rm_id=rm_id, due=due,
                      order=None if order == "due" else order)


def _ticket_id(request: web.Request) -> int:
    ticket_id = path_id(request, "ticket_id")
    if ticket_id is None:
        raise json_error(404, "not_found", "工单不存在或您无权查看。")
    return ticket_id


async def page(_request: web.Request) -> web.FileResponse:
    resp = web.FileResponse(STATIC / "tickets.html")
    resp.headers["Content-Security-Policy"] = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "frame-ancestors 'none'"
    )
    return resp


async def listing(request: web.Request) -> web.Response:
    user = await current_user(request)
    flt = _filter(request)
    tz = request.app[SETTINGS].timezone

    def work(session: Session) -> dict[str, Any]:
        sync_work_items(session, lambda kind, at, day: due_at(kind, at, tz, day))
        rm = rm_by_id(session, user.rm_id)
        same_branch = RelationshipManager.branch_id == rm.branch_id
        colleagues = session.scalars(select(RelationshipManager).where(same_branch).order_by(RelationshipManager.id))
        return {
            "tickets": list_work(session, rm, flt, utcnow(), tz),
            "rms": [{"id": r.id, "name": r.name, "code": r.code} for r in colleagues],
            "kinds": TICKET_KIND_ZH,
            "statuses": TICKET_STATUS_ZH,
            "me": {"id": rm.id, "role": rm.role},
        }

    return web.json_response(await run_db(request, work))


async def _run(request: web.Request, work: Any) -> Any:
    try:
        return await run_db(request, work)
    except NotFound as exc:
        raise json_error(404, "not_found", "工单不存在或您无权查看。") from exc
    except NotAllowed as exc:
        raise json_error(403 if exc.reason == "not_yours" else 400, exc.reason, REFUSALS[exc.reason]) from exc


async def assign_ticket(request: web.Request) -> web.Response:
    user = await state_changing_user(request)
    ticket_id = _ticket_id(request)
    body = await json_object(request)
    target = bounded_int(body.get("rm_id"), lo=1)
    if target is None:
        raise json_error(400, "bad_request", "请选择要分配的客户经理。")
    tz = request.app[SETTINGS].timezone

    def work(session: Session) -> dict[str, Any]:
        rm = rm_by_id(session, user.rm_id)
        ticket = assign(session, rm, ticket_id, target)
        return {"ok": True, "message": "已分配。", "ticket": item_view(session, ticket, rm, utcnow(), tz)}

    return web.json_response(await _run(request, work))


async def set_status(request: web.Request) -> web.Response:
    user = await state_changing_user(request)
    ticket_id = _ticket_id(request)
    body = await json_object(request)
    status = body.get("status")
    note = body.get("resolution")
    if not isinstance(status, str) or status not in TICKET_STATUS_ZH:
        raise json_error(400, "bad_status", "工单状态不正确。")
    if note is not None and (not isinstance(note, str) or len(note) > MAX_NOTE):
        raise json_error(400, "bad_resolution", "处理结果过长或格式不正确。")
    tz = request.app[SETTINGS].timezone
    service = request.app[HANDOFF_SERVICE]

    def work(session: Session, fx: Effects) -> dict[str, Any]:
        rm = rm_by_id(session, user.rm_id)
        ticket = change_status(session, rm, ticket_id, status, note)
        told = False
        if status == TicketStatus.RESOLVED:
            told = _tell_customer(service, session, ticket, rm, fx)
        label = TICKET_STATUS_ZH[status]
        message = f"已标记为{label}。" + ("已通知客户并邀请评价。" if told else "")
        if status == TicketStatus.RESOLVED and not told:
            message += "客户没有可联系的会话，请电话告知处理结果。"
        return {"ok": True, "notified": told, "message": message,
                "ticket": item_view(session, ticket, rm, utcnow(), tz)}  # fmt: skip

    try:
        result: dict[str, Any] = await service.run(work)
    except NotFound as exc:
        raise json_error(404, "not_found", "工单不存在或您无权查看。") from exc
    except NotAllowed as exc:
        raise json_error(403 if exc.reason == "not_yours" else 400, exc.reason, REFUSALS[exc.reason]) from exc
    return web.json_response(result)


def _conversation_for(session: Session, ticket: Ticket) -> Conversation | None:
    """The customer's latest conversation on the channel the ticket came from (else any bound one)."""
    stmt = select(Conversation).order_by(Conversation.id.desc()).limit(1)
    if ticket.identity_id is not None:
        conv = session.scalar(stmt.where(Conversation.identity_id == ticket.identity_id))
        if conv is not None:
            return conv
    if ticket.customer_id is not None:
        identities = select(ChannelIdentity.id).where(ChannelIdentity.customer_id == ticket.customer_id)
        return session.scalar(stmt.where(Conversation.identity_id.in_(identities)))
    return None


def _tell_customer(
    service: HandoffService, session: Session, ticket: Ticket, rm: RelationshipManager, fx: Effects
) -> bool:
    conv = _conversation_for(session, ticket)
    if conv is None:
        return False
    machine = service.machine
    machine.notify(session, conv, resolved_text(ticket.ref, ticket.kind, ticket.resolution or ""), fx,
                   author="system", send_key=f"ticket-resolved:{ticket.id}:{int(utcnow().timestamp())}")  # fmt: skip
    # The rating question is answered in the bot state; a customer being served now is not interrupted.
    if conv.state == ConversationState.BOT:
        machine._ask_rating(session, conv, rm.id, fx)  # noqa: SLF001 - the machine's own rating flow
    return True


async def reveal(request: web.Request) -> web.Response:
    user = await state_changing_user(request)
    ticket_id = _ticket_id(request)

    def work(session: Session) -> str:
        return reveal_callback_number(session, user.rm_id, ticket_id)

    try:
        phone = await run_db(request, work)
    except NotFound as exc:
        raise json_error(404, "not_found", "工单不存在或没有回电号码。") from exc
    except NotAssigned as exc:
        raise json_error(403, "not_assigned", "只有负责该工单的客户经理可以查看完整号码。") from exc
    return web.json_response({"phone": phone, "message": "已记录本次查看。"})


def setup_tickets(app: web.Application, service: HandoffService) -> None:
    """Add ``/console/tickets`` and its API to the gateway."""
    app[HANDOFF_SERVICE] = service
    app.router.add_get("/console/tickets", page)
    app.router.add_get("/console/api/tickets", listing)
    app.router.add_post("/console/api/tickets/{ticket_id}/assign", assign_ticket)
    app.router.add_post("/console/api/tickets/{ticket_id}/status", set_status)
    app.router.add_post("/console/api/tickets/{ticket_id}/reveal", reveal)
