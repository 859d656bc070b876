"""Access functions for care messaging: marketing consent, opt-out and reply attribution.

Every write of a ``MarketingConsent`` row happens here (opt-out, opt-in, one channel refused).

The chat side calls :func:`opt_out` when a customer sends ``unsubscribe`` / 退订 / TD; it takes
effect in the same transaction: consent rows are revoked and every marketing message still
waiting in the outbox for that customer is suppressed, so nothing queued slips out afterwards.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy import ColumnElement, case, func, literal, select, update
from sqlalchemy.orm import Session

from crm.models import AuditEvent, Delivery, MarketingConsent
from crm.models.base import utcnow
from crm.models.care import DeliveryStatus

# Statuses of outbox rows that have not gone out yet (and so can still be stopped).
PENDING_STATUSES = ("planned", "deferred", "failed")
# A reply or opt-out within this window after a message is credited to that message.
ATTRIBUTION_WINDOW = dt.timedelta(days=3)


def marketing_allowed(session: Session, customer_ids: Iterable[int], channel: str) -> dict[int, bool]:
    """Whether each customer may receive marketing on ``channel``.

    A refusal for the channel or for ``all`` wins over any grant (opt-out must never be undone by
    an older, broader consent); otherwise a grant for the channel or ``all`` allows; no row = no.
    """
    ids = list(customer_ids)
    allowed = dict.fromkeys(ids, False)
    refused: set[int] = set()
    if not ids:
        return allowed
    rows = session.execute(
        select(MarketingConsent.customer_id, MarketingConsent.granted).where(
            MarketingConsent.customer_id.in_(ids), MarketingConsent.channel.in_((channel, "all"))
        )
    )
    for customer_id, granted in rows:
        if granted:
            allowed[customer_id] = True
        else:
            refused.add(customer_id)
    for customer_id in refused:
        allowed[customer_id] = False
    return allowed


def marketing_allowed_sql(
    customer_id: ColumnElement[int], channel: ColumnElement[str]
) -> ColumnElement[bool]:
    """:func:`marketing_allowed` as a correlated SQL condition, for set-based campaign planning.

    The smallest ``granted`` over the customer's rows for the channel and ``all`` is 1 only when
    there is at least one row and none of them is a refusal: the same rule, refusal wins.
    """
    smallest = (
        select(func.min(case((MarketingConsent.granted.is_(True), 1), else_=0)))
        .where(
            MarketingConsent.customer_id == customer_id,
            MarketingConsent.channel.in_([channel, literal("all")]),
        )
        .scalar_subquery()
    )
    return func.coalesce(smallest, 0) == 1


def opt_out(session: Session, customer_id: int, source: str, *, now: dt.datetime | None = None) -> int:
    """Withdraw all marketing consent for ``customer_id`` at once.

    Args:
        session: the caller's unit of work (committed by the caller).
        customer_id: the bound customer who asked to unsubscribe.
        source: where the request came from, e.g. ``微信退订`` or ``网页退订``.
        now: the time of the request (defaults to now, UTC).

    Returns:
        How many pending marketing deliveries were suppressed.
    """
    now = now or utcnow()
    session.execute(
        update(MarketingConsent)
        .where(MarketingConsent.customer_id == customer_id)
        .values(granted=False, source=source[:32], updated_at=now)
    )
    has_all = session.scalar(
        select(MarketingConsent.id).where(
            MarketingConsent.customer_id == customer_id, MarketingConsent.channel == "all"
        )
    )
    if has_all is None:
        session.add(
            MarketingConsent(
                customer_id=customer_id, channel="all", granted=False, source=source[:32], updated_at=now
            )
        )
    suppressed = session.execute(  # type: ignore[attr-defined]  # an UPDATE's result has rowcount
        update(Delivery)
        .where(
            Delivery.customer_id == customer_id,
            Delivery.is_marketing.is_(True),
            Delivery.status.in_(PENDING_STATUSES),
        )
        .values(status=DeliveryStatus.SUPPRESSED, reason="opted_out", decided_at=now)
        .execution_options(synchronize_session=False)
    ).rowcount
    last = _last_sent(session, customer_id, now, marketing_only=True)
    if last is not None and last.opted_out_at is None:
        last.opted_out_at = now
    session.add(
        AuditEvent(
            at=now,
            actor="customer",
            action="marketing_opt_out",
            customer_id=customer_id,
            detail={"source": source[:32], "suppressed": suppressed},
        )
    )
    session.flush()
    return int(suppressed or 0)


def opt_in(session: Session, customer_id: int, source: str, *, now: dt.datetime | None = None) -> None:
    """Grant marketing consent again for every channel (the customer asked for it explicitly)."""
    now = now or utcnow()
    session.execute(
        update(MarketingConsent)
        .where(MarketingConsent.customer_id == customer_id)
        .values(granted=True, source=source[:32], updated_at=now)
    )
    has_all = session.scalar(
        select(MarketingConsent.id).where(
            MarketingConsent.customer_id == customer_id, MarketingConsent.channel == "all"
        )
    )
    if has_all is None:
        session.add(
            MarketingConsent(customer_id=customer_id, channel="all", granted=True, source=source[:32], updated_at=now)
        )
    session.add(
        AuditEvent(
            at=now,
            actor="customer",
            action="marketing_opt_in",
            customer_id=customer_id,
            detail={"source": source[:32]},
        )
    )
    session.flush()


def refuse_channel(
    session: Session, customer_id: int, channel: str, source: str, *, now: dt.datetime | None = None
) -> None:
    """Record that ``customer_id`` may not receive marketing on ``channel``; other channels keep theirs.

    For a customer leaving one channel (unfollowing the WeChat account) or refusing it by keyword
    (an SMS 退订). A refusal always wins over a grant (:func:`marketing_allowed`).
    """
    now = now or utcnow()
    consent = session.scalar(
        select(MarketingConsent).where(
            MarketingConsent.customer_id == customer_id, MarketingConsent.channel == channel
        )
    )
    if consent is None:
        session.add(
            MarketingConsent(
                customer_id=customer_id, channel=channel, granted=False, source=source[:32], updated_at=now
            )
        )
    else:
        consent.granted, consent.source, consent.updated_at = False, source[:32], now


def record_reply(session: Session, customer_id: int, *, now: dt.datetime | None = None) -> bool:
    """Credit an inbound message to the latest care message sent within the attribution window."""
    now = now or utcnow()
    last = _last_sent(session, customer_id, now, marketing_only=False)
    if last is None or last.replied_at is not None:
        return False
    last.replied_at = now
    session.flush()
    return True


def _last_sent(
    session: Session, customer_id: int, now: dt.datetime, *, marketing_only: bool
) -> Delivery | None:
    stmt = select(Delivery).where(
        Delivery.customer_id == customer_id,
        Delivery.status == DeliveryStatus.SENT,
        Delivery.sent_at >= now - ATTRIBUTION_WINDOW,
        Delivery.sent_at <= now,
    )
    if marketing_only:
        stmt = stmt.where(Delivery.is_marketing.is_(True))
    return session.scalars(stmt.order_by(Delivery.sent_at.desc()).limit(1)).first()
