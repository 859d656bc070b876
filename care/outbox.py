"""The planning side of the transactional outbox: writes decided rows into ``deliveries``.

The planner (:mod:`care.planner`) hands each campaign's decided batch to a sink from
:func:`outbox_sink`: a multi-row INSERT that skips existing idempotency keys on SQLite, COPY on
PostgreSQL. Sending them is the care scheduler's dispatcher.
"""

from __future__ import annotations

import threading
from typing import Any, NamedTuple

from sqlalchemy import Table, func, insert, select
from sqlalchemy.orm import Session

from crm.models import Delivery
from crm.models.care import DeliveryStatus


class OutboxRow(NamedTuple):
    """One decided outbox row; everything else is the same for a whole campaign batch (see
    :meth:`OutboxSink.write`). A tuple, so COPY can append the batch columns to it as it is."""

    customer_id: int
    idempotency_key: str
    channel: str
    identity_id: int | None
    variant: str | None
    text: str
    status: DeliveryStatus
    reason: str | None
    # SMS rows: the registered template and its parameters (JSON array); None for chat rows.
    sms_template: str | None = None
    sms_params: str | None = None


ROW_COLUMNS = OutboxRow._fields
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
                r._asdict(),
                not_before=constants["deferred_to"] if r.status == DeliveryStatus.DEFERRED else constants["send_at"],
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
                copy.write_row(r + (deferred if r.status == DeliveryStatus.DEFERRED else on_time))
        return len(rows)


def outbox_sink(session: Session) -> OutboxSink:
    """The fastest correct way to enqueue on this session's database."""
    if session.get_bind().dialect.name == "postgresql":
        return PgCopySink(session)
    return OutboxSink(session)
