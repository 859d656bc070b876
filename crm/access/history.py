"""Past conversations for the console: search (customer, date, keyword, RM, rating) and transcripts (#21).

Who sees what: an RM the conversations of the customers they manage and those they served; a
supervisor every conversation of their branch (its customers, or served by its RMs). Names and
numbers are masked as everywhere in the console; times are in the bank's zone with the date.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from core.masking import mask_card, mask_customer_name, redact_customer_text
from crm.errors import NotFound
from crm.models import (
    Appointment,
    Branch,
    Card,
    ChannelIdentity,
    Conversation,
    Customer,
    LossReport,
    Message,
    RelationshipManager,
    Ticket,
)
from crm.models.handoff import ServiceRating
from crm.models.service import TICKET_KIND_ZH, TICKET_STATUS_ZH

CHANNEL_ZH = {"wechat": "微信", "web": "网页", "sms": "短信"}
WHO_ZH = {"customer": "客户", "bot": "小农（机器人）", "rm": "客户经理", "system": "系统", "campaign": "关怀消息"}
APPOINTMENT_ZH = {"booked": "已预约", "cancelled": "已取消", "done": "已办理"}


@dataclass(frozen=True)
class HistoryQuery:
    customer: str | None = None  # part of the customer's name (matched, never shown unmasked)
    date_from: dt.date | None = None  # local dates, inclusive
    date_to: dt.date | None = None
    keyword: str | None = None
    rm_id: int | None = None  # served by this RM
    rating: int | None = None  # rated exactly this score (1..5)


def _visible(rm: RelationshipManager) -> Any:
    served = exists().where(Message.conversation_id == Conversation.id, Message.rm_id == rm.id)
    if rm.role == "supervisor":
        branch_rms = select(RelationshipManager.id).where(RelationshipManager.branch_id == rm.branch_id)
        served_here = exists().where(Message.conversation_id == Conversation.id, Message.rm_id.in_(branch_rms))
        return or_(Customer.branch_id == rm.branch_id, served_here)
    return or_(Customer.rm_id == rm.id, served)


def _base(rm: RelationshipManager) -> Any:
    return (
        select(Conversation, ChannelIdentity, Customer)
        .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
        .outerjoin(Customer, Customer.id == ChannelIdentity.customer_id)
        .where(_visible(rm))
    )


def search(
    session: Session, rm: RelationshipManager, q: HistoryQuery, tz: str, limit: int = 100
) -> list[dict[str, Any]]:
    """Conversations matching every given criterion, newest first."""
    zone = ZoneInfo(tz)
    stmt = _base(rm)
    if q.customer:
        stmt = stmt.where(Customer.name.contains(q.customer.strip(), autoescape=True))
    if q.date_from:
        start = dt.datetime.combine(q.date_from, dt.time(0), zone)
        stmt = stmt.where(Conversation.updated_at >= start)
    if q.date_to:
        end = dt.datetime.combine(q.date_to + dt.timedelta(days=1), dt.time(0), zone)
        stmt = stmt.where(Conversation.created_at < end)
    if q.keyword:
        stmt = stmt.where(
            exists().where(
                Message.conversation_id == Conversation.id, Message.text.contains(q.keyword.strip(), autoescape=True)
            )
        )
    if q.rm_id:
        stmt = stmt.where(exists().where(Message.conversation_id == Conversation.id, Message.rm_id == q.rm_id))
    if q.rating:
        stmt = stmt.where(
            exists().where(ServiceRating.conversation_id == Conversation.id, ServiceRating.score == q.rating)
        )
    rows = session.execute(stmt.order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit))
    return [_summary(session, conv, identity, customer, zone) for conv, identity, customer in rows]


def _summary(
    session: Session, conv: Conversation, identity: ChannelIdentity, customer: Customer | None, zone: ZoneInfo
) -> dict[str, Any]:
    count, first, last = session.execute(
        select(func.count(Message.id), func.min(Message.created_at), func.max(Message.created_at)).where(
            Message.conversation_id == conv.id
        )
    ).one()
    served = select(Message.rm_id).where(Message.conversation_id == conv.id, Message.rm_id.is_not(None))
    rm_ids = set(session.scalars(served))
    rms = [r.name for r in session.scalars(select(RelationshipManager).where(RelationshipManager.id.in_(rm_ids)))]
    return {
        "id": conv.id,
        "customer": _who(customer, identity),
        "customer_id": customer.id if customer else None,
        "channel": CHANNEL_ZH.get(identity.channel, identity.channel),
        "started": _local(first or conv.created_at, zone),
        "last": _local(last or conv.updated_at, zone),
        "messages": int(count or 0),
        "rms": rms,
        "ratings": _ratings(session, conv.id, zone),
    }


def _who(customer: Customer | None, identity: ChannelIdentity) -> str:
    if customer is not None:
        return mask_customer_name(customer.name)
    return f"{CHANNEL_ZH.get(identity.channel, '访客')}访客（未绑定）"


def _local(at: dt.datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def _ratings(session: Session, conv_id: int, zone: ZoneInfo) -> list[dict[str, Any]]:
    rows = session.execute(
        select(ServiceRating, RelationshipManager.name)
        .outerjoin(RelationshipManager, RelationshipManager.id == ServiceRating.rm_id)
        .where(ServiceRating.conversation_id == conv_id)
        .order_by(ServiceRating.id)
    )
    return [
        {"score": r.score, "comment": redact_customer_text(r.reason) if r.reason else None, "rm": name,
         "at": _local(r.created_at, zone)}
        for r, name in rows
    ]  # fmt: skip


def transcript(session: Session, rm: RelationshipManager, conv_id: int, tz: str) -> dict[str, Any]:
    """One past conversation: every message with its local date and time, its ratings, the customer's records."""
    zone = ZoneInfo(tz)
    row = session.execute(_base(rm).where(Conversation.id == conv_id)).first()
    if row is None:
        raise NotFound("conversation")
    conv, identity, customer = row
    messages = [
        {
            "id": m.id,
            "direction": m.direction,
            "author": m.author,
            "who": WHO_ZH.get(m.author, "系统"),
            "text": redact_customer_text(m.text) if m.author == "customer" else m.text,
            "at": _local(m.created_at, zone),
            "buttons": [b["title"] for b in json.loads(m.buttons_json)] if m.buttons_json else [],
        }
        for m in session.scalars(select(Message).where(Message.conversation_id == conv.id).order_by(Message.id))
    ]
    return {
        "conversation": _summary(session, conv, identity, customer, zone),
        "messages": messages,
        "records": customer_records(session, customer.id, tz) if customer else None,
    }


