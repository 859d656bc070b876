import asyncio
import datetime as dt
import time

from sqlalchemy import select

from care_scheduler.dispatcher import DispatchConfig, Dispatcher, RateLimiter
from core.db import session_scope
from crm.care_access import opt_out
from crm.models import ChannelIdentity, Delivery
from crm.models.care import DeliveryStatus
from outbound.contract import RecordingSender, SendOutcome
from tests.care import factories as f

UTC = dt.UTC
NOON = dt.datetime(2026, 5, 12, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
NIGHT = dt.datetime(2026, 5, 12, 15, 0, tzinfo=UTC)  # 23:00 in Shanghai


class Clock:
    def __init__(self, now):
        self.now = now

    def __call__(self):
        return self.now


def enqueue(factory, n=3, marketing=True, consent=True, subscribed=True):
    keys = []
    with session_scope(factory) as s:
        b = f.branch(s)
        for i in range(n):
            c = f.customer(s, b, consent=consent, subscribed=subscribed)
            ident = s.scalars(select(ChannelIdentity).where(ChannelIdentity.customer_id == c.id)).one()
            key = f"t:{c.id}:{i}"
            s.add(
                Delivery(
                    customer_id=c.id,
                    idempotency_key=key,
                    channel="wechat",
                    identity_id=ident.id,
                    is_marketing=marketing,
                    text="您好",
                    status=DeliveryStatus.PLANNED,
                    not_before=NOON - dt.timedelta(minutes=5),
                    local_day=NOON.date(),
                )
            )
            keys.append(key)
    return keys


def rows(factory):
    with session_scope(factory) as s:
        return {d.idempotency_key: d for d in s.scalars(select(Delivery))}


async def test_dispatch_sends_due_rows_and_records_sent(factory):
    keys = enqueue(factory, 5)
    sender = RecordingSender()
    d = Dispatcher(factory, sender, DispatchConfig(rate_per_second=0), clock=Clock(NOON))
    assert await d.drain() == 5
    assert set(sender.delivered) == set(keys)
    got = rows(factory)
    assert all(r.status == DeliveryStatus.SENT and r.sent_at == NOON and r.attempts == 1 for r in got.values())
    assert await d.drain() == 0  # nothing is sent twice


async def test_not_before_in_future_is_not_claimed(factory):
    enqueue(factory, 1)
    d = Dispatcher(factory, RecordingSender(), clock=Clock(NOON - dt.timedelta(hours=1)))
    assert await d.drain() == 0


async def test_retry_with_exponential_backoff_then_dead_letter(factory):
    (key,) = enqueue(factory, 1)
    sender = RecordingSender(script={key: [SendOutcome.retry("timeout")] * 10})
    clock = Clock(NOON)
    cfg = DispatchConfig(rate_per_second=0, max_attempts=3, backoff_base=dt.timedelta(seconds=30))
    d = Dispatcher(factory, sender, cfg, clock=clock)
    await d.drain()
    r = rows(factory)[key]
    assert (r.status, r.attempts, r.last_error) == (DeliveryStatus.FAILED, 1, "timeout")
    assert r.not_before == NOON + dt.timedelta(seconds=30)
    clock.now = NOON + dt.timedelta(seconds=29)
    assert await d.drain() == 0  # still backing off
    clock.now = NOON + dt.timedelta(seconds=30)
    await d.drain()
    assert rows(factory)[key].not_before == clock.now + dt.timedelta(seconds=60)  # doubled
    clock.now += dt.timedelta(seconds=60)
    await d.drain()
    r = rows(factory)[key]
    assert (r.status, r.reason, r.attempts) == (DeliveryStatus.DEAD, "max_attempts", 3)
    assert key not in sender.delivered


async def test_permanent_failure_goes_to_dead_letter_at_once_and_exceptions_retry(factory):
    bad, flaky = enqueue(factory, 2)

    class Sender(RecordingSender):
        async def send(self, delivery):
            if delivery.idempotency_key == flaky and delivery.attempt == 1:
                raise ConnectionError("boom")
            return await super().send(delivery)

    sender = Sender(script={bad: [SendOutcome.failed("user_blocked")]})
    clock = Clock(NOON)
    d = Dispatcher(factory, sender, DispatchConfig(rate_per_second=0), clock=clock)
    await d.drain()
    got = rows(factory)
    assert (got[bad].status, got[bad].reason, got[bad].last_error) == (
        DeliveryStatus.DEAD,
        "permanent_failure",
        "user_blocked",
    )
    assert (got[flaky].status, got[flaky].last_error) == (DeliveryStatus.FAILED, "exception:ConnectionError")
    clock.now += dt.timedelta(minutes=5)
    await d.drain()
    assert rows(factory)[flaky].status == DeliveryStatus.SENT


async def test_quiet_hours_at_send_time_defer_to_eight(factory):
    (key,) = enqueue(factory, 1, marketing=False)
    sender = RecordingSender()
    d = Dispatcher(factory, sender, DispatchConfig(rate_per_second=0), clock=Clock(NIGHT))
    await d.drain()
    r = rows(factory)[key]
    assert (r.status, r.reason, r.attempts) == (DeliveryStatus.DEFERRED, "quiet_hours", 0)
    assert r.not_before == dt.datetime(2026, 5, 13, 0, 0, tzinfo=UTC)
    assert sender.calls == []


async def test_opt_out_takes_effect_before_send(factory):
    marketing = enqueue(factory, 2)
    service = enqueue(factory, 1, marketing=False)
    with session_scope(factory) as s:
        customer_ids = [d.customer_id for d in s.scalars(select(Delivery))]
        assert opt_out(s, customer_ids[0], "微信退订") == 1
        # a row already being sent when the customer opted out: caught by the send-time check
        s.execute(
            Delivery.__table__.update()
            .where(Delivery.customer_id == customer_ids[1])
            .values(status=DeliveryStatus.SENDING, lease_until=NOON - dt.timedelta(minutes=1))
        )
        opt_out(s, customer_ids[1], "微信退订")
        opt_out(s, customer_ids[2], "微信退订")  # service reminders are not marketing
    sender = RecordingSender()
    await Dispatcher(factory, sender, DispatchConfig(rate_per_second=0), clock=Clock(NOON)).drain()
    got = rows(factory)
    assert [(got[k].status, got[k].reason) for k in marketing] == [(DeliveryStatus.SUPPRESSED, "opted_out")] * 2
    assert got[service[0]].status == DeliveryStatus.SENT and set(sender.delivered) == set(service)


async def test_unsubscribed_identity_is_suppressed(factory):
    (key,) = enqueue(factory, 1, subscribed=False, marketing=False)
    await Dispatcher(factory, RecordingSender(), clock=Clock(NOON)).drain()
    assert (rows(factory)[key].status, rows(factory)[key].reason) == (DeliveryStatus.SUPPRESSED, "unsubscribed")


async def test_expired_lease_is_reclaimed_live_lease_is_not(factory):
    keys = enqueue(factory, 2)
    with session_scope(factory) as s:
        s.execute(
            Delivery.__table__.update()
            .where(Delivery.idempotency_key == keys[0])
            .values(
                status=DeliveryStatus.SENDING, claim_token="dead-dispatcher", lease_until=NOON - dt.timedelta(seconds=1)
            )
        )
        s.execute(
            Delivery.__table__.update()
            .where(Delivery.idempotency_key == keys[1])
            .values(
                status=DeliveryStatus.SENDING, claim_token="live-dispatcher", lease_until=NOON + dt.timedelta(minutes=1)
            )
        )
    sender = RecordingSender()
    await Dispatcher(factory, sender, clock=Clock(NOON)).drain()
    got = rows(factory)
    assert got[keys[0]].status == DeliveryStatus.SENT and got[keys[1]].status == DeliveryStatus.SENDING
    assert list(sender.delivered) == [keys[0]]


async def test_two_dispatchers_never_send_the_same_row(factory):
    keys = enqueue(factory, 60)
    sender = RecordingSender(delay=0.001)
    cfg = DispatchConfig(rate_per_second=0, batch_size=7)
    a, b = (Dispatcher(factory, sender, cfg, clock=Clock(NOON)) for _ in range(2))
    await asyncio.gather(a.drain(), b.drain())
    assert sorted(sender.calls) == sorted(keys)  # each key handed to the sender exactly once


async def test_rate_limiter_paces_calls():
    limiter = RateLimiter(100.0)
    start = time.monotonic()
    for _ in range(21):
        await limiter.acquire()
    assert time.monotonic() - start >= 0.19


def test_backoff_is_exponential_and_capped():
    cfg = DispatchConfig(backoff_base=dt.timedelta(seconds=30), backoff_max=dt.timedelta(minutes=10))
    assert [cfg.backoff(n).total_seconds() for n in (1, 2, 3, 6)] == [30, 60, 120, 600]
