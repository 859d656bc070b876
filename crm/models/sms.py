"""The SMS channel's own records (#22): each SMS handed to a provider and what became of it,
inbound replies (上行短信), and each number's reachability.

``sms_messages.delivery_key`` is the sender's idempotency key (the outbox row's, or an OTP's):
unique, so a dispatcher that dies mid-batch and starts again finds what the provider already
accepted and does not send it twice. Delivery reports find their row by the provider's message id
(Tencent SerialNo; Alibaba BizId, shared by a request's numbers, hence with the phone).
Phones are stored as 11 digits, never logged.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow

# pending (claimed, not yet answered) | sent (accepted by the provider) | retry | failed
# | delivered | undelivered (the delivery report said so)
SMS_STATUSES = ("pending", "sent", "retry", "failed", "delivered", "undelivered")


class SmsMessage(Base):
    __tablename__ = "sms_messages"
    __table_args__ = (
        UniqueConstraint("delivery_key"),
        Index("ix_sms_messages_provider_message", "provider", "provider_message_id", "phone"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    delivery_key: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True, index=True)
    phone: Mapped[str] = mapped_column(String(20))
    provider: Mapped[str] = mapped_column(String(16))  # sandbox | tencent | aliyun
    template_key: Mapped[str] = mapped_column(String(48))
    segments: Mapped[int] = mapped_column(Integer, default=1)  # billing segments, signature included
    status: Mapped[str] = mapped_column(String(12), default="pending")
    # The provider's code for the send (Ok, LimitExceeded...), then the carrier's in the report.
    code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    provider_message_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    reported_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SmsInbound(Base):
    """An SMS a customer sent to the bank's number (a reply, 退订 ...)."""

    __tablename__ = "sms_inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(String(16))
    phone: Mapped[str] = mapped_column(String(20), index=True)
    text: Mapped[str] = mapped_column(String(500))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    is_opt_out: Mapped[bool] = mapped_column(Boolean, default=False)
    received_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsServiceConsent(Base):
    """Whether a customer agreed to service SMS (到期提醒, 还款提醒), signed at account opening.

    Separate from marketing consent: a 退订 of marketing never stops a repayment reminder, and a
    customer who never signed up for 短信通知 gets no service SMS either.
    """

    __tablename__ = "sms_service_consents"

    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), primary_key=True)
    granted: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(32), default="开户签约")
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SmsReach(Base):
    """Whether a number still receives SMS: consecutive hard failures (空号, 停机) mark it unreachable."""

    __tablename__ = "sms_reach"

    phone: Mapped[str] = mapped_column(String(20), primary_key=True)
    hard_failures: Mapped[int] = mapped_column(Integer, default=0)
    last_code: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unreachable_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