def customer_records(session: Session, customer_id: int, tz: str) -> dict[str, list[dict[str, Any]]]:
    """Loss reports, appointments and tickets of one customer, newest first (masked)."""
    zone = ZoneInfo(tz)
    losses = session.execute(
        select(LossReport, Card).join(Card, Card.id == LossReport.card_id)
        .where(LossReport.customer_id == customer_id).order_by(LossReport.id.desc()).limit(20)
    )  # fmt: skip
    appointments = session.execute(
        select(Appointment, Branch).join(Branch, Branch.id == Appointment.branch_id)
        .where(Appointment.customer_id == customer_id).order_by(Appointment.id.desc()).limit(20)
    )  # fmt: skip
    own = Ticket.customer_id == customer_id
    tickets = session.scalars(select(Ticket).where(own).order_by(Ticket.id.desc()).limit(20))
    return {
        "loss_reports": [
            {"ref": lr.ref, "card": mask_card(card.card_no), "at": _local(lr.created_at, zone)} for lr, card in losses
        ],
        "appointments": [
            {"ref": a.ref, "branch": b.name, "on": a.on_date.isoformat(), "window": a.time_window,
             "service": a.service, "status": APPOINTMENT_ZH.get(a.status, "已预约")}
            for a, b in appointments
        ],  # fmt: skip
        "tickets": [
            {"ref": t.ref, "kind": TICKET_KIND_ZH.get(t.kind, "工单"),
             "status": TICKET_STATUS_ZH.get(t.status, "待处理"), "at": _local(t.created_at, zone),
             "resolution": t.resolution}
            for t in tickets
            if not t.idempotency_key.startswith("work:")  # loss reports and appointments are listed above
        ],  # fmt: skip
    }
