"""The dispatcher: claims due outbox rows, sends them through a Sender, records the outcome.

Claiming is one UPDATE (planned/deferred/failed → sending) that stamps a claim token and a
lease; on PostgreSQL the candidate rows are picked ``FOR UPDATE SKIP LOCKED`` so several
dispatchers never claim the same row, on SQLite the single writer gives the same guarantee.
A dispatcher that dies (SIGKILL) leaves rows in ``sending``; once their lease expires they are
claimed again and re-sent under the same idempotency key, which the Sender deduplicates —
so nothing is lost and nothing reaches the customer twice. Outcome updates carry the claim
token, so a slow dispatcher whose lease was taken over cannot overwrite the new owner's result.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import BigInteger, Integer, Table, and_, any_, bindparam, case, exists, func, or_, select, true, update
from sqlalchemy.orm import Session, sessionmaker

from care import compliance
from care.compliance import Policy
from care.sms_channel import SMS, load_params
from core.db import session_scope
from crm.care_access import marketing_allowed_sql
from crm.models import Campaign, ChannelIdentity, Customer, Delivery
from crm.models.base import utcnow
from crm.models.care import DUE_STATUSES, OPEN_STATUSES, DeliveryStatus
from crm.models.sms import SmsReach, SmsServiceConsent
from outbound.contract import BatchSmsSender, DeliveryView, Sender, SendOutcome, SendStatus

log = logging.getLogger(__name__)
_DELIVERY: Table = Delivery.__table__  # type: ignore[assignment]  # the Core table, for SQL rule builders


@dataclass(frozen=True)
class DispatchConfig:
    rate_per_second: float = 50.0
    batch_size: int = 200
    concurrency: int = 20
    lease: dt.timedelta = dt.timedelta(seconds=120)
    max_attempts: int = 5
    backoff_base: dt.timedelta = dt.timedelta(seconds=30)
    backoff_max: dt.timedelta = dt.timedelta(hours=2)
    policy: Policy = field(default_factory=Policy)

    def backoff(self, attempts: int) -> dt.timedelta:
        """Exponential backoff after the ``attempts``-th failed try: 30 s, 60 s, 120 s ... capped."""
        return min(self.backoff_base * (2 ** max(0, attempts - 1)), self.backoff_max)


class RateLimiter:
    """Paces calls to at most ``rate`` per second (evenly spaced, shared by all workers)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate if rate > 0 else 0.0
        self._next = 0.0
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        if not self.interval:
            return
        async with self._lock:
            now = time.monotonic()
            wait = self._next - now
            self._next = max(self._next, now) + self.interval
        if wait > 0:
            await asyncio.sleep(wait)


