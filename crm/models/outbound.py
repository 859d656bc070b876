"""What the outbound sender has sent, keyed by the caller's idempotency key."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class OutboundSendStatus(StrEnum):
    """Where one idempotency key stands (``outbound_sends.status``; stored as its value)."""

    PENDING = "pending"  # reserved together with its conversation message (handoff), not tried yet
    SENDING = "sending"  # claimed; a key still here after a crash is never re-sent (see outbound.sender)
    SENT = "sent"
    RETRY = "retry"  # failed temporarily: the next send of the key tries again
    FAILED = "failed"  # failed for good, or ambiguous: never re-sent


class OutboundSend(Base):
    __tablename__ = "outbound_sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(16), default="")  # custom | template | web
    status: Mapped[str] = mapped_column(String(12))  # OutboundSendStatus
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # The conversation message this send delivers (RM replies and other handoff messages).
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), nullable=True, index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
