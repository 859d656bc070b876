"""What the console shows: conversation rows, transcripts, the masked customer panel, supervisor figures.

Only for conversations ``crm.access.visibility.visible`` has already cleared. Customer data comes from
``crm.access.rm_view``, already masked; amounts are shown because the RM serves this customer.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from core.masking import format_yuan, redact_customer_text
from crm.access import insights as lead_store
from crm.access.handoff_queue import queued
from crm.access.identity import customer_of
from crm.access.presence import is_online, rm_by_id
from crm.access.rm_view import customer_label, customer_summary
from crm.access.visibility import list_for
from crm.models import (
    ChannelIdentity,
    Conversation,
    ConversationTransition,
    Message,
    RelationshipManager,
    utcnow,
)
from crm.models.conversations import ConversationState, MessageDelivery
from crm.models.handoff import HandoffState, ServiceRating
from gateway.console.insights import lead_view
from gateway.texts import is_payload, payload_words
from insights.harvest import harvest

REASONS = {
    "request_human": "客户要求人工",
    "complaint": "投诉",
    "fallback": "机器人连续未理解",
    "negative_sentiment": "客户情绪激动",
    "rm_no_answer": "原经理未及时回复",
    "rm_offline": "原经理离线",
}
STATES: dict[str, str] = {
    ConversationState.BOT: "机器人服务中",
    ConversationState.QUEUED: "排队中",
    ConversationState.AGENT: "人工服务中",
    ConversationState.CLOSED: "已结束",
}
# Delivery states of out-of-turn messages (outbound.sender.DeliveryState, plus the two in-flight ones).
DELIVERY = {
    "pending": "发送中",
    "delivered": "已送达",  # an answer within the customer's own request
    "sent": "已送达",
    "outside_window": "超出48小时窗口，未送达",
    "quota": "微信发送额度已用完，未送达",
    "failed": "发送失败，未送达",
    "unknown": "发送结果未知，请核实客户是否收到",
}


def delivery(status: str) -> dict[str, str]:
    """A message's delivery state and its label (anything unexpected reads as "unknown, check")."""
    return {"delivery": status, "delivery_label": DELIVERY.get(status, DELIVERY["unknown"])}


def _label(session: Session, conv: Conversation) -> tuple[str, str]:
    identity = session.get(ChannelIdentity, conv.identity_id)
    channel = identity.channel if identity else "web"
    return customer_label(session, conv) or "访客（未绑定）", channel


def row(session: Session, conv: Conversation, hs: HandoffState, me: int, now: dt.datetime) -> dict[str, Any]:
    """One line of the conversation list (the last customer text is untrusted: the page uses textContent)."""
    label, channel = _label(session, conv)
    last = session.scalar(
        select(Message)
        .where(Message.conversation_id == conv.id, Message.author == "customer")
        .order_by(Message.id.desc())
        .limit(1)
    )
    owner = session.get(RelationshipManager, conv.rm_id) if conv.rm_id else None
    waited = 0
    if conv.state == ConversationState.QUEUED and conv.queued_at:
        waited = int((now - conv.queued_at).total_seconds())
    return {
        "id": conv.id,
        "state": conv.state,
        "state_label": STATES.get(conv.state, conv.state),
        "channel": channel,
        "customer": label,
        "tier": hs.tier,
        "reason": REASONS.get(hs.reason, hs.reason),
        "fraud": hs.reason == "fraud",  # a red 反诈 badge in the list and the conversation header
        "priority": conv.priority,
        "waited_s": waited,
        "mine": conv.rm_id == me,
        "rm": owner.name if owner else None,
        "last_text": (_shown(last.text, last.author)[:60] if last else ""),
        "awaiting_s": int((now - hs.awaiting_since).total_seconds()) if hs.awaiting_since else None,
    }


def _shown(text: str, author: str) -> str:
    # Rows stored before a masking format was added are masked again on the way to the screen.
    if author == "customer" and is_payload(text):
        return payload_words(text)  # a button click stored before titles were kept (#20)
    return redact_customer_text(text) if author == "customer" else text


def conversation_list(session: Session, rm_id: int) -> list[dict[str, Any]]:
    """The rows of every conversation the RM may see now (the list page and the live socket)."""
    rm = rm_by_id(session, rm_id)
    now = utcnow()
    return [row(session, c, h, rm.id, now) for c, h in list_for(session, rm)]