class Dispatcher:
    """Sends due deliveries. Database work runs in a thread so the event loop stays free."""

    def __init__(
        self,
        factory: sessionmaker[Session],
        sender: Sender,
        config: DispatchConfig = DispatchConfig(),
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.factory, self.sender, self.config, self.clock = factory, sender, config, clock
        self.limiter = RateLimiter(config.rate_per_second)
        self.stats: Counter[str] = Counter()

    async def run_once(self) -> int:
        """Claim one batch and send it; returns how many rows were claimed (0 = nothing due)."""
        token = str(uuid.uuid4())
        views = await asyncio.to_thread(self._claim, token, self.clock())
        if not views:
            return 0
        results: list[tuple[DeliveryView, SendOutcome]] = []
        sms = [v for v in views if v.channel == SMS]
        views = [v for v in views if v.channel != SMS]
        if sms:
            results += await self._send_sms(sms)
        queue = iter(views)

        async def worker() -> None:
            # ``concurrency`` long-lived workers share the batch: the same limit as a task per
            # message behind a semaphore, without creating thousands of tasks per batch.
            for view in queue:
                await self.limiter.acquire()
                try:
                    outcome = await self.sender.send(view)
                except Exception as exc:  # a sender bug or outage must not lose the row
                    log.warning("sender raised %s for delivery %s", type(exc).__name__, view.delivery_id)
                    outcome = SendOutcome.retry(f"exception:{type(exc).__name__}")
                results.append((view, outcome))

        if views:
            await asyncio.gather(*(worker() for _ in range(max(1, min(self.config.concurrency, len(views))))))
        await asyncio.to_thread(self._record, token, results, self.clock())
        return len(views) + len(sms)

    async def _send_sms(self, views: list[DeliveryView]) -> list[tuple[DeliveryView, SendOutcome]]:
        """SMS rows go out in provider batches (the sender groups them by template and parameters)."""
        batch_sender: BatchSmsSender | None = getattr(self.sender, "sms", None) or (
            self.sender if hasattr(self.sender, "send_sms_batch") else None  # type: ignore[assignment]
        )
        if batch_sender is None:
            # No SMS provider in this process: the rows wait (retry), they are not lost.
            return [(v, SendOutcome.retry("sms_not_configured", 300.0)) for v in views]
        await self.limiter.acquire()  # the rate limits requests here: one batch is a few requests
        try:
            outcomes = await batch_sender.send_sms_batch(views)
        except Exception as exc:  # a provider outage or a bug must not lose the rows
            log.warning("SMS batch raised %s for %d deliveries", type(exc).__name__, len(views))
            outcomes = [SendOutcome.retry(f"exception:{type(exc).__name__}") for _ in views]
        return list(zip(views, outcomes, strict=True))

    async def drain(self, max_batches: int | None = None) -> int:
        """Run batches until nothing is due (or ``max_batches``); returns rows claimed."""
        total, batches = 0, 0
        while max_batches is None or batches < max_batches:
            n = await self.run_once()
            total, batches = total + n, batches + 1
            if n == 0:
                break
        return total

    # --- database side -------------------------------------------------------------------

    def _claim(self, token: str, now: dt.datetime) -> list[DeliveryView]:
        cfg = self.config
        with session_scope(self.factory) as session:
            due = (
                select(Delivery.id)
                .where(
                    # Redundant with the OR below, but PostgreSQL can only match the partial index
                    # ix_deliveries_due (open rows only) when its predicate appears literally.
                    Delivery.status.in_(OPEN_STATUSES),
                    or_(
                        and_(Delivery.status.in_(DUE_STATUSES), Delivery.not_before <= now),
                        and_(Delivery.status == DeliveryStatus.SENDING, Delivery.lease_until < now),
                    ),
                )
                # Oldest due first. Not "(not_before, id)": no index has that order, so with a
                # million rows due at 09:00 PostgreSQL sorted the whole backlog for every batch
                # (0.4 s per claim at 300k rows); by not_before alone it walks the index and stops
                # after one batch (4 ms). Equal times come in index (≈ insertion) order.
                .order_by(Delivery.not_before)
                .limit(cfg.batch_size)
            )
            if session.get_bind().dialect.name == "postgresql":
                due = due.with_for_update(skip_locked=True)
            claimed = (
                session.execute(
                    update(Delivery)
                    .where(Delivery.id.in_(due.scalar_subquery()))
                    .values(
                        status=DeliveryStatus.SENDING,
                        claim_token=token,
                        claimed_at=now,
                        lease_until=now + cfg.lease,
                        attempts=Delivery.attempts + 1,
                    )
                    .returning(Delivery.id)
                    .execution_options(synchronize_session=False)
                )
                .scalars()
                .all()
            )
            if not claimed:
                return []
            consent = case(
                (
                    Delivery.is_marketing.is_(True),
                    marketing_allowed_sql(_DELIVERY.c.customer_id, _DELIVERY.c.channel),
                ),
                else_=true(),
            )
            # Through the Connection: plain column rows, without the ORM's per-row result processing.
            rows = session.connection().execute(
                select(
                    Delivery.id,
                    Delivery.idempotency_key,
                    Delivery.customer_id,
                    Delivery.channel,
                    Delivery.identity_id,
                    Delivery.is_marketing,
                    Delivery.text,
                    Delivery.attempts,
                    Campaign.code,
                    Campaign.kind,
                    ChannelIdentity.external_id,
                    ChannelIdentity.last_inbound_at,
                    ChannelIdentity.subscribed,
                    consent.label("consent"),
                    Delivery.sms_template,
                    Delivery.sms_params,
                    *_sms_columns(),
                )
                .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
                .outerjoin(ChannelIdentity, ChannelIdentity.id == Delivery.identity_id)
                .outerjoin(Customer, and_(Customer.id == Delivery.customer_id, Delivery.channel == SMS))
                .where(_id_in(session, list(claimed)), Delivery.claim_token == token)
            ).all()
            return self._screen(session, token, rows, now)

    def _screen(self, session: Session, token: str, rows: Sequence[Any], now: dt.datetime) -> list[DeliveryView]:
        """Last checks at send time: consent may have been withdrawn, the clock may be in quiet hours.

        Consent is the same rule as :func:`crm.care_access.marketing_allowed`, evaluated in the
        claiming query (one round trip, no per-batch id lists).
        """
        policy = self.config.policy
        views: list[DeliveryView] = []
        decided: list[dict[str, Any]] = []
        quiet = compliance.in_quiet_hours(now, policy)
        for r in rows:
            sms = r.channel == SMS
            if r.is_marketing and not r.consent:
                decided.append(self._decide(r, DeliveryStatus.SUPPRESSED, "opted_out", None, r.attempts))
            elif sms and not r.is_marketing and not r.sms_service:
                decided.append(self._decide(r, DeliveryStatus.SUPPRESSED, "no_sms_consent", None, r.attempts))
            elif sms and r.sms_unreachable:
                decided.append(self._decide(r, DeliveryStatus.SUPPRESSED, "sms_unreachable", None, r.attempts))
            elif not sms and (r.identity_id is None or not r.subscribed):
                decided.append(self._decide(r, DeliveryStatus.SUPPRESSED, "unsubscribed", None, r.attempts))
            elif quiet:
                # waiting for morning is not a failed attempt
                later = compliance.next_allowed(now, policy)
                decided.append(self._decide(r, DeliveryStatus.DEFERRED, "quiet_hours", later, r.attempts - 1))
            else:
                views.append(
                    DeliveryView(
                        delivery_id=r.id,
                        idempotency_key=r.idempotency_key,
                        customer_id=r.customer_id,
                        campaign_code=r.code,
                        campaign_kind=r.kind,
                        channel=r.channel,
                        identity_id=r.identity_id,
                        external_id=r.external_id,
                        last_inbound_at=r.last_inbound_at,
                        is_marketing=r.is_marketing,
                        text=r.text,
                        attempt=r.attempts,
                        phone=r.phone if sms else None,
                        sms_template=r.sms_template,
                        sms_params=load_params(r.sms_params),
                    )
                )
        if decided:
            table = _DELIVERY
            session.connection().execute(
                update(table)
                .where(table.c.id == bindparam("b_id"), table.c.claim_token == token)
                .values(
                    status=bindparam("b_status"),
                    reason=bindparam("b_reason"),
                    not_before=_coalesce_not_before(table),
                    attempts=bindparam("b_attempts"),
                    decided_at=now,
                    claim_token=None,
                    lease_until=None,
                ),
                decided,
            )
        return views

    def _decide(
        self, r: Any, status: DeliveryStatus, reason: str, not_before: dt.datetime | None, attempts: int
    ) -> dict[str, Any]:
        self.stats[reason] += 1
        return {
            "b_id": r.id,
            "b_status": status,
            "b_reason": reason,
            "b_not_before": not_before,
            "b_attempts": attempts,
        }

    def _record(self, token: str, results: list[tuple[DeliveryView, SendOutcome]], now: dt.datetime) -> None:
        cfg = self.config
        params: list[dict[str, Any]] = []
        for view, outcome in results:
            p: dict[str, Any] = {
                "b_id": view.delivery_id,
                "b_status": DeliveryStatus.SENT,
                "b_reason": None,
                "b_error": None,
                "b_sent_at": None,
                "b_not_before": None,
                "b_attempts": None,
            }
            if outcome.status == SendStatus.SENT:
                p["b_sent_at"] = now
            elif outcome.status == SendStatus.RETRY and outcome.retry_after_s is not None:
                # A provider's limit (an SMS number's 30 s / hour / day): wait it out; the try
                # does not count as a failed attempt, so the message is never given up for it.
                p.update(
                    b_status=DeliveryStatus.FAILED,
                    b_reason="provider_limit",
                    b_error=(outcome.reason or "")[:128],
                    b_not_before=now + dt.timedelta(seconds=max(1.0, outcome.retry_after_s)),
                    b_attempts=max(0, view.attempt - 1),
                )
            elif outcome.status == SendStatus.RETRY and view.attempt < cfg.max_attempts:
                p.update(
                    b_status=DeliveryStatus.FAILED,
                    b_reason="retry_scheduled",
                    b_error=(outcome.reason or "")[:128],
                    b_not_before=now + cfg.backoff(view.attempt),
                )
            else:
                reason = "max_attempts" if outcome.status == SendStatus.RETRY else "permanent_failure"
                p.update(b_status=DeliveryStatus.DEAD, b_reason=reason, b_error=(outcome.reason or "")[:128])
            self.stats[p["b_status"]] += 1
            params.append(p)
        table = _DELIVERY
        sent = [p["b_id"] for p in params if p["b_status"] == DeliveryStatus.SENT]
        params = [p for p in params if p["b_status"] != DeliveryStatus.SENT]
        with session_scope(self.factory) as session:
            if sent:
                # The common outcome in one statement (ids as a single array parameter on
                # PostgreSQL) instead of one UPDATE per message.
                session.connection().execute(
                    update(table)
                    .where(_id_in(session, sent, table.c.id), table.c.claim_token == token)
                    .values(
                        status=DeliveryStatus.SENT,
                        reason=None,
                        last_error=None,
                        sent_at=now,
                        decided_at=now,
                        claim_token=None,
                        lease_until=None,
                    )
                )
            if params:
                session.connection().execute(self._record_stmt(token, now), params)

    def _record_stmt(self, token: str, now: dt.datetime) -> Any:
        table = _DELIVERY
        return (
            update(table)
            .where(table.c.id == bindparam("b_id"), table.c.claim_token == token)
            .values(
                status=bindparam("b_status"),
                reason=bindparam("b_reason"),
                last_error=bindparam("b_error"),
                sent_at=bindparam("b_sent_at"),
                not_before=_coalesce_not_before(table),
                attempts=func.coalesce(bindparam("b_attempts", type_=Integer), table.c.attempts),
                decided_at=now,
                claim_token=None,
                lease_until=None,
            )
        )


def _sms_columns() -> list[Any]:
    """An SMS row's number, its service-SMS consent and whether the number is unreachable (all
    NULL/false for chat rows: the customer join only matches SMS rows)."""
    service = exists().where(
        SmsServiceConsent.customer_id == Customer.id, SmsServiceConsent.granted.is_(True)
    )
    unreachable = exists().where(SmsReach.phone == Customer.phone, SmsReach.unreachable_since.is_not(None))
    return [Customer.phone.label("phone"), service.label("sms_service"), unreachable.label("sms_unreachable")]


def _id_in(session: Session, ids: list[int], column: Any = None) -> Any:
    """``id IN ids``: one array parameter on PostgreSQL (no statement growing with the batch)."""
    column = Delivery.__table__.c.id if column is None else column
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    return column.in_(ids)


def _coalesce_not_before(table: Any) -> Any:
    return func.coalesce(bindparam("b_not_before", type_=table.c.not_before.type), table.c.not_before)
