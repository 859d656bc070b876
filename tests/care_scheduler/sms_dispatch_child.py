"""Run a dispatcher that sends SMS rows through the sandbox with the real Tencent SDK until the
outbox is drained; used by the SIGKILL test of SMS batches.

Usage: python -m tests.care_scheduler.sms_dispatch_child DB_URL SANDBOX_URL [STALL_AFTER_REQUESTS]
With STALL_AFTER_REQUESTS the provider hangs right after that many requests were answered (the
sandbox accepted them, the dispatcher never records it), and every later request hangs before it
leaves: a kill then leaves rows reserved both ways, sent and unsent.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import threading
import time
from collections.abc import Sequence

from sqlalchemy import func, select

from care.compliance import Policy
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from core.db import make_engine, make_sessionmaker, session_scope
from crm.models import Delivery
from crm.sms_templates import SmsTemplate, load_templates
from outbound.contract import DeliveryView, SendOutcome
from outbound.sms.config import SandboxAccount
from outbound.sms.dispatch import SmsDispatchSender
from outbound.sms.results import SmsResult
from outbound.sms.tencent import TencentSms


class StallingTencent(TencentSms):
    requests = 0
    lock = threading.Lock()
    stall_after: int | None = None

    def send_batch(
        self, template: SmsTemplate, phones: Sequence[str], params: Sequence[str], *, context: str = ""
    ) -> list[SmsResult]:
        cls = StallingTencent
        with cls.lock:
            stalled = cls.stall_after is not None and cls.requests >= cls.stall_after
        if stalled:
            time.sleep(3600)  # reserved, never sent
        results = super().send_batch(template, phones, params, context=context)
        with cls.lock:
            cls.requests += 1
            stall_now = cls.stall_after is not None and cls.requests >= cls.stall_after
        if stall_now:
            time.sleep(3600)  # sent, never recorded
        return results


class SmsOnly:
    def __init__(self, sms: SmsDispatchSender) -> None:
        self.sms = sms

    async def send(self, delivery: DeliveryView) -> SendOutcome:
        return SendOutcome.failed("not_sms")


def make_sender(db_url: str, endpoint: str) -> SmsDispatchSender:
    account = SandboxAccount()

    def provider() -> TencentSms:
        return StallingTencent(
            secret_id=account.tencent_secret_id, secret_key=account.tencent_secret_key,
            sdk_app_id=account.tencent_sdk_app_id, sign_name=load_templates().signature, endpoint=endpoint,
        )

    return SmsDispatchSender(make_sessionmaker(make_engine(db_url)), provider, workers=4, settle_s=0)


async def main(db_url: str, endpoint: str, stall_after: int | None = None) -> None:
    StallingTencent.stall_after = stall_after
    factory = make_sessionmaker(make_engine(db_url))
    config = DispatchConfig(
        rate_per_second=0, batch_size=120, lease=dt.timedelta(seconds=2),
        policy=Policy(quiet_start=dt.time(0), quiet_end=dt.time(0)),
    )
    dispatcher = Dispatcher(factory, SmsOnly(make_sender(db_url, endpoint)), config)
    while True:
        if await dispatcher.run_once() == 0:
            with session_scope(factory) as s:
                left = s.scalar(
                    select(func.count()).select_from(Delivery)
                    .where(Delivery.status.in_(("planned", "sending", "failed", "deferred")))
                )
            if not left:
                return
            await asyncio.sleep(0.2)  # rows still leased by a dead dispatcher: wait for the lease


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else None))
