"""What the outbound sender has sent, keyed by the caller's idempotency key."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class OutboundSend(Base):
    __tablename__ = "outbound_sends"

    id: Mapped[int] = mapped_column(primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(128), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    route: Mapped[str] = mapped_column(String(16), default="")  # custom | template | web
    status: Mapped[str] = mapped_column(String(12))  # sending | sent | failed
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