def transcript(session: Session, conv_id: int, after: int = 0, limit: int = 300) -> list[dict[str, Any]]:
    rows = session.scalars(
        select(Message)
        .where(Message.conversation_id == conv_id, Message.id > after)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return [
        {
            "id": m.id,
            "direction": m.direction,
            "author": m.author,
            "text": _shown(m.text, m.author),
            "created_at": m.created_at.isoformat(),
            **delivery(m.delivery_status),
            "buttons": [b["title"] for b in json.loads(m.buttons_json)] if m.buttons_json else [],
        }
        for m in reversed(list(rows))
    ]


def delivery_states(session: Session, conv_id: int, limit: int = 100) -> dict[str, dict[str, str]]:
    """Delivery state of the recent out-of-turn messages (they change after the message is shown)."""
    rows = session.execute(
        select(Message.id, Message.delivery_status)
        .where(
            Message.conversation_id == conv_id,
            Message.direction == "out",
            Message.delivery_status != MessageDelivery.DELIVERED,
        )
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return {str(mid): delivery(status) for mid, status in rows}


LEADS_SHOWN = 10


def customer_panel(session: Session, conv: Conversation, tz: str) -> dict[str, Any]:
    """Masked profile, holdings summary, tier, open tickets and recent care messages."""
    summary = customer_summary(session, conv)
    if summary is None:
        return {"bound": False}
    zone = ZoneInfo(tz)
    customer = customer_of(session, conv)
    harvest(session)  # incremental: picks up leads in messages stored since the last harvest
    leads = lead_store.leads(session, customer_id=customer.id, limit=LEADS_SHOWN) if customer else []
    return {
        "bound": True,
        # Products the customer's words pointed to (trigger words masked when stored) and their outcome.
        "leads": [lead_view(x) for x in leads],
        "name": summary.masked_name,
        "phone": summary.masked_phone,
        "kind": summary.kind,
        "occupation": summary.occupation,
        "town": summary.town,
        "tier": summary.tier,
        "aum": format_yuan(summary.aum),
        "rm": summary.rm_name,
        "segments": summary.segments,
        "accounts": [
            {"no": a.masked_no, "kind": a.kind, "balance": format_yuan(a.balance), "status": a.status}
            for a in summary.accounts
        ],
        "deposits": {"count": summary.deposit_count, "total": format_yuan(summary.deposit_total)},
        "loans": [
            {
                "no": ln.masked_no,
                "outstanding": format_yuan(ln.outstanding),
                "status": ln.status,
                "end_on": ln.end_on.isoformat(),
            }
            for ln in summary.loans
        ],
        "tickets": [
            {
                "ref": t.ref,
                "kind": t.kind,
                "status": t.status,
                "created": t.created_at.astimezone(zone).strftime("%m-%d %H:%M"),
            }
            for t in summary.open_tickets
        ],
        "deliveries": [
            {
                "campaign": m.campaign or "关怀消息",
                "channel": m.channel,
                "status": m.status,
                "at": m.not_before.astimezone(zone).strftime("%m-%d %H:%M"),
            }
            for m in summary.care_messages
        ],
    }


def supervisor_stats(session: Session, branch_id: int, now: dt.datetime, tz: str, days: int = 14) -> dict[str, Any]:
    """Queue, waiting times, load per RM and satisfaction per day for one branch."""
    zone = ZoneInfo(tz)
    queue = [(c, h) for c, h in queued(session) if h.branch_id == branch_id or h.route_scope == "any"]
    waits = [int((now - c.queued_at).total_seconds()) for c, _ in queue if c.queued_at]
    since = now - dt.timedelta(days=days)
    taken = session.execute(
        select(ConversationTransition.at, Conversation.queued_at)
        .join(Conversation, Conversation.id == ConversationTransition.conversation_id)
        .join(HandoffState, HandoffState.conversation_id == Conversation.id)
        .where(
            ConversationTransition.to_state == ConversationState.AGENT,
            ConversationTransition.from_state == ConversationState.QUEUED,
            ConversationTransition.at >= since,
            HandoffState.branch_id == branch_id,
        )
    ).all()
    taken_waits = [int((at - q).total_seconds()) for at, q in taken if q is not None and at >= q]
    rms = list(
        session.scalars(
            select(RelationshipManager)
            .where(RelationshipManager.branch_id == branch_id)
            .order_by(RelationshipManager.id)
        )
    )
    per_rm = []
    for rm in rms:
        active = (
            session.scalar(
                select(func.count())
                .select_from(Conversation)
                .where(Conversation.rm_id == rm.id, Conversation.state == ConversationState.AGENT)
            )
            or 0
        )
        handled = (
            session.scalar(
                select(func.count())
                .select_from(ConversationTransition)
                .where(
                    ConversationTransition.actor == f"rm:{rm.code}",
                    ConversationTransition.to_state.in_((ConversationState.BOT, ConversationState.CLOSED)),
                    ConversationTransition.at >= since,
                )
            )
            or 0
        )
        avg = session.scalar(
            select(func.avg(ServiceRating.score)).where(ServiceRating.rm_id == rm.id, ServiceRating.created_at >= since)
        )
        per_rm.append(
            {
                "name": rm.name,
                "role": rm.role,
                "online": is_online(rm, now, 90.0),
                "active": active,
                "handled": handled,
                "avg_score": round(float(avg), 2) if avg else None,
            }
        )
    by_day: dict[str, list[int]] = defaultdict(list)
    for r in session.scalars(
        select(ServiceRating).where(ServiceRating.branch_id == branch_id, ServiceRating.created_at >= since)
    ):
        by_day[r.created_at.astimezone(zone).date().isoformat()].append(r.score)
    today = now.astimezone(zone).date()
    series = []
    for i in range(days - 1, -1, -1):
        day = (today - dt.timedelta(days=i)).isoformat()
        scores = by_day.get(day, [])
        series.append(
            {
                "day": day[5:],
                "avg": round(sum(scores) / len(scores), 2) if scores else None,
                "count": len(scores),
            }
        )
    return {
        "queue_length": len(queue),
        "waits_s": waits,
        "max_wait_s": max(waits, default=0),
        "avg_wait_to_take_s": int(sum(taken_waits) / len(taken_waits)) if taken_waits else None,
        "per_rm": per_rm,
        "satisfaction": series,
    }
