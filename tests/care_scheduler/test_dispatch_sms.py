"""SMS rows through the dispatcher, the real Tencent SDK and the sandbox (#22): batches per
template and parameters, provider refusals, frequency limits retried later (not lost), and a
dispatcher SIGKILLed mid-batch and restarted (nothing lost, nothing sent twice)."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from care.compliance import Policy
from care.sms_channel import dump_params
from care_scheduler.dispatcher import DispatchConfig, Dispatcher
from core.db import session_scope
from crm.models import Customer, Delivery
from crm.models.care import DeliveryStatus
from crm.models.sms import SmsMessage
from crm.sms_templates import TemplateBook, load_templates
from outbound.sms.config import SandboxAccount
from outbound.sms.dispatch import SmsDispatchSender
from outbound.sms.sandbox.app import SmsSandbox, SmsSandboxSettings
from outbound.sms.sandbox.runner import sandbox_in_thread
from outbound.sms.tencent import TencentSms
from tests.care import factories as f
from tests.care_scheduler.sms_dispatch_child import SmsOnly

ROOT = Path(__file__).resolve().parents[2]
NOW = dt.datetime.now(dt.UTC)
ALWAYS = Policy(quiet_start=dt.time(0), quiet_end=dt.time(0))  # no quiet hours: tests run any time


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def sandbox(self) -> float:
        return time.time() + self.offset

    def utc(self) -> dt.datetime:
        return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=self.offset)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def _sandbox(clock: Clock, templates: TemplateBook | None = None) -> Iterator[tuple[str, SmsSandbox]]:
    settings = SmsSandboxSettings(gateway_url="", report_delay_s=0, clock=clock.sandbox,
                                  templates=templates or load_templates())
    with sandbox_in_thread(settings) as running:
        yield running


@pytest.fixture
def sandbox(clock: Clock) -> Iterator[tuple[str, SmsSandbox]]:
    yield from _sandbox(clock)


def _sms_sender(factory: sessionmaker[Session], endpoint: str, clock: Clock) -> SmsDispatchSender:
    account = SandboxAccount()
    return SmsDispatchSender(
        factory,
        lambda: TencentSms(secret_id=account.tencent_secret_id, secret_key=account.tencent_secret_key,
                           sdk_app_id=account.tencent_sdk_app_id, sign_name=load_templates().signature,
                           endpoint=endpoint, timeout_s=5),
        workers=2, settle_s=0, clock=clock.utc,
    )


def _dispatcher(factory: sessionmaker[Session], sms: SmsDispatchSender, clock: Clock) -> Dispatcher:
    config = DispatchConfig(rate_per_second=0, batch_size=500, policy=ALWAYS)
    return Dispatcher(factory, SmsOnly(sms), config, clock=clock.utc)


def _sms_rows(
    s: Session, n: int, *, template: str = "spring_festival_greeting", salutations: tuple[str, ...] = ("张先生",),
    phone: str | None = None, marketing: bool = True, prefix: str = "festival",
) -> list[str]:
    b = f.branch(s)
    book = load_templates()
    keys = []
    for i in range(n):
        c = f.customer(s, b, channel=None)
        if phone:
            c.phone = phone
        params = (salutations[i % len(salutations)], "城关支行")
        if template in ("deposit_maturity_reminder", "card_expiry_reminder"):
            params = (salutations[i % len(salutations)], "1234", "2月13日", "城关支行")
        key = f"{prefix}:{c.id}:2027"
        keys.append(key)
        s.add(Delivery(customer_id=c.id, idempotency_key=key, channel="sms", is_marketing=marketing,
                       text=book.full_text(template, params), sms_template=template, sms_params=dump_params(params),
                       status=DeliveryStatus.PLANNED, not_before=NOW - dt.timedelta(minutes=1),
                       local_day=NOW.date()))
    s.flush()
    return keys


def _status(factory: sessionmaker[Session]) -> Counter[str]:
    with session_scope(factory) as s:
        return Counter(s.scalars(select(Delivery.status)))


async def test_batches_per_template_and_params(factory, sandbox, clock) -> None:
    url, box = sandbox
    with session_scope(factory) as s:
        _sms_rows(s, 30, salutations=("张先生", "李女士", "王先生"))
        _sms_rows(s, 5, template="deposit_maturity_reminder", marketing=False, prefix="td")
    sms = _sms_sender(factory, url, clock)
    try:
        assert await _dispatcher(factory, sms, clock).drain() == 35
    finally:
        sms.close()
    assert _status(factory) == Counter({DeliveryStatus.SENT: 35})
    # Three greetings' parameter lists and one reminder list: four requests for 35 numbers.
    assert box.stats.requests == 4 and box.stats.accepted == 35
    with session_scope(factory) as s:
        rows = s.scalars(select(SmsMessage)).all()
        assert len(rows) == 35 and all(r.status == "sent" and r.provider_message_id for r in rows)
        phone = s.scalars(select(Customer.phone).order_by(Customer.id).limit(1)).one()
    assert box.inboxes.messages(phone)[0].text.startswith("【XX农商银行】张先生，新春快乐！")


async def test_template_not_approved_is_a_permanent_failure(factory, clock) -> None:
    book = load_templates()
    unapproved = TemplateBook(book.signature, {k: t for k, t in book.templates.items() if k != "card_expiry_reminder"})
    for url, box in _sandbox(clock, unapproved):
        with session_scope(factory) as s:
            _sms_rows(s, 3, template="card_expiry_reminder", marketing=False, prefix="card")
            _sms_rows(s, 2)
        sms = _sms_sender(factory, url, clock)
        try:
            await _dispatcher(factory, sms, clock).drain()
        finally:
            sms.close()
        with session_scope(factory) as s:
            got = Counter((d.status, d.reason, d.last_error) for d in s.scalars(select(Delivery)))
        assert got == Counter({
            (DeliveryStatus.DEAD, "permanent_failure", "sms_FailedOperation.TemplateIncorrectOrUnapproved"): 3,
            (DeliveryStatus.SENT, None, None): 2,
        })
        assert box.stats.accepted == 2


async def test_frequency_limit_waits_and_is_sent_later(factory, sandbox, clock) -> None:
    url, box = sandbox
    with session_scope(factory) as s:
        # Two customers share one number (a couple): the second SMS hits the 30-second limit.
        keys = _sms_rows(s, 2, phone="13912340000", salutations=("张先生", "王女士"))
    sms = _sms_sender(factory, url, clock)
    dispatcher = _dispatcher(factory, sms, clock)
    try:
        await dispatcher.drain()
        with session_scope(factory) as s:
            waiting = s.scalars(select(Delivery).where(Delivery.status == DeliveryStatus.FAILED)).one()
            assert waiting.reason == "provider_limit"
            assert waiting.last_error == "sms_LimitExceeded.PhoneNumberThirtySecondLimit"
            assert waiting.attempts == 0  # a limit is not a failed attempt
            assert 25 <= (waiting.not_before - clock.utc()).total_seconds() <= 31
        clock.offset += 31
        await dispatcher.drain()
    finally:
        sms.close()
    assert _status(factory) == Counter({DeliveryStatus.SENT: 2})
    assert [m.context != "" for m in box.inboxes.messages("13912340000")] == [True, True]
    with session_scope(factory) as s:
        assert {r.delivery_key: r.status for r in s.scalars(select(SmsMessage))} == dict.fromkeys(keys, "sent")


def test_sigkill_mid_batch_then_restart_loses_nothing_and_sends_nothing_twice(factory, db_url, clock) -> None:
    n = 360
    with session_scope(factory) as s:
        # Twelve parameter lists: groups of 30 numbers, several requests per claimed batch of 120.
        _sms_rows(s, n, salutations=tuple(f"{x}先生" for x in "赵钱孙李周吴郑王冯陈褚卫"))
    for url, box in _sandbox(clock):
        env = {**os.environ, "PYTHONPATH": str(ROOT)}
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.care_scheduler.sms_dispatch_child", db_url, url, "5"], cwd=ROOT, env=env
        )
        deadline = time.monotonic() + 60
        while box.stats.requests < 5:
            assert child.poll() is None, "dispatcher exited before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.01)
        time.sleep(0.3)  # the other worker threads reach their hang too
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        accepted_before = box.stats.accepted
        with session_scope(factory) as s:
            pending = Counter(s.scalars(select(SmsMessage.status)))
            unanswered = list(s.scalars(select(SmsMessage.phone).where(SmsMessage.status == "pending")))
        went_out = [p for p in unanswered if box.inboxes.messages(p)]
        assert went_out and len(went_out) < len(unanswered), "some unanswered rows went out, some did not"
        assert 0 < accepted_before < n
        assert pending["pending"] > 0, "the kill must leave reserved rows whose answer never came"
        # Reserved and sent, and reserved and never sent: the restart must tell them apart.
        assert pending["pending"] + pending["sent"] > accepted_before

        again = subprocess.run(
            [sys.executable, "-m", "tests.care_scheduler.sms_dispatch_child", db_url, url], cwd=ROOT, env=env,
            timeout=120,
        )
        assert again.returncode == 0
        assert box.stats.accepted == n, "every number got its greeting exactly once"
        with session_scope(factory) as s:
            phones = list(s.scalars(select(Customer.phone)))
            assert Counter(s.scalars(select(Delivery.status))) == Counter({DeliveryStatus.SENT: n})
            assert Counter(s.scalars(select(SmsMessage.status))) == Counter({"sent": n})
        assert all(len(box.inboxes.messages(p)) == 1 for p in phones)


async def test_alibaba_sends_differing_parameters_in_one_batch_request(factory, sandbox, clock) -> None:
    from outbound.sms.aliyun import AliyunSms

    url, box = sandbox
    account = SandboxAccount()
    with session_scope(factory) as s:
        _sms_rows(s, 30, salutations=("张先生", "李女士", "王先生"))
    sms = SmsDispatchSender(
        factory,
        lambda: AliyunSms(access_key_id=account.aliyun_access_key_id,
                          access_key_secret=account.aliyun_access_key_secret,
                          sign_name=load_templates().signature, endpoint=url, timeout_s=5),
        settle_s=0, clock=clock.utc,
    )
    try:
        await _dispatcher(factory, sms, clock).drain()
    finally:
        sms.close()
    assert _status(factory) == Counter({DeliveryStatus.SENT: 30})
    assert box.stats.requests == 1 and box.stats.accepted == 30  # one SendBatchSms for three salutations
    with session_scope(factory) as s:
        phone = s.scalars(select(Customer.phone).order_by(Customer.id.desc()).limit(1)).one()
    assert box.inboxes.messages(phone)[0].text.startswith("【XX农商银行】王先生，新春快乐！")


def test_rows_that_cannot_be_sent_fail_alone_without_a_request(factory, sandbox, clock) -> None:  # type: ignore[no-untyped-def]
    """Within one claim: a row without a number and rows whose parameters do not fit the template
    fail as such; the rows sharing that template with fitting parameters still go out."""
    from outbound.contract import DeliveryView, SendStatus

    def view(i: int, phone: str | None, params: tuple[str, ...]) -> DeliveryView:
        return DeliveryView(delivery_id=i, idempotency_key=f"k:{i}", customer_id=ids[i - 1], campaign_code="c",
                            campaign_kind="festival", channel="sms", identity_id=None, external_id=None,
                            last_inbound_at=None, is_marketing=True, text="【XX农商银行】…", attempt=1,
                            phone=phone, sms_template="spring_festival_greeting", sms_params=params)

    with session_scope(factory) as s:
        b = f.branch(s)
        ids = [f.customer(s, b, channel=None).id for _ in range(5)]
    good = ("张先生", "城关支行")
    views = [view(1, "13900000001", good), view(2, None, good), view(3, "13900000003", ("张先生",)),
             view(4, "13900000004", good), view(5, "13900000005", ("张先生",))]
    url, box = sandbox
    sms = _sms_sender(factory, url, clock)
    try:
        outcomes = sms.send_now(views)
    finally:
        sms.close()
    assert [o.status for o in outcomes] == [SendStatus.SENT, SendStatus.FAILED, SendStatus.FAILED,
                                            SendStatus.SENT, SendStatus.FAILED]
    assert [o.reason for o in outcomes] == [None, "sms_no_phone", "sms_template_invalid", None,
                                            "sms_template_invalid"]
    assert len(box.inboxes.messages("13900000001")) == 1 and not box.inboxes.messages("13900000003")
