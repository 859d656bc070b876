"""The console's work queue (工单): complaints, 留言, loss reports, appointments and callbacks (#21).

Loss reports and appointments live in their own tables (the bot's flows write them); each gets a
work item here (a ``Ticket`` keyed ``work:<ref>``) so the RM assigns, resolves and closes them like
any other ticket. Who sees what: an RM their own tickets and the unassigned ones of their branch;
a supervisor everything of the branch and the unassigned ones nobody's branch claims. Every change
is audited. Texts are stored masked (the model's validator); the callback number the customer left
is only revealed through ``crm.access.callback``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from core.masking import mask_card, mask_customer_name
from crm.access.appointments import CANCELLED as APPOINTMENT_CANCELLED
from crm.access.callback import callback_number_masked
from crm.access.windows import window_sort_key
from crm.errors import CrmError, NotFound
from crm.models import (
    Appointment,
    AuditEvent,
    Branch,
    Card,
    ChannelIdentity,
    Customer,
    LossReport,
    RelationshipManager,
    Ticket,
    utcnow,
)
from crm.models.service import TICKET_KIND_ZH, TICKET_STATUS_ZH, TicketStatus

# Computes a ticket's due time: (kind, created_at, appointment day or None) → aware datetime.
DueRule = Callable[[str, dt.datetime, dt.date | None], dt.datetime]
CHANNEL_ZH = {"wechat": "微信", "web": "网页", "sms": "短信"}
OPEN_STATES = (TicketStatus.OPEN.value, TicketStatus.PROCESSING.value)
# Moves an RM may make (resolved needs a note; closed is final).
ALLOWED: dict[str, frozenset[str]] = {
    TicketStatus.OPEN: frozenset({TicketStatus.PROCESSING, TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.PROCESSING: frozenset({TicketStatus.OPEN, TicketStatus.RESOLVED, TicketStatus.CLOSED}),
    TicketStatus.RESOLVED: frozenset({TicketStatus.PROCESSING, TicketStatus.CLOSED}),
    TicketStatus.CLOSED: frozenset(),
}


class NotAllowed(CrmError):
    """Visible, but this RM may not make this change (``reason`` says which)."""

    code = "not_allowed"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class WorkFilter:
    kind: str | None = None
    status: str | None = None  # a TicketStatus value, or "active" for 待处理 + 处理中
    branch_id: int | None = None
    rm_id: int | None = None  # 0 = unassigned
    due: str | None = None  # overdue | today
    order: str | None = None  # None: overdue first, then by due time; "visit": appointments by day and window


WEEKDAYS = "一二三四五六日"
APPOINTMENT_STATUS_ZH = {"booked": "已预约", "cancelled": "已取消"}


def _appointment_text(appt: Appointment, branch_name: str) -> str:
    window = f"{appt.time_window} " if appt.time_window else ""
    return f"网点预约：{appt.on_date:%m月%d日} {window}{branch_name}，办理{appt.service}。"


def visit_view(appt: Appointment) -> dict[str, Any]:
    """When the customer comes, as separate fields the console shows and sorts on: the day (ISO and
    12月09日（周三）), the window (上午 / 下午 / 09:00-10:00, or 全天), a sort key, the booking's state."""
    return {
        "date": appt.on_date.isoformat(),
        "day": f"{appt.on_date:%m月%d日}（周{WEEKDAYS[appt.on_date.weekday()]}）",
        "window": appt.time_window,
        "window_label": appt.time_window or "全天",
        "sort": f"{appt.on_date.isoformat()} {window_sort_key(appt.time_window)}",
        "status": APPOINTMENT_STATUS_ZH.get(appt.status, appt.status),
    }


