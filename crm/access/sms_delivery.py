"""The SMS channel's records (crm/models/sms.py): what was handed to a provider, what the delivery
reports said, replies, and which numbers no longer receive SMS.

Callers pass plain values (crm sits below ``outbound``): the dispatcher calls
:func:`reserve_sms` before a provider request and :func:`record_send_outcome` after it; the
gateway's callback routes call :func:`apply_delivery_report` and :func:`record_inbound_sms` with
what ``outbound.sms.callbacks`` parsed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.orm import Session

from crm.models import Customer, Delivery, utcnow
from crm.models.care import DeliveryStatus
from crm.models.sms import SmsInbound, SmsMessage, SmsReach

# Consecutive hard failures (空号, 停机) after which a number counts as unreachable by SMS.
UNREACHABLE_AFTER = 2


def reserve_sms(
    session: Session, *, delivery_key: str, phone: str, provider: str, template_key: str, segments: int,
    customer_id: int | None = None,
) -> SmsMessage | None:
    """The row to send under ``delivery_key``, or None when the provider already accepted it
    (sent, delivered or undelivered): a restarted dispatcher must not send it twice."""
    row = session.scalar(select(SmsMessage).where(SmsMessage.delivery_key == delivery_key))
    if row is None:
        row = SmsMessage(delivery_key=delivery_key, phone=phone, provider=provider, template_key=template_key,
                         segments=segments, customer_id=customer_id, status="pending", attempts=0)
        session.add(row)
    elif row.status in ("sent", "delivered", "undelivered"):
        return None
    row.attempts = (row.attempts or 0) + 1
    session.flush()
    return row


def record_send_outcome(
    session: Session, delivery_key: str, *, outcome: str, code: str, provider_message_id: str = "",
    now: dt.datetime | None = None,
) -> SmsMessage | None:
    """What the provider answered for one number: ``sent``, ``retry`` or ``failed`` (results.py)."""
    row = session.scalar(select(SmsMessage).where(SmsMessage.delivery_key == delivery_key))
    if row is None:
        return None
    row.status, row.code = outcome, code[:64]
    if outcome == "sent":
        row.provider_message_id = provider_message_id[:64] or None
        row.sent_at = now or utcnow()
    session.flush()
    return row


def apply_delivery_report(
    session: Session, *, provider: str, provider_message_id: str, phone: str, delivered: bool, code: str,
    hard_failure: bool, now: dt.datetime | None = None,
) -> SmsMessage | None:
    """A 状态回执: the message's final status, and the number's reachability.

    Returns the message (None when no message has that id: a report for another system's send).
    """
    now = now or utcnow()
    row = session.scalar(
        select(SmsMessage).where(
            SmsMessage.provider == provider,
            SmsMessage.provider_message_id == provider_message_id,
            SmsMessage.phone == phone,
        )
    )
    if row is not None and row.reported_at is not None:
        return row  # the same report pushed again (a provider's retry): counted once
    if row is not None:
        row.status = "delivered" if delivered else "undelivered"
        row.code, row.reported_at = code[:64], now
        _report_to_outbox(session, row.delivery_key, delivered, code, now)
    reach = session.get(SmsReach, phone)
    if reach is None:
        reach = SmsReach(phone=phone, hard_failures=0)
        session.add(reach)
    if delivered:
        reach.hard_failures, reach.unreachable_since = 0, None
    elif hard_failure:
        reach.hard_failures = (reach.hard_failures or 0) + 1
        if reach.hard_failures >= UNREACHABLE_AFTER and reach.unreachable_since is None:
            reach.unreachable_since = now
    reach.last_code, reach.updated_at = code[:64], now
    session.flush()
    return row


def report_too_early(session: Session, *, provider: str, provider_message_id: str, phone: str) -> bool:
    """A report for a number whose send is still waiting for its answer to be recorded (the
    provider reported faster than the dispatcher wrote the message id): retry it later."""
    known = session.scalar(
        select(SmsMessage.id).where(
            SmsMessage.provider == provider,
            SmsMessage.provider_message_id == provider_message_id,
            SmsMessage.phone == phone,
        ).limit(1)
    )
    if known is not None:
        return False
    waiting = session.scalar(
        select(SmsMessage.id).where(
            SmsMessage.provider == provider, SmsMessage.phone == phone, SmsMessage.status == "pending"
        ).limit(1)
    )
    return waiting is not None


def _report_to_outbox(session: Session, key: str, delivered: bool, code: str, now: dt.datetime) -> None:
    """The campaign outbox row of that SMS (same key) learns the carrier's verdict: a failed
    delivery becomes ``dead`` / ``undelivered`` with the carrier's code (reports show it by code)."""
    if delivered:
        return
    session.execute(
        update(Delivery)
        .where(Delivery.idempotency_key == key, Delivery.status == DeliveryStatus.SENT)
        .values(status=DeliveryStatus.DEAD, reason="undelivered", last_error=(code or "UNKNOWN")[:128], decided_at=now)
        .execution_options(synchronize_session=False)
    )


def record_inbound_sms(
    session: Session, *, provider: str, phone: str, text: str, is_opt_out: bool, now: dt.datetime | None = None
) -> SmsInbound:
    """Store a 上行短信 with the customer it came from (the first one with that phone, if any)."""
    customer_id = session.scalar(select(Customer.id).where(Customer.phone == phone).order_by(Customer.id).limit(1))
    row = SmsInbound(provider=provider, phone=phone, text=text[:500], customer_id=customer_id,
                     is_opt_out=is_opt_out, received_at=now or utcnow())
    session.add(row)
    session.flush()
    return row


def unreachable_phones(session: Session, phones: Iterable[str]) -> set[str]:
    """Which of ``phones`` are marked unreachable by SMS (planning skips them)."""
    wanted = list(set(phones))
    if not wanted:
        return set()
    return set(
        session.scalars(
            select(SmsReach.phone).where(SmsReach.phone.in_(wanted), SmsReach.unreachable_since.is_not(None))
        )
    )


@dataclass(frozen=True)
class SmsToSend:
    """One SMS the dispatcher wants to hand to the provider (see :func:`reserve_many`)."""

    delivery_key: str
    phone: str
    template_key: str
    segments: int
    customer_id: int | None = None


@dataclass(frozen=True)
class Reservation:
    """What :func:`reserve_many` decided for one key.

    ``state``: ``send`` (reserved for this request, ``context`` stamped), ``accepted`` (the
    provider took it before: never again), ``failed`` (permanently refused before),
    ``unanswered`` (reserved by an earlier request that never got its answer: a dispatcher died
    mid-batch; the caller must find out whether it went out before sending it again).
    """

    key: str
    state: str
    code: str = ""
    context: str = ""  # unanswered: the earlier request's context
    reserved_at: dt.datetime | None = None


CONTEXT_PREFIX = "ctx:"  # ``code`` of a reserved, unanswered row: the request's context


def reserve_many(
    session: Session, items: Sequence[SmsToSend], *, provider: str, context: str, now: dt.datetime | None = None
) -> list[Reservation]:
    """Reserve every SMS for one provider request in one transaction (commit before the request).

    A reserved row is ``pending`` with ``code = "ctx:<context>"`` until :func:`record_many`
    stores the provider's answer; a row found still pending belonged to a request that never got
    its answer, and is reported ``unanswered`` with that request's context.
    """
    now = now or utcnow()
    keys = [i.delivery_key for i in items]
    if not keys:
        return []
    table: Table = SmsMessage.__table__  # type: ignore[assignment]
    stamp = f"{CONTEXT_PREFIX}{context}"
    # Most keys are new: insert them all, skipping keys that exist, then read only those.
    stmt = _insert(session)(table).on_conflict_do_nothing(index_elements=["delivery_key"])
    inserted = set(
        session.execute(
            stmt.returning(table.c.delivery_key),
            [
                dict(delivery_key=i.delivery_key, phone=i.phone, provider=provider, template_key=i.template_key,
                     segments=i.segments, customer_id=i.customer_id, status="pending", attempts=1, code=stamp,
                     created_at=now)
                for i in items
            ],
        ).scalars()
    )
    existing = [k for k in keys if k not in inserted]
    found = {
        r.delivery_key: r
        for r in session.execute(
            select(table.c.delivery_key, table.c.status, table.c.code, table.c.created_at).where(
                table.c.delivery_key.in_(existing)
            )
        )
    } if existing else {}
    again = [k for k, r in found.items() if r.status == "retry"]
    if again:
        session.execute(
            update(table).where(table.c.delivery_key.in_(again), table.c.status == "retry")
            .values(status="pending", code=stamp, attempts=table.c.attempts + 1, created_at=now)
        )
    out = []
    for key in keys:
        r = found.get(key)
        if r is None or r.status == "retry":
            out.append(Reservation(key, "send", context=context))
        elif r.status in ("sent", "delivered", "undelivered"):
            out.append(Reservation(key, "accepted", code=r.code or ""))
        elif r.status == "failed":
            out.append(Reservation(key, "failed", code=r.code or ""))
        else:
            earlier = (r.code or "").removeprefix(CONTEXT_PREFIX)
            out.append(Reservation(key, "unanswered", context=earlier, reserved_at=r.created_at))
    return out


def _insert(session: Session) -> Any:
    """``insert`` with ON CONFLICT for this session's database (PostgreSQL or SQLite)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


def restamp(session: Session, keys: Sequence[str], context: str, now: dt.datetime | None = None) -> None:
    """Unanswered rows found not sent: reserve them for a new request."""
    if keys:
        session.execute(
            update(SmsMessage)
            .where(SmsMessage.delivery_key.in_(list(keys)), SmsMessage.status == "pending")
            .values(code=f"{CONTEXT_PREFIX}{context}", attempts=SmsMessage.attempts + 1, created_at=now or utcnow())
            .execution_options(synchronize_session=False)
        )


def record_many(
    session: Session, outcomes: Sequence[tuple[str, str, str, str]], now: dt.datetime | None = None
) -> None:
    """The provider's answers: (delivery_key, outcome sent|retry|failed, code, provider_message_id)."""
    if not outcomes:
        return
    now = now or utcnow()
    table: Table = SmsMessage.__table__  # type: ignore[assignment]
    session.execute(
        update(table)
        .where(table.c.delivery_key == bindparam("b_key"))
        .values(status=bindparam("b_status"), code=bindparam("b_code"), provider_message_id=bindparam("b_mid"),
                sent_at=bindparam("b_sent_at")),
        [
            {"b_key": key, "b_status": outcome, "b_code": code[:64], "b_mid": mid[:64] or None,
             "b_sent_at": now if outcome == "sent" else None}
            for key, outcome, code, mid in outcomes
        ],
    )
