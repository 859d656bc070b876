"""Customers, how they reach us (channel identities) and what they agreed to (consents)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow

CUSTOMER_KINDS = ("个人", "个体工商户", "小微企业")


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    cif_no: Mapped[str] = mapped_column(String(20), unique=True)
    kind: Mapped[str] = mapped_column(String(8))  # one of CUSTOMER_KINDS
    name: Mapped[str] = mapped_column(String(64))
    gender: Mapped[str] = mapped_column(String(1))  # M | F
    birthday: Mapped[dt.date] = mapped_column(Date)
    phone: Mapped[str] = mapped_column(String(20), index=True)
    id_number: Mapped[str] = mapped_column(String(18))
    town: Mapped[str] = mapped_column(String(32))
    village: Mapped[str] = mapped_column(String(32))
    occupation: Mapped[str] = mapped_column(String(16))  # 种植户 养殖户 个体商户 务工人员 退休人员 ...
    risk_level: Mapped[int] = mapped_column(Integer, default=2)  # wealth suitability C1..C5
    rm_id: Mapped[int | None] = mapped_column(ForeignKey("relationship_managers.id"), index=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    opened_on: Mapped[dt.date] = mapped_column(Date)
    is_demo_persona: Mapped[bool] = mapped_column(Boolean, default=False)


class ChannelIdentity(Base):
    """A WeChat openid or web chat id, optionally bound to a customer.

    Account data may be shown only when ``customer_id`` is set, ``verified_at`` is not null and
    ``verified_until`` is still ahead (``crm.access.identity.verification_current``).
    """

    __tablename__ = "channel_identities"
    __table_args__ = (UniqueConstraint("channel", "external_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))  # wechat | web
    external_id: Mapped[str] = mapped_column(String(64))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    verified_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When the verification lapses: the idle timeout from the last customer message, capped by the
    # absolute maximum from ``verified_at``. NULL with ``verified_at`` set counts as lapsed.
    verified_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # The last customer message (NULL: none since the last lapse); the idle timeout runs from it.
    active_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Start of the current visit: the web chat's history shows nothing older (NULL: everything).
    session_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # When a verification lapsed that the customer has not yet been told about (set by the expiry,
    # cleared by the next customer message, which hears "需要重新验证身份").
    lapsed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    subscribed: Mapped[bool] = mapped_column(Boolean, default=True)
    referral_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    display_label: Mapped[str | None] = mapped_column(String(64), nullable=True)
    last_inbound_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class BindingChallenge(Base):
    """A one-time code sent for binding a channel identity (a keyed, salted hash; never the code itself)."""

    __tablename__ = "binding_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    identity_id: Mapped[int] = mapped_column(ForeignKey("channel_identities.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    # Keyed hash of the phone the code was asked for: wrong codes also count against that phone.
    phone_key: Mapped[str | None] = mapped_column(String(64), nullable=True)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    consumed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class MarketingConsent(Base):
    __tablename__ = "marketing_consents"
    __table_args__ = (UniqueConstraint("customer_id", "channel"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    channel: Mapped[str] = mapped_column(String(16))  # wechat | web | sms | all
    granted: Mapped[bool] = mapped_column(Boolean)
    source: Mapped[str] = mapped_column(String(32))  # 开户签约 | 微信退订 | 柜面 ...
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
