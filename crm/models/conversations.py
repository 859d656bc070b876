"""Conversations and their messages; the gateway owns who (bot or RM) is answering."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class ConversationState(StrEnum):
    """Who answers a conversation: the bot, nobody yet (waiting for an RM), an RM, or nobody (ended).

    Stored as the plain value in a short string column (no database enum: no schema change).
    """

    BOT = "bot"
    QUEUED = "queued"  # waiting for an RM to take it
    AGENT = "agent"  # an RM owns it
    CLOSED = "closed"  # ended; the customer's next message reopens it for the bot


class Conversation(Base):
    __tablename__ = "conversations"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"), index=True)
    # Rasa sender id; stable per identity so the bot's tracker spans the whole relationship.
    sender_id: Mapped[str] = mapped_column(String(80), index=True)
    state: Mapped[str] = mapped_column(String(8), default=ConversationState.BOT)
    rm_id: Mapped[int | None] = mapped_column(ForeignKey("relationship_managers.id"), index=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)  # higher jumps the queue
    queued_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    consecutive_fallbacks: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Typing indicators (#21): when each side last said it was typing (stored, so every gateway agrees).
    customer_typing_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rm_typing_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class MessageDelivery(StrEnum):
    """A message's own delivery state: in-turn replies are delivered with the answer; out-of-turn ones
    (RM replies, late bot answers) stay pending until the outbound sender says how they went (then one of
    ``outbound.sender.DeliveryState``)."""

    DELIVERED = "delivered"
    PENDING = "pending"


class Message(Base):
    __tablename__ = "messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    author: Mapped[str] = mapped_column(String(16))  # customer | bot | rm | system
    rm_id: Mapped[int | None] = mapped_column(ForeignKey("relationship_managers.id"), nullable=True)
    text: Mapped[str] = mapped_column(Text)
    buttons_json: Mapped[str | None] = mapped_column(Text, nullable=True)
    intent: Mapped[str | None] = mapped_column(String(48), nullable=True)
    delivery_status: Mapped[str] = mapped_column(String(12), default=MessageDelivery.DELIVERED)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ConversationTransition(Base):
    __tablename__ = "conversation_transitions"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    from_state: Mapped[str] = mapped_column(String(8))
    to_state: Mapped[str] = mapped_column(String(8))
    actor: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(String(64))
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
