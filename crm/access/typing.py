"""Who is serving a chat and who is typing (#21): the web chat's "周经理 人工服务中" and "对方正在输入…".

Typing is a timestamp on the conversation (every gateway process sees it); a mark older than
``TYPING_TTL`` has lapsed, so a closed tab or a lost network never leaves "正在输入" behind.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Conversation, RelationshipManager
from crm.models.conversations import ConversationState

TYPING_TTL = dt.timedelta(seconds=5)
BOT_SERVING: dict[str, Any] = {"state": ConversationState.BOT, "label": "智能客服小农为您服务", "rm_typing": False}


def _latest(session: Session, sender_id: str) -> Conversation | None:
    stmt = select(Conversation).where(Conversation.sender_id == sender_id).order_by(Conversation.id.desc()).limit(1)
    return session.scalar(stmt)


def mark_customer_typing(session: Session, sender_id: str, now: dt.datetime) -> bool:
    """The customer is typing in their latest conversation (only worth telling an RM who serves it)."""
    conv = _latest(session, sender_id)
    if conv is None or conv.state != ConversationState.AGENT:
        return False
    conv.customer_typing_at = now
    return True


def mark_rm_typing(session: Session, conv_id: int, rm_id: int, now: dt.datetime) -> bool:
    """The RM serving ``conv_id`` is typing; ignored for anyone else."""
    conv = session.get(Conversation, conv_id)
    if conv is None or conv.state != ConversationState.AGENT or conv.rm_id != rm_id:
        return False
    conv.rm_typing_at = now
    return True


def is_recent(at: dt.datetime | None, now: dt.datetime) -> bool:
    return at is not None and now - at <= TYPING_TTL


def serving_status(session: Session, sender_id: str, now: dt.datetime) -> dict[str, Any]:
    """What the customer's chat header says: who serves them, and whether the RM is typing."""
    conv = _latest(session, sender_id)
    if conv is None or conv.state in (ConversationState.BOT, ConversationState.CLOSED):
        return dict(BOT_SERVING)
    if conv.state == ConversationState.QUEUED:
        return {"state": ConversationState.QUEUED, "label": "正在为您转接人工客服…", "rm_typing": False}
    rm = session.get(RelationshipManager, conv.rm_id) if conv.rm_id else None
    title = f"{rm.name[0]}经理" if rm else "客户经理"
    typing = is_recent(conv.rm_typing_at, now)
    return {"state": ConversationState.AGENT, "label": f"{title} 人工服务中", "rm": title, "rm_typing": typing}
