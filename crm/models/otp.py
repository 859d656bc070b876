"""Counters that keep one-time codes from becoming an SMS flood or a guessing game (#19).

One row per (scope, subject): scope ``phone`` (subject: a keyed hash of the number, never the
number), ``identity`` (a channel identity id) or ``address`` (a keyed hash of the client address
the gateway saw). The same row counts codes sent (a minimum gap, an hourly and a daily budget)
and wrong codes typed (a lock after too many). Every change is one UPDATE whose WHERE clause
holds the limit, so parallel requests cannot both pass (see ``crm.sms`` and ``crm.access.identity``).
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class OtpGuard(Base):
    __tablename__ = "otp_guards"

    scope: Mapped[str] = mapped_column(String(16), primary_key=True)  # phone | identity | address
    subject: Mapped[str] = mapped_column(String(64), primary_key=True)
    last_sent_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hour_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hour_sent: Mapped[int] = mapped_column(Integer, default=0)
    day_start: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    day_sent: Mapped[int] = mapped_column(Integer, default=0)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