def sync_work_items(session: Session, due_rule: DueRule) -> int:
    """Give every loss report and appointment its work item, and every ticket a branch and due time.

    Idempotent (the work item's key is unique); returns how many items it created.
    """
    created = 0
    have = set(session.scalars(select(Ticket.idempotency_key).where(Ticket.idempotency_key.like("work:%"))))
    for report, card in session.execute(
        select(LossReport, Card).join(Card, Card.id == LossReport.card_id).order_by(LossReport.id)
    ):
        if f"work:{report.ref}" not in have:
            _add_item(session, report.ref, report.customer_id, "loss_report", "挂失",
                      f"银行卡挂失：{mask_card(card.card_no)}，请跟进补卡。", report.created_at)  # fmt: skip
            created += 1
    for appt, branch in session.execute(
        select(Appointment, Branch).join(Branch, Branch.id == Appointment.branch_id).order_by(Appointment.id)
    ):
        if f"work:{appt.ref}" not in have:
            text = _appointment_text(appt, branch.name)
            item = _add_item(session, appt.ref, appt.customer_id, "appointment", appt.service, text, appt.created_at)
            item.branch_id = appt.branch_id
            item.due_at = due_rule("appointment", appt.created_at, appt.on_date)
            created += 1
    session.flush()
    # A booking moved in chat since its item was made: the open item follows it (text and due time).
    for item, appt, branch in session.execute(
        select(Ticket, Appointment, Branch)
        .join(Appointment, Appointment.ref == Ticket.ref)
        .join(Branch, Branch.id == Appointment.branch_id)
        .where(Ticket.kind == "appointment", Ticket.status.in_(OPEN_STATES))
    ):
        if appt.status == APPOINTMENT_CANCELLED:
            # Cancelled by the customer in chat: nothing left for the branch to prepare.
            item.status = TicketStatus.CLOSED
            item.resolution = "客户已在对话中取消预约，系统自动关闭。"
            item.resolved_at = item.updated_at = utcnow()
            continue
        text = _appointment_text(appt, branch.name)
        if item.content != text:
            item.content = text
            item.due_at = due_rule("appointment", appt.created_at, appt.on_date)
    for ticket in session.scalars(select(Ticket).where(or_(Ticket.due_at.is_(None), Ticket.branch_id.is_(None)))):
        if ticket.branch_id is None:
            ticket.branch_id = _branch_for(session, ticket)
        if ticket.due_at is None:
            ticket.due_at = due_rule(ticket.kind, ticket.created_at, None)
    session.flush()
    return created


def _add_item(
    session: Session, ref: str, customer_id: int, kind: str, category: str, content: str, at: dt.datetime
) -> Ticket:
    customer = session.get(Customer, customer_id)
    item = Ticket(
        ref=ref,
        customer_id=customer_id,
        rm_id=customer.rm_id if customer else None,
        branch_id=customer.branch_id if customer else None,
        kind=kind,
        category=category[:32],
        content=content,
        idempotency_key=f"work:{ref}",
        created_at=at,
        updated_at=at,
    )
    session.add(item)
    return item


def _branch_for(session: Session, ticket: Ticket) -> int | None:
    if ticket.rm_id is not None:
        rm = session.get(RelationshipManager, ticket.rm_id)
        if rm is not None:
            return rm.branch_id
    if ticket.customer_id is not None:
        customer = session.get(Customer, ticket.customer_id)
        if customer is not None:
            return customer.branch_id
    return None


def _visible_clause(rm: RelationshipManager) -> Any:
    if rm.role == "supervisor":
        return or_(Ticket.rm_id == rm.id, Ticket.branch_id == rm.branch_id, Ticket.branch_id.is_(None))
    return or_(Ticket.rm_id == rm.id, (Ticket.rm_id.is_(None)) & (Ticket.branch_id == rm.branch_id))


def visible_ticket(session: Session, rm: RelationshipManager, ticket_id: int) -> Ticket:
    """The ticket if ``rm`` may see it; NotFound otherwise (no hint that it exists)."""
    ticket = session.scalar(select(Ticket).where(Ticket.id == ticket_id, _visible_clause(rm)))
    if ticket is None:
        raise NotFound("ticket")
    return ticket


def list_work(
    session: Session, rm: RelationshipManager, flt: WorkFilter, now: dt.datetime, tz: str, limit: int = 300
) -> list[dict[str, Any]]:
    """The work items ``rm`` may see, overdue first, then by due time."""
    stmt = select(Ticket).where(_visible_clause(rm))
    if flt.kind:
        stmt = stmt.where(Ticket.kind == flt.kind)
    if flt.status == "active":
        stmt = stmt.where(Ticket.status.in_(OPEN_STATES))
    elif flt.status:
        stmt = stmt.where(Ticket.status == flt.status)
    if flt.branch_id:
        stmt = stmt.where(Ticket.branch_id == flt.branch_id)
    if flt.rm_id == 0:
        stmt = stmt.where(Ticket.rm_id.is_(None))
    elif flt.rm_id:
        stmt = stmt.where(Ticket.rm_id == flt.rm_id)
    zone = ZoneInfo(tz)
    if flt.due == "overdue":
        stmt = stmt.where(Ticket.due_at < now, Ticket.status.in_(OPEN_STATES))
    elif flt.due == "today":
        end = dt.datetime.combine(now.astimezone(zone).date() + dt.timedelta(days=1), dt.time(0), zone)
        stmt = stmt.where(Ticket.due_at < end, Ticket.status.in_(OPEN_STATES))
    items = list(session.scalars(stmt.order_by(Ticket.id.desc()).limit(limit)))
    refs = [t.ref for t in items if t.kind == "appointment"]
    visits = {a.ref: a for a in session.scalars(select(Appointment).where(Appointment.ref.in_(refs)))} if refs else {}
    rows = [item_view(session, t, rm, now, tz, visits.get(t.ref)) for t in items]
    far = dt.datetime.max.replace(tzinfo=dt.UTC).isoformat()
    rows.sort(key=lambda r: (not r["overdue"], not r["active"], r["due_iso"] or far))
    if flt.order == "visit":  # appointments by the day and window of the visit, everything else after them
        rows.sort(key=lambda r: (r["visit"] is None, r["visit"]["sort"] if r["visit"] else ""))
    return rows


