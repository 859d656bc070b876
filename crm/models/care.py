"""Care campaigns and the delivery outbox."""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class Campaign(Base):
    __tablename__ = "campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(
        String(24)
    )  # birthday | festival | holiday_notice | reminder | reactivation | promotion
    is_marketing: Mapped[bool] = mapped_column(Boolean)
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # the YAML definition as loaded
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class DeliveryStatus(StrEnum):
    """Where an outbox row stands (``deliveries.status``; stored as its value)."""

    PLANNED = "planned"  # decided, waiting for its send time
    DEFERRED = "deferred"  # planned into quiet hours, or deferred at send time: waits for the morning
    SENDING = "sending"  # claimed by a dispatcher until its lease runs out
    SENT = "sent"
    SUPPRESSED = "suppressed"  # not sent by rule: no channel, no consent, frequency cap, unsubscribed
    FAILED = "failed"  # a retryable failure waiting for its backoff
    DEAD = "dead"  # gave up: a permanent failure or too many attempts


# Rows the dispatcher claims once their time has come.
DUE_STATUSES = (DeliveryStatus.PLANNED, DeliveryStatus.DEFERRED, DeliveryStatus.FAILED)
# Rows the dispatcher may still claim: due, or in flight (sending, whose lease may run out).
# ``ix_deliveries_due`` holds only these on PostgreSQL.
OPEN_STATUSES = (*DUE_STATUSES, DeliveryStatus.SENDING)


class Delivery(Base):
    """One planned message in the transactional outbox.

    ``idempotency_key`` = campaign:customer:occurrence, unique, so planning twice enqueues once.

    Planning writes a million rows in one go, and every index and foreign key is paid per row, so
    each one here is there for a query or an integrity rule (checked with EXPLAIN on PostgreSQL):

    - ``uq_deliveries_idempotency_key``: the idempotency guarantee and "already planned".
    - ``ix_deliveries_customer_day``: frequency caps (customer + day window), opt-out, reply
      attribution and the console's customer panel (all by customer; it covers ``customer_id``
      alone, so no separate index on that).
    - ``ix_deliveries_campaign_id``: ``care report`` and the console's campaign page.
    - ``ix_deliveries_due``: the dispatcher's claim, oldest ``not_before`` first. On PostgreSQL it
      holds only rows still to dispatch, so it stays small however many rows were sent or
      suppressed, and suppressed rows cost nothing to plan. (SQLite cannot match the claim's OR
      against a partial index, and the demo's outbox is small, so there it is a plain index.)

    ``customer_id`` is a foreign key: it keeps a customer from being deleted while outbox rows
    with their name in the text remain. ``campaign_id`` and ``identity_id`` are deliberately not
    foreign keys. The planner copies them from rows it read in the same transaction, campaigns and
    channel identities are never deleted (campaigns are deactivated, identities unsubscribed),
    and the dispatcher outer-joins both at send time and suppresses a row whose identity is gone
    or unsubscribed. As foreign keys they cost a trigger call per row, ~7 s per million planned.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("idempotency_key"),
        Index("ix_deliveries_customer_day", "customer_id", "local_day"),
        Index(
            "ix_deliveries_due",
            "not_before",
            postgresql_where=text(f"status IN ({', '.join(repr(s.value) for s in OPEN_STATUSES)})"),
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    campaign_id: Mapped[int | None] = mapped_column(Integer, index=True)  # campaigns.id (see above)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    idempotency_key: Mapped[str] = mapped_column(String(128))
    channel: Mapped[str] = mapped_column(String(16))
    is_marketing: Mapped[bool] = mapped_column(Boolean)
    variant: Mapped[str | None] = mapped_column(String(8), nullable=True)
    segment_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    text: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(12), default=DeliveryStatus.PLANNED.value)  # DeliveryStatus
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    not_before: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(128), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The channel identity chosen at planning time (WeChat openid or web chat id).
    identity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # channel_identities.id
    # SMS rows: the registered template (crm/sms_templates.yml key) and its parameters as a
    # JSON array; the provider sends those, ``text`` is what the phone will show (#22).
    sms_template: Mapped[str | None] = mapped_column(String(48), nullable=True)
    sms_params: Mapped[str | None] = mapped_column(Text, nullable=True)
    # Claiming: a dispatcher moves planned -> sending and owns the row until lease_until; a row
    # whose lease ran out (its dispatcher died) is claimed again and re-sent under the same key.
    claim_token: Mapped[str | None] = mapped_column(String(36), nullable=True)
    claimed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    lease_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Local calendar day the message belongs to (for frequency caps), and when it was decided.
    local_day: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    decided_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # What the customer did afterwards (set by the chat side / care_access): replied, opted out.
    replied_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    opted_out_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class SchedulerLease(Base):
    """Leader row: only the holder of an unexpired lease runs scheduled care jobs."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    holder: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
