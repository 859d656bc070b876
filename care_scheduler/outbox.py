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
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import (
    BigInteger,
    Table,
    and_,
    any_,
    bindparam,
    case,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session, sessionmaker

from care_scheduler import compliance
from care_scheduler.compliance import Policy
from core.db import session_scope
from crm.care_access import marketing_allowed_sql
from crm.models import Campaign, ChannelIdentity, Delivery
from crm.models.base import utcnow
from crm.models.care import OPEN_STATUSES
from outbound.contract import DeliveryView, Sender, SendOutcome

log = logging.getLogger(__name__)
DUE_STATUSES = ("planned", "deferred", "failed")

# --- enqueue (planning side) -----------------------------------------------------------------

# One decided outbox row: (customer_id, idempotency_key, channel, identity_id, variant, text,
# status, reason). Everything else is the same for a whole campaign batch (see OutboxSink.write).
OutboxRow = tuple[int, str, str, int | None, str | None, str, str, str | None]
ROW_COLUMNS = (
    "customer_id",
    "idempotency_key",
    "channel",
    "identity_id",
    "variant",
    "text",
    "status",
    "reason",
)
# The per-campaign columns, in the order PgCopySink appends them to every row (then not_before).
BATCH_COLUMNS = (
    "campaign_id",
    "is_marketing",
    "segment_version",
    "attempts",
    "local_day",
    "created_at",
    "decided_at",
)
_DELIVERY: Table = Delivery.__table__  # type: ignore[assignment]  # the Core table, for SQL rule builders


class OutboxSink:
    """Writes decided rows into the outbox, skipping idempotency keys that exist already.

    ``constants`` carries the per-campaign columns: campaign_id, is_marketing, segment_version,
    attempts, local_day, created_at, decided_at, and ``send_at``/``deferred_to`` from which
    not_before follows (deferred rows wait for ``deferred_to``, all others carry ``send_at``).
    ``write`` returns how many rows were really inserted (a concurrent planner may win a key).
    """

    def __init__(self, session: Session) -> None:
        self.session = session
        self.inserted = 0
        self._held: tuple[dict[str, Any], list[OutboxRow]] | None = None

    # The planner holds a decided batch and writes it while it decides the next one (see
    # PgCopySink). Order per campaign loop: hold(k) ... query k+1 ... start() [writes k] ...
    # decide k+1 ... join() ... hold(k+1). ``flush`` (also the barrier before a query that must
    # see every earlier row) writes whatever is held and waits.

    def hold(self, constants: dict[str, Any], rows: list[OutboxRow]) -> None:
        assert self._held is None, "join() before holding the next batch"
        if rows:
            self._held = (constants, rows)

    def start(self) -> None:
        """Begin writing the held batch (here: synchronously)."""
        if self._held is not None:
            constants, rows = self._held
            self._held = None
            self.inserted += self.write(constants, rows)

    def join(self) -> None:
        """Wait for the write begun by :meth:`start`."""

    def flush(self) -> None:
        self.join()
        self.start()
        self.join()

    def write(self, constants: dict[str, Any], rows: list[OutboxRow]) -> int:
        table = _DELIVERY
        fixed = {k: v for k, v in constants.items() if k not in ("send_at", "deferred_to")}
        dicts = [
            dict(
                zip(ROW_COLUMNS, r, strict=True),
                not_before=constants["deferred_to"] if r[6] == "deferred" else constants["send_at"],
                **fixed,
            )
            for r in rows
        ]
        dialect = self.session.get_bind().dialect.name
        if dialect == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:  # pragma: no cover - only SQLite and PostgreSQL are supported
            return int(self.session.connection().execute(insert(table), dicts).rowcount or 0)
        # RETURNING counts what was really inserted (executemany rowcount is unreliable across drivers).
        stmt = dialect_insert(table).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(table.c.id)
        return len(self.session.connection().execute(stmt, dicts).all())


# Transaction-level advisory lock held by every PostgreSQL planning run (any constant shared by
# all bankcare processes; this one is "bankcare" in ASCII).
PLANNING_LOCK = 0x62616E6B63617265


class PgCopySink(OutboxSink):
    """PostgreSQL: COPY each decided batch straight into the outbox.

    A multi-row INSERT of 10,000 rows costs more in building and parsing the statement than the
    database spends storing the rows; COPY streams them.

    COPY has no ON CONFLICT, and needs none. Planning runs one at a time: creating the sink takes
    :data:`PLANNING_LOCK` for the rest of the transaction, before the planner's first candidate
    query. A second planner (the scheduler and ``care run-due`` at once) waits, then sees every
    row the first one committed, both in its "already planned" check and in its frequency-cap
    counts, so caps also hold across planners. Nothing else creates outbox rows, and the planner
    never writes a key it found planned, so no key can appear twice; the unique constraint stays
    as the last word: a duplicate would be an error and a rolled-back plan, never a second
    message. (``INSERT ... ON CONFLICT DO NOTHING`` from a staging table, the earlier design, did
    the same check again per row by speculative insertion and cost about twice as much.)
    """

    def __init__(self, session: Session) -> None:
        super().__init__(session)
        session.execute(select(func.pg_advisory_xact_lock(PLANNING_LOCK)))
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def start(self) -> None:
        """Write the held batch on a helper thread, so PostgreSQL stores batch k while Python
        decides batch k+1. The planner touches no database while a write runs (it only renders
        and applies rules in memory), so the session's connection has one user at a time."""
        if self._held is None:
            return
        constants, rows = self._held
        self._held = None
        self.session.connection()  # bind the transaction's connection here, not on the thread

        def run() -> None:
            try:
                self.inserted += self.write(constants, rows)
            except BaseException as exc:  # re-raised in join(), on the planner's thread
                self._error = exc

        self._thread = threading.Thread(target=run, name="care-outbox-write")
        self._thread.start()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def write(self, constants: dict[str, Any], rows: list[OutboxRow]) -> int:
        raw = self.session.connection().connection.driver_connection
        assert raw is not None
        fixed = tuple(constants[name] for name in BATCH_COLUMNS)
        # Deferred rows wait for the end of quiet hours; every other row carries the send time.
        deferred = (*fixed, constants["deferred_to"])
        on_time = (*fixed, constants["send_at"])
        columns = ", ".join((*ROW_COLUMNS, *BATCH_COLUMNS, "not_before"))
        with raw.cursor() as cur, cur.copy(f"COPY deliveries ({columns}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r + (deferred if r[6] == "deferred" else on_time))
        return len(rows)


def outbox_sink(session: Session) -> OutboxSink:
    """The fastest correct way to enqueue on this session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return PgCopySink(session)
    return OutboxSink(session)


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

        await asyncio.gather(*(worker() for _ in range(max(1, min(self.config.concurrency, len(views))))))
        await asyncio.to_thread(self._record, token, results, self.clock())
        return len(views)

    async def drain(self, max_batches: int | None = None) -> int:
        """Run batches until nothing is due (or ``max_batches``); returns rows claimed."""
        total, batches = 0, 0
        while max_batches is None or batches < max_batches:
            n = await self.run_once()
            total, batches = total + n, batches + 1
            if n == 0:
                break
        return total

    async def run_forever(self, stop: asyncio.Event, idle_seconds: float = 5.0) -> None:
        while not stop.is_set():
            try:
                n = await self.run_once()
            except Exception:  # keep the loop alive through database hiccups
                log.exception("dispatch batch failed")
                n = 0
            if n == 0:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=idle_seconds)
                except TimeoutError:
                    pass

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
                        and_(Delivery.status == "sending", Delivery.lease_until < now),
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
                        status="sending",
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
            rows = session.execute(
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
                )
                .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
                .outerjoin(ChannelIdentity, ChannelIdentity.id == Delivery.identity_id)
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
            if r.is_marketing and not r.consent:
                decided.append(self._decide(r, "suppressed", "opted_out", None, r.attempts))
            elif r.identity_id is None or not r.subscribed:
                decided.append(self._decide(r, "suppressed", "unsubscribed", None, r.attempts))
            elif quiet:
                # waiting for morning is not a failed attempt
                later = compliance.next_allowed(now, policy)
                decided.append(self._decide(r, "deferred", "quiet_hours", later, r.attempts - 1))
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
        self, r: Any, status: str, reason: str, not_before: dt.datetime | None, attempts: int
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
                "b_status": "sent",
                "b_reason": None,
                "b_error": None,
                "b_sent_at": None,
                "b_not_before": None,
            }
            if outcome.status == "sent":
                p["b_sent_at"] = now
            elif outcome.status == "retry" and view.attempt < cfg.max_attempts:
                p.update(
                    b_status="failed",
                    b_reason="retry_scheduled",
                    b_error=(outcome.reason or "")[:128],
                    b_not_before=now + cfg.backoff(view.attempt),
                )
            else:
                reason = "max_attempts" if outcome.status == "retry" else "permanent_failure"
                p.update(b_status="dead", b_reason=reason, b_error=(outcome.reason or "")[:128])
            self.stats[p["b_status"]] += 1
            params.append(p)
        table = _DELIVERY
        sent = [p["b_id"] for p in params if p["b_status"] == "sent"]
        params = [p for p in params if p["b_status"] != "sent"]
        with session_scope(self.factory) as session:
            if sent:
                # The common outcome in one statement (ids as a single array parameter on
                # PostgreSQL) instead of one UPDATE per message.
                session.connection().execute(
                    update(table)
                    .where(_id_in(session, sent, table.c.id), table.c.claim_token == token)
                    .values(
                        status="sent",
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
                decided_at=now,
                claim_token=None,
                lease_until=None,
            )
        )


def _id_in(session: Session, ids: list[int], column: Any = None) -> Any:
    """``id IN ids``: one array parameter on PostgreSQL (no statement growing with the batch)."""
    column = Delivery.__table__.c.id if column is None else column
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        return column == any_(bindparam("ids", ids, type_=ARRAY(BigInteger)))
    return column.in_(ids)


def _coalesce_not_before(table: Any) -> Any:
    return func.coalesce(bindparam("b_not_before", type_=table.c.not_before.type), table.c.not_before)
