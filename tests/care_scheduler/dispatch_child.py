"""Run a dispatcher until the outbox is drained; used by the SIGKILL restart test.

Usage: python -m tests.care_scheduler.dispatch_child DB_URL SENDER_DB [STALL_AFTER]
With STALL_AFTER the sender hangs once that many keys are delivered, so a kill is sure to land in
the middle of a claimed batch whatever the machine's load.
The sender records into its own SQLite file: every call in ``calls``, every delivered key once
in ``delivered`` (keyed by idempotency key, as a real sender must be).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import sys

from sqlalchemy import func, select

from care.compliance import Policy
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from core.db import make_engine, make_sessionmaker, session_scope
from crm.models import Delivery
from outbound.contract import DeliveryView, SendOutcome


class SqliteRecordingSender:
    def __init__(self, path: str, stall_after: int | None = None) -> None:
        self.stall_after = stall_after
        self.db = sqlite3.connect(path, timeout=30, isolation_level=None)
        self.db.execute("CREATE TABLE IF NOT EXISTS calls (key TEXT, at REAL)")
        self.db.execute("CREATE TABLE IF NOT EXISTS delivered (key TEXT PRIMARY KEY, at REAL)")

    async def send(self, delivery: DeliveryView) -> SendOutcome:
        await asyncio.sleep(0.002)
        now = dt.datetime.now(dt.UTC).timestamp()
        self.db.execute("INSERT INTO calls VALUES (?, ?)", (delivery.idempotency_key, now))
        self.db.execute("INSERT OR IGNORE INTO delivered VALUES (?, ?)", (delivery.idempotency_key, now))
        if self.stall_after is not None:
            (delivered,) = self.db.execute("SELECT count(*) FROM delivered").fetchone()
            if delivered >= self.stall_after:
                await asyncio.sleep(3600)  # hang mid-batch until the test kills us
        return SendOutcome.sent()


async def main(db_url: str, sender_db: str, stall_after: int | None = None) -> None:
    factory = make_sessionmaker(make_engine(db_url))
    config = DispatchConfig(
        rate_per_second=200,
        batch_size=25,
        concurrency=5,
        lease=dt.timedelta(seconds=2),
        policy=Policy(quiet_start=dt.time(0), quiet_end=dt.time(0)),
    )
    dispatcher = Dispatcher(factory, SqliteRecordingSender(sender_db, stall_after), config)
    while True:
        if await dispatcher.run_once() == 0:
            with session_scope(factory) as s:
                left = s.scalar(
                    select(func.count())
                    .select_from(Delivery)
                    .where(Delivery.status.in_(("planned", "sending", "failed", "deferred")))
                )
            if not left:
                return
            await asyncio.sleep(0.2)  # rows still leased by a dead dispatcher: wait for the lease


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None))
