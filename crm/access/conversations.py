"""Conversations and messages: recorded for every channel, read by the web chat and the RM console."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.access.identity import get_or_create_identity
from crm.models import ChannelIdentity, Conversation, ConversationTransition, Message, utcnow


@dataclass(frozen=True)
class MessageView:
    id: int
    direction: str
    author: str
    text: str
    buttons: list[dict[str, str]]
    created_at: dt.datetime

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "direction": self.direction, "author": self.author, "text": self.text,
            "buttons": self.buttons, "created_at": self.created_at.isoformat(),
        }


def sender_id_for(channel: str, external_id: str) -> str:
    return f"{channel}:{external_id}"


def open_conversation(session: Session, channel: str, external_id: str) -> Conversation:
    """The identity's current conversation (one per identity; a closed one is reopened for the bot)."""
    identity = get_or_create_identity(session, channel, external_id)
    conv = session.scalar(
        select(Conversation).where(Conversation.identity_id == identity.id).order_by(Conversation.id.desc()).limit(1)
    )
    if conv is None:
        conv = Conversation(identity_id=identity.id, sender_id=sender_id_for(channel, external_id), state="bot")
        session.add(conv)
        session.flush()
    elif conv.state == "closed":
        transition(session, conv, "bot", actor="customer", reason="customer_returned")
    return conv


def transition(session: Session, conv: Conversation, to_state: str, actor: str, reason: str) -> None:
    session.add(
        ConversationTransition(
            conversation_id=conv.id, from_state=conv.state, to_state=to_state, actor=actor, reason=reason
        )
    )
    conv.state = to_state
    conv.updated_at = utcnow()


def record_message(
    session: Session,
    conv: Conversation,
    direction: str,
    author: str,
    text: str,
    buttons: list[dict[str, str]] | None = None,
    rm_id: int | None = None,
    delivery_status: str = "delivered",
) -> Message:
    msg = Message(
        conversation_id=conv.id, direction=direction, author=author, text=text, rm_id=rm_id,
        buttons_json=json.dumps(buttons, ensure_ascii=False) if buttons else None,
        delivery_status=delivery_status,
    )
    session.add(msg)
    if direction == "in":
        identity = session.get(ChannelIdentity, conv.identity_id)
        if identity is not None:
            identity.last_inbound_at = utcnow()
    session.flush()
    return msg


def view(msg: Message) -> MessageView:
    return MessageView(
        msg.id, msg.direction, msg.author, msg.text, json.loads(msg.buttons_json) if msg.buttons_json else [],
        msg.created_at,
    )


def messages_after(
    session: Session, channel: str, external_id: str, after_id: int = 0, limit: int = 200
) -> list[MessageView]:
    """Messages of this identity's conversations newer than ``after_id`` (for history and push)."""
    identity = session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )
    if identity is None:
        return []
    rows = session.scalars(
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.identity_id == identity.id, Message.id > after_id)
        .order_by(Message.id)
        .limit(limit)
    )
    return [view(m) for m in rows]
