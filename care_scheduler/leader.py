"""Leader election through one database row, so only one care scheduler runs jobs.

Acquiring and renewing is a single conditional UPDATE (``holder = me OR lease expired``), which
is atomic on SQLite and PostgreSQL alike; the first ever acquisition is an INSERT that loses
cleanly on the primary key if another instance got there first.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from crm.models.base import utcnow
from crm.models.care import SchedulerLease


def default_holder() -> str:
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


class LeaderLease:
    """A renewable lease named ``name``; call :meth:`try_acquire` at least every ``ttl / 3``."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        *,
        name: str = "care_scheduler",
        holder: str | None = None,
        ttl: dt.timedelta = dt.timedelta(seconds=30),
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.factory, self.name, self.ttl, self.clock = factory, name, ttl, clock
        self.holder = holder or default_holder()

    def try_acquire(self) -> bool:
        """Take or renew the lease; True when this instance is the leader until now + ttl."""
        now = self.clock()
        with session_scope(self.factory) as session:
            updated = session.execute(  # type: ignore[attr-defined]  # an UPDATE's result has rowcount
                update(SchedulerLease)
                .where(
                    SchedulerLease.name == self.name,
                    or_(SchedulerLease.holder == self.holder, SchedulerLease.expires_at < now),
                )
                .values(holder=self.holder, expires_at=now + self.ttl, heartbeat_at=now)
                .execution_options(synchronize_session=False)
            ).rowcount
            if updated:
                return True
            if session.get(SchedulerLease, self.name) is not None:
                return False
        try:
            with session_scope(self.factory) as session:
                session.add(
                    SchedulerLease(
                        name=self.name, holder=self.holder, expires_at=now + self.ttl, heartbeat_at=now
                    )
                )
        except IntegrityError:
            return False
        return True

    def release(self) -> None:
        """Give the lease up at once (clean shutdown), so a standby need not wait for expiry."""
        with session_scope(self.factory) as session:
            session.execute(
                update(SchedulerLease)
                .where(SchedulerLease.name == self.name, SchedulerLease.holder == self.holder)
                .values(expires_at=self.clock() - dt.timedelta(seconds=1))
                .execution_options(synchronize_session=False)
            )
