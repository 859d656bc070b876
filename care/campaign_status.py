"""What a campaign will do next, for the console's report (#21): planning and sending times, today's
audience, a sample of its message rendered for a real customer (masked), and pause/resume (audited).

The planning job runs daily at ``PLAN_AT`` (``care_scheduler.service``); sending follows the campaign's
``send_time`` on the days it has recipients (``send_on`` for a dated promotion).
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from care.definitions import from_row
from care.planner import plan_day
from core.masking import redact_customer_text
from crm.models import AuditEvent, Campaign, Delivery
from crm.models.care import DeliveryStatus

PLAN_AT = dt.time(0, 30)  # care_scheduler.service: CronTrigger(hour=0, minute=30)
WAITING = (DeliveryStatus.PLANNED, DeliveryStatus.DEFERRED, DeliveryStatus.FAILED)
SENDING = (DeliveryStatus.PLANNED.value, DeliveryStatus.DEFERRED.value)


class UnknownCampaign(LookupError):
    pass


def _fmt(at: dt.datetime, zone: ZoneInfo) -> str:
    return at.astimezone(zone).strftime("%Y-%m-%d %H:%M")


def next_planning(now: dt.datetime, tz: str) -> dt.datetime:
    zone = ZoneInfo(tz)
    local = now.astimezone(zone)
    at = dt.datetime.combine(local.date(), PLAN_AT, zone)
    return at if at > local else at + dt.timedelta(days=1)


def status(session: Session, code: str, now: dt.datetime, tz: str) -> dict[str, Any]:
    """Next planning and sending, today's audience and a masked sample message of one campaign."""
    row = session.scalar(select(Campaign).where(Campaign.code == code))
    if row is None:
        raise UnknownCampaign(code)
    defn = from_row(row)
    zone = ZoneInfo(tz)
    today = now.astimezone(zone).date()
    waiting = session.scalar(
        select(func.min(Delivery.not_before)).where(Delivery.campaign_id == row.id, Delivery.status.in_(WAITING))
    )
    send_on = defn.raw.get("send_on")
    if waiting is not None:
        next_send, why = _fmt(waiting, zone), "已有待发送的消息"
    elif send_on:
        day = send_on if isinstance(send_on, dt.date) else dt.date.fromisoformat(str(send_on))
        if day < today:
            next_send, why = None, f"活动日期 {day:%Y-%m-%d} 已过"
        else:
            next_send, why = _fmt(dt.datetime.combine(day, defn.send_time, zone), zone), "活动指定日期"
    else:
        send_today = dt.datetime.combine(today, defn.send_time, zone)
        at = send_today if send_today > now else send_today + dt.timedelta(days=1)
        next_send, why = _fmt(at, zone), "每天有符合条件的客户时发送"
    plan = plan_day(session, today, dry_run=True, codes=[code])  # writes nothing
    would_send = [d for d in plan.decisions if d.status in SENDING]
    sample = would_send[0] if would_send else (plan.decisions[0] if plan.decisions else None)
    return {
        "active": row.active,
        "next_planning": _fmt(next_planning(now, tz), zone),
        "next_sending": next_send,
        "next_sending_note": why if row.active else "活动已暂停，恢复后才会计划和发送",
        "audience_today": len(would_send),
        "product_code": defn.raw.get("product_code"),
        "considered_today": len(plan.decisions),
        "sample": None if sample is None else {
            "customer": sample.name_masked,
            "channel": sample.channel,
            "text": redact_customer_text(sample.text),
        },
    }


def set_active(session: Session, code: str, active: bool, actor: str) -> bool:
    """Pause (False) or resume (True) a campaign; audited. Returns the new state."""
    row = session.scalar(select(Campaign).where(Campaign.code == code))
    if row is None:
        raise UnknownCampaign(code)
    if row.active != active:
        row.active = active
        session.add(AuditEvent(actor=actor, action="campaign_resumed" if active else "campaign_paused",
                               detail={"campaign": code}))  # fmt: skip
    return row.active
