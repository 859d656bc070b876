"""The bank's own records: branches, relationship managers and products."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Float, ForeignKey, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class Branch(Base):
    __tablename__ = "branches"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    town: Mapped[str] = mapped_column(String(32), index=True)
    address: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str] = mapped_column(String(20))
    latitude: Mapped[float] = mapped_column(Float)
    longitude: Mapped[float] = mapped_column(Float)
    # {"weekday": ["08:30", "17:00"], "weekend": ["09:00", "16:00"] or null}
    opening_hours: Mapped[dict[str, Any]] = mapped_column(JSON)
    appointment_capacity: Mapped[int] = mapped_column(Integer, default=20)
    # At most this many bookings per half day (上午 / 下午, crm.access.windows.half_of); None = the day's limit only.
    window_capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)


class RelationshipManager(Base):
    __tablename__ = "relationship_managers"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(20))
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    role: Mapped[str] = mapped_column(String(16), default="rm")  # rm | supervisor
    login: Mapped[str] = mapped_column(String(32), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256), default="")
    # RFC 6238 second factor: the secret encrypted by the gateway (opaque here), set at enrolment and
    # in force from ``totp_enabled_at``; ``totp_last_step`` is the newest 30 s step used (no replays).
    totp_secret: Mapped[str | None] = mapped_column(String(255), nullable=True)
    totp_enabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    totp_last_step: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Product(Base):
    __tablename__ = "products"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16), index=True)  # deposit | loan | wealth | card
    # deposit: annual rate; loan: annual rate; wealth: expected annual yield
    rate: Mapped[Decimal | None] = mapped_column(Numeric(6, 4), nullable=True)
    term_months: Mapped[int | None] = mapped_column(Integer, nullable=True)
    risk_level: Mapped[int | None] = mapped_column(Integer, nullable=True)  # wealth: R1..R5
    min_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    max_amount: Mapped[Decimal | None] = mapped_column(Numeric(14, 2), nullable=True)
    # loan: customer kinds it is meant for, e.g. ["个人", "个体工商户"]; occupations, e.g. ["种植户"]
    eligible_kinds: Mapped[list[str]] = mapped_column(JSON, default=list)
    eligible_occupations: Mapped[list[str]] = mapped_column(JSON, default=list)
    description: Mapped[str] = mapped_column(String(512), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
