"""The SMS channel's records (crm/models/sms.py): what was handed to a provider, what the delivery
reports said, replies, and which numbers no longer receive SMS.

Callers pass plain values (crm sits below ``outbound``): the dispatcher calls
:func:`reserve_sms` before a provider request and :func:`record_send_outcome` after it; the
gateway's callback routes call :func:`apply_delivery_report` and :func:`record_inbound_sms` with
what ``outbound.sms.callbacks`` parsed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Customer, utcnow
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
    if row is not None:
        row.status = "delivered" if delivered else "undelivered"
        row.code, row.reported_at = code[:64], now
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
