"""Rules that protect the customer: quiet hours, frequency caps and reachable channels.

Consent lives in :mod:`crm.care_access` (the chat side needs it too). Service reminders are not
marketing: they skip consent and caps but still respect quiet hours, because nobody wants a
repayment reminder at 23:00 either. Quiet hours defer a message, they never drop it.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Select, case, func, select, true
from sqlalchemy.orm import Session, aliased

from crm.models import ChannelIdentity, Delivery
from crm.models.care import DeliveryStatus

TZ = ZoneInfo("Asia/Shanghai")
# Channel preference when a customer is reachable on several.
CHANNEL_PREFERENCE = ("wechat", "web")


@dataclass(frozen=True)
class Policy:
    """Configurable limits. Defaults: quiet 21:00–08:00, ≤ 1 marketing a day and ≤ 2 in 7 days."""

    quiet_start: dt.time = dt.time(21, 0)
    quiet_end: dt.time = dt.time(8, 0)
    max_marketing_per_day: int = 1
    max_marketing_per_week: int = 2
    tz: ZoneInfo = TZ


def in_quiet_hours(at: dt.datetime, policy: Policy = Policy()) -> bool:
    """True when ``at`` (aware) falls in the quiet window, local time."""
    local = at.astimezone(policy.tz).time()
    if policy.quiet_start > policy.quiet_end:  # window wraps midnight (the usual case)
        return local >= policy.quiet_start or local < policy.quiet_end
    return policy.quiet_start <= local < policy.quiet_end


def next_allowed(at: dt.datetime, policy: Policy = Policy()) -> dt.datetime:
    """``at`` itself when allowed, else the end of this quiet window (08:00 local), in UTC."""
    if not in_quiet_hours(at, policy):
        return at.astimezone(dt.UTC)
    local = at.astimezone(policy.tz)
    end = dt.datetime.combine(local.date(), policy.quiet_end, tzinfo=policy.tz)
    if end <= local:
        end += dt.timedelta(days=1)
    return end.astimezone(dt.UTC)


def local_datetime(day: dt.date, at: dt.time, policy: Policy = Policy()) -> dt.datetime:
    """``day`` at local wall-clock ``at`` as an aware UTC datetime."""
    return dt.datetime.combine(day, at, tzinfo=policy.tz).astimezone(dt.UTC)


@dataclass
class CapCounter:
    """Marketing already planned or sent per customer and local day, for the cap window."""

    by_day: dict[int, dict[dt.date, int]]

    def count(self, customer_id: int, day: dt.date, days: int) -> int:
        per = self.by_day.get(customer_id, {})
        return sum(n for d, n in per.items() if day - dt.timedelta(days=days - 1) <= d <= day)

    def check(self, customer_id: int, day: dt.date, policy: Policy) -> str | None:
        """The reason a new marketing message would break a cap, or None."""
        if self.count(customer_id, day, 1) >= policy.max_marketing_per_day:
            return "frequency_cap_day"
        if self.count(customer_id, day, 7) >= policy.max_marketing_per_week:
            return "frequency_cap_week"
        return None

    def add(self, customer_id: int, day: dt.date) -> None:
        per = self.by_day.setdefault(customer_id, {})
        per[day] = per.get(day, 0) + 1


def load_caps(session: Session, customer_ids: Iterable[int], day: dt.date) -> CapCounter:
    """Marketing deliveries that count against caps (anything not suppressed) around ``day``.

    The window covers six days either side: a message planned for a later day also limits
    what may be planned for today, whichever order the planner ran in.
    """
    ids = list(customer_ids)
    counter = CapCounter(defaultdict(dict))
    if not ids:
        return counter
    rows = session.execute(
        select(Delivery.customer_id, Delivery.local_day, func.count())
        .where(
            Delivery.customer_id.in_(ids),
            Delivery.is_marketing.is_(True),
            Delivery.status.not_in(NOT_COUNTED),
            Delivery.local_day >= day - dt.timedelta(days=6),
            Delivery.local_day <= day + dt.timedelta(days=6),
        )
        .group_by(Delivery.customer_id, Delivery.local_day)
    )
    for customer_id, local_day, n in rows:
        if local_day is not None:  # the filter above excludes NULL days; this tells the type checker
            counter.by_day[customer_id][local_day] = int(n)
    return counter


# Deliveries that do not count against caps: never sent and never going to be.
NOT_COUNTED = (DeliveryStatus.SUPPRESSED, DeliveryStatus.DEAD)


def cap_counts_sql(
    customer_id: ColumnElement[int], day: dt.date
) -> tuple[ColumnElement[int], ColumnElement[int]]:
    """Marketing already counted for ``day`` and for the 7 days ending ``day``, per customer, as SQL.

    The set-based twin of :func:`load_caps` + :meth:`CapCounter.count` (windows of 1 and 7 days),
    correlated to the planner's candidate query so each customer costs two index probes on
    ``ix_deliveries_customer_day`` instead of a separate round trip per batch.
    """

    def counted(first: dt.date) -> ColumnElement[int]:
        return (
            select(func.count())
            .select_from(Delivery)
            .where(
                Delivery.customer_id == customer_id,
                Delivery.local_day >= first,
                Delivery.local_day <= day,
                Delivery.is_marketing.is_(True),
                Delivery.status.not_in(NOT_COUNTED),
            )
            .scalar_subquery()
        )

    return counted(day), counted(day - dt.timedelta(days=6))


def cap_reason(on_day: int, in_week: int, policy: Policy) -> str | None:
    """The reason one more marketing message would break a cap (same order as CapCounter.check)."""
    if on_day >= policy.max_marketing_per_day:
        return "frequency_cap_day"
    if in_week >= policy.max_marketing_per_week:
        return "frequency_cap_week"
    return None


def _reach_order() -> tuple[ColumnElement[int], Any]:
    rank = case(
        {channel: i for i, channel in enumerate(CHANNEL_PREFERENCE)},
        value=ChannelIdentity.channel,
        else_=99,
    )
    return rank, ChannelIdentity.id


def reach_join(stmt: Select[Any], customer_id: ColumnElement[int], dialect: str) -> tuple[Select[Any], Any]:
    """Left-join the identity :func:`reachable` picks (preferred channel, then lowest id).

    Returns the statement and a selectable with ``id`` and ``channel`` (NULL = unreachable). On
    PostgreSQL a LATERAL subquery, so the pick runs only for rows the keyset page really reads;
    SQLite has no LATERAL and joins on a correlated subquery instead (its joins are nested loops).
    """
    best = (
        select(ChannelIdentity.id, ChannelIdentity.channel)
        .where(ChannelIdentity.customer_id == customer_id, ChannelIdentity.subscribed.is_(True))
        .order_by(*_reach_order())
        .limit(1)
    )
    if dialect == "postgresql":
        reach = best.lateral("reach")
        return stmt.outerjoin(reach, true()), reach.c
    ident = aliased(ChannelIdentity, name="reach")
    best_id = best.with_only_columns(ChannelIdentity.id).scalar_subquery()
    return stmt.outerjoin(ident, ident.id == best_id), ident


@dataclass(frozen=True)
class Reach:
    identity_id: int
    channel: str


def reachable(session: Session, customer_ids: Iterable[int]) -> dict[int, Reach]:
    """The best subscribed channel identity per customer (WeChat first, then web chat)."""
    ids = list(customer_ids)
    out: dict[int, Reach] = {}
    if not ids:
        return out
    rows = session.execute(
        select(ChannelIdentity.customer_id, ChannelIdentity.id, ChannelIdentity.channel)
        .where(ChannelIdentity.customer_id.in_(ids), ChannelIdentity.subscribed.is_(True))
        .order_by(ChannelIdentity.id)
    )
    rank = {c: i for i, c in enumerate(CHANNEL_PREFERENCE)}
    for customer_id, identity_id, channel in rows:
        if customer_id is None:  # excluded by the IN filter; this tells the type checker
            continue
        current = out.get(customer_id)
        if current is None or rank.get(channel, 99) < rank.get(current.channel, 99):
            out[customer_id] = Reach(identity_id, channel)
    return out
