"""Marketing consent from the chat and by SMS: unsubscribe (退订), subscribe again, whether we may suggest."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.access.identity import VerifiedCustomer
from crm.care_access import ATTRIBUTION_WINDOW, PENDING_STATUSES, marketing_allowed, refuse_channel
from crm.care_access import opt_in as _care_opt_in
from crm.care_access import opt_out as _care_opt_out
from crm.models import AuditEvent, Customer, Delivery, utcnow
from crm.models.care import DeliveryStatus

SMS_CHANNEL = "sms"


def opt_out(session: Session, who: VerifiedCustomer, source: str = "微信退订") -> None:
    """Withdraw all marketing consent (and stop anything queued) through the care module."""
    _care_opt_out(session, who.customer_id, source=source)


def opt_in(
    session: Session, who: VerifiedCustomer, source: str = "微信订阅", now: dt.datetime | None = None
) -> None:
    """Grant marketing consent again for every channel (the customer asked explicitly)."""
    _care_opt_in(session, who.customer_id, source=source, now=now)


def may_suggest(session: Session, who: VerifiedCustomer) -> bool:
    """Product suggestions only for customers who consented on this channel (or for all)."""
    return marketing_allowed(session, [who.customer_id], who.channel).get(who.customer_id, False)


def opt_out_sms_marketing(
    session: Session, phone: str, source: str = "短信退订", *, now: dt.datetime | None = None
) -> list[int]:
    """An inbound SMS said R/T/TD/退订: marketing by SMS stops at once for the phone's customers.

    Only the SMS channel is refused (WeChat consent is the customer's separate choice); marketing
    SMS still waiting in the outbox are suppressed in the same transaction, the latest marketing
    SMS sent within the attribution window is marked as the one that made them opt out, and each
    customer's refusal is audited. Returns the ids of the customers with that phone (none: a
    number the bank does not know, nothing to do).
    """
    now = now or utcnow()
    digits = "".join(ch for ch in phone if ch.isdigit())[-11:]
    customer_ids = list(session.scalars(select(Customer.id).where(Customer.phone == digits).order_by(Customer.id)))
    for customer_id in customer_ids:
        refuse_channel(session, customer_id, SMS_CHANNEL, source, now=now)
        pending_sms = (
            Delivery.customer_id == customer_id,
            Delivery.channel == SMS_CHANNEL,
            Delivery.is_marketing.is_(True),
        )
        suppressed = session.execute(  # type: ignore[attr-defined]  # an UPDATE's result has rowcount
            update(Delivery)
            .where(*pending_sms, Delivery.status.in_(PENDING_STATUSES))
            .values(status=DeliveryStatus.SUPPRESSED, reason="opted_out", decided_at=now)
            .execution_options(synchronize_session=False)
        ).rowcount
        last = session.scalars(
            select(Delivery)
            .where(*pending_sms, Delivery.status == DeliveryStatus.SENT, Delivery.sent_at >= now - ATTRIBUTION_WINDOW,
                   Delivery.sent_at <= now)
            .order_by(Delivery.sent_at.desc())
            .limit(1)
        ).first()
        if last is not None and last.opted_out_at is None:
            last.opted_out_at = now
        session.add(
            AuditEvent(
                at=now,
                actor="customer",
                action="marketing_opt_out",
                customer_id=customer_id,
                detail={"source": source[:32], "channel": SMS_CHANNEL, "suppressed": int(suppressed or 0)},
            )
        )
    session.flush()
    return customer_ids
