"""Marketing consent from the chat: unsubscribe (退订), subscribe again, and whether we may suggest."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from crm.access.identity import VerifiedCustomer
from crm.care_access import marketing_allowed
from crm.care_access import opt_out as _care_opt_out
from crm.models import AuditEvent, MarketingConsent, utcnow


def opt_out(session: Session, who: VerifiedCustomer, source: str = "微信退订") -> None:
    """Withdraw all marketing consent (and stop anything queued) through the care module."""
    _care_opt_out(session, who.customer_id, source=source)


def opt_in(
    session: Session, who: VerifiedCustomer, source: str = "微信订阅", now: dt.datetime | None = None
) -> None:
    """Grant marketing consent again for every channel (the customer asked explicitly)."""
    now = now or utcnow()
    session.execute(
        update(MarketingConsent)
        .where(MarketingConsent.customer_id == who.customer_id)
        .values(granted=True, source=source[:32], updated_at=now)
    )
    exists = session.scalar(
        select(MarketingConsent.id).where(
            MarketingConsent.customer_id == who.customer_id, MarketingConsent.channel == "all"
        )
    )
    if exists is None:
        session.add(
            MarketingConsent(
                customer_id=who.customer_id, channel="all", granted=True, source=source[:32], updated_at=now
            )
        )
    session.add(
        AuditEvent(
            at=now,
            actor="customer",
            action="marketing_opt_in",
            customer_id=who.customer_id,
            detail={"source": source[:32]},
        )
    )
    session.flush()


def may_suggest(session: Session, who: VerifiedCustomer) -> bool:
    """Product suggestions only for customers who consented on this channel (or for all)."""
    return marketing_allowed(session, [who.customer_id], who.channel).get(who.customer_id, False)