def item_view(
    session: Session,
    t: Ticket,
    viewer: RelationshipManager,
    now: dt.datetime,
    tz: str,
    appointment: Appointment | None = None,
) -> dict[str, Any]:
    """One work item as the console shows it: masked, labelled in Chinese, local times; an appointment's
    item also says when the customer comes (``visit``: day and window apart, read from the booking)."""
    zone = ZoneInfo(tz)
    if appointment is None and t.kind == "appointment":
        appointment = session.scalar(select(Appointment).where(Appointment.ref == t.ref))
    customer = session.get(Customer, t.customer_id) if t.customer_id else None
    identity = session.get(ChannelIdentity, t.identity_id) if t.identity_id else None
    channel = identity.channel if identity else None
    who = mask_customer_name(customer.name) if customer else f"{CHANNEL_ZH.get(channel or '', '访客')}用户（未绑定）"
    rm = session.get(RelationshipManager, t.rm_id) if t.rm_id else None
    branch = session.get(Branch, t.branch_id) if t.branch_id else None
    active = t.status in OPEN_STATES
    return {
        "id": t.id,
        "ref": t.ref,
        "kind": t.kind,
        "kind_label": TICKET_KIND_ZH.get(t.kind, "工单"),
        "category": t.category,
        "content": t.content,
        "status": t.status,
        "status_label": TICKET_STATUS_ZH.get(t.status, "待处理"),
        "customer": who,
        "customer_id": t.customer_id,
        "channel": CHANNEL_ZH.get(channel or "", "") if channel else "",
        "bound": customer is not None,
        "rm_id": t.rm_id,
        "rm": rm.name if rm else None,
        "branch": branch.name if branch else None,
        "mine": t.rm_id == viewer.id,
        "callback_masked": callback_number_masked(t),
        "can_reveal": bool(t.callback_phone) and t.rm_id == viewer.id,
        "created": t.created_at.astimezone(zone).strftime("%Y-%m-%d %H:%M"),
        "due": t.due_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if t.due_at else None,
        "due_iso": t.due_at.isoformat() if t.due_at else None,
        "overdue": bool(active and t.due_at is not None and t.due_at < now),
        "active": active,
        "resolution": t.resolution,
        "resolved": t.resolved_at.astimezone(zone).strftime("%Y-%m-%d %H:%M") if t.resolved_at else None,
        "visit": visit_view(appointment) if appointment is not None and t.kind == "appointment" else None,
    }


def assign(session: Session, rm: RelationshipManager, ticket_id: int, target_id: int) -> Ticket:
    """Give the ticket to ``target_id``. A supervisor assigns anything visible to anyone in the
    branch; an RM takes an unassigned one or passes their own to a colleague of the branch."""
    ticket = visible_ticket(session, rm, ticket_id)
    target = session.get(RelationshipManager, target_id)
    if target is None or (target.branch_id != rm.branch_id and rm.role != "supervisor"):
        raise NotAllowed("bad_target")
    if rm.role != "supervisor" and ticket.rm_id not in (None, rm.id):
        raise NotAllowed("not_yours")
    if ticket.status == TicketStatus.CLOSED:
        raise NotAllowed("closed")
    before = ticket.rm_id
    ticket.rm_id = target.id
    ticket.branch_id = target.branch_id
    ticket.updated_at = utcnow()
    session.add(
        AuditEvent(actor=f"rm:{rm.code}", action="ticket_assigned", customer_id=ticket.customer_id,
                   detail={"ticket": ticket.ref, "from": before, "to": target.id})
    )  # fmt: skip
    session.flush()
    return ticket


def change_status(
    session: Session, rm: RelationshipManager, ticket_id: int, status: str, resolution: str | None = None
) -> Ticket:
    """Move the ticket (its assigned RM or a supervisor); resolving needs a resolution note."""
    ticket = visible_ticket(session, rm, ticket_id)
    if rm.role != "supervisor" and ticket.rm_id != rm.id:
        raise NotAllowed("not_yours")
    if status not in ALLOWED.get(ticket.status, frozenset()):
        raise NotAllowed("bad_status")
    note = (resolution or "").strip()
    if status == TicketStatus.RESOLVED and not note:
        raise NotAllowed("need_resolution")
    now = utcnow()
    if note:
        ticket.resolution = note[:1000]
    if status == TicketStatus.RESOLVED:
        ticket.resolved_at = now
    before = ticket.status
    ticket.status = status
    ticket.updated_at = now
    session.add(
        AuditEvent(actor=f"rm:{rm.code}", action="ticket_status", customer_id=ticket.customer_id,
                   detail={"ticket": ticket.ref, "from": before, "to": status})
    )  # fmt: skip
    session.flush()
    return ticket
