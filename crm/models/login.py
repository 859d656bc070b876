"""Console login throttling: failure counters per (login, address), per login and per address.

Counters are keyed by the login name as typed, whether or not such an account exists, so a
throttled answer says nothing about which logins are real.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow

THROTTLE_SCOPES = ("pair", "account", "address")


class LoginThrottle(Base):
    """Recent failed console logins for one scope/key; rows idle for an hour are purged."""

    __tablename__ = "login_throttles"

    scope: Mapped[str] = mapped_column(String(8), primary_key=True)  # THROTTLE_SCOPES
    # pair: "<address> <login>"; account: the login as typed; address: the client address
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_failure_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
