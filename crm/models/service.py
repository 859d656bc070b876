"""Service records created by the assistant: tickets, appointments, loss reports, audit trail."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, validates

from core.masking import mobile_numbers, redact_customer_text
from crm.models.base import Base, UTCDateTime, utcnow


class TicketStatus(StrEnum):
    """Where a ticket stands; stored as the plain value (no database enum: no schema change)."""

    OPEN = "open"
    PROCESSING = "processing"
    RESOLVED = "resolved"
    CLOSED = "closed"


# What RMs and customers read; the stored values never reach a screen (#21).
TICKET_STATUS_ZH: dict[str, str] = {
    TicketStatus.OPEN: "待处理",
    TicketStatus.PROCESSING: "处理中",
    TicketStatus.RESOLVED: "已解决",
    TicketStatus.CLOSED: "已关闭",
}
# Kinds of work item in the console's work queue (工单).
TICKET_KIND_ZH: dict[str, str] = {
    "complaint": "投诉",
    "message": "留言",
    "loss_report": "挂失",
    "appointment": "预约",
    "callback": "回电",
}


class Ticket(Base):
    """A complaint or a left message (工单), routed to an RM."""

    __tablename__ = "tickets"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(24), unique=True)  # 工单号
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    identity_id: Mapped[int | None] = mapped_column(ForeignKey("channel_identities.id"))
    rm_id: Mapped[int | None] = mapped_column(ForeignKey("relationship_managers.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # complaint | message | loss_report | appointment | callback
    category: Mapped[str] = mapped_column(String(32), default="")
    content: Mapped[str] = mapped_column(Text)  # as the customer wrote it, numbers masked
    # A number the customer left on purpose to be called back on; only the assigned RM reads it,
    # through crm.access.callback.reveal_callback_number (audited).
    callback_phone: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[str] = mapped_column(String(12), default=TicketStatus.OPEN)
    idempotency_key: Mapped[str] = mapped_column(String(96), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Work queue (#21): the branch that answers for it, when it is due (working-day SLA, set by the
    # console's work queue from the statutory calendar), what the RM wrote on resolving, when.
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), nullable=True, index=True)
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True, index=True)
    resolution: Mapped[str | None] = mapped_column(Text, nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)

    @validates("content")
    def _keep_callback_number_apart(self, _key: str, text: str) -> str:
        # Every way a ticket is opened (complaint form, left message) stores the text masked, like
        # the transcript; a mobile number the customer left to be called back on goes to its own
        # column, which only the assigned RM reads (crm.access.callback.reveal_callback_number).
        numbers = mobile_numbers(text or "")
        if numbers and not self.callback_phone:
            self.callback_phone = numbers[0]
        return redact_customer_text(text) if text else text


class Appointment(Base):
    __tablename__ = "appointments"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(24), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"))
    on_date: Mapped[dt.date] = mapped_column(Date)
    # 上午 / 下午 / "09:00-10:00", None = any time that day (crm.access.windows); the service is only the service.
    time_window: Mapped[str | None] = mapped_column(String(16), nullable=True)
    service: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(12), default="booked")
    idempotency_key: Mapped[str] = mapped_column(String(96), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class LossReport(Base):
    __tablename__ = "loss_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    ref: Mapped[str] = mapped_column(String(24), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    card_id: Mapped[int] = mapped_column(ForeignKey("cards.id"))
    idempotency_key: Mapped[str] = mapped_column(String(96), unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class AuditEvent(Base):
    """Who did what to whose data. ``detail`` never holds unmasked personal data."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))  # "bot", "rm:<code>", "scheduler", "cli"
    action: Mapped[str] = mapped_column(String(48))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class SmsOutbox(Base):
    """Messages handed to the SMS sender. In development the sandbox sender keeps them here to read."""

    __tablename__ = "sms_outbox"
    __table_args__ = (UniqueConstraint("idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(String(256))
    idempotency_key: Mapped[str] = mapped_column(String(96))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
