"""Customer features and rule segments, and versioned storage of segment memberships.

Rule segments are the ones staff can explain to a customer: value tier by assets under
management (AUM = demand balances + active term deposits), customer kind, lifecycle, occupation
and farming season. Model-based segments (RFM, clusters, churn risk) are computed by
``care.analytics`` on the same features and stored here under the same version.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import and_, case, func, insert, select
from sqlalchemy.orm import Session

from crm.models import Account, Card, Customer, Loan, Product, TermDeposit, Transaction
from crm.models.base import utcnow
from crm.models.segments import SegmentMembership, SegmentVersion

# Tiers whose customers are routed to their own RM first and jump the RM queue.
VIP_TIERS = ("贵宾", "私行")
FARMING_OCCUPATIONS = frozenset({"种植户", "养殖户", "农户", "家庭农场主"})


@dataclass(frozen=True)
class Thresholds:
    """AUM (yuan) at which a customer enters each tier; lifecycle windows in days."""

    potential: Decimal = Decimal("50000")
    vip: Decimal = Decimal("500000")
    private: Decimal = Decimal("6000000")  # the industry's usual private-banking line
    new_days: int = 90
    dormant_days: int = 180


@dataclass
class Features:
    as_of: dt.date
    customer_id: int
    kind: str
    occupation: str
    age: int
    tenure_days: int
    aum: float
    txn_90d: int  # transactions in the last 90 days
    txn_prev_90d: int  # transactions in the 90 days before that
    txn_365d: int
    volume_365d: float  # sum of |amount| over the year
    last_txn: dt.date | None
    products: frozenset[str]

    @property
    def recency_days(self) -> int:
        """Days since the last transaction (since account opening when there was none)."""
        if self.last_txn is None:
            return self.tenure_days
        return max(0, (self.as_of - self.last_txn).days)


DEFAULT_THRESHOLDS = Thresholds()


def tier_of(aum: float | Decimal, t: Thresholds = DEFAULT_THRESHOLDS) -> str:
    """The value tier (普通 / 潜力 / 贵宾 / 私行) for assets under management in yuan.

    The only definition of the tiers: segment builds pass their configured thresholds, the RM
    handoff and the console use the defaults.
    """
    amount = float(aum)
    if amount >= float(t.private):
        return "私行"
    if amount >= float(t.vip):
        return "贵宾"
    if amount >= float(t.potential):
        return "潜力"
    return "普通"


def lifecycle_of(f: Features, t: Thresholds, churn_score: float | None = None) -> str:
    """new → active → churn_risk → dormant, in that order of precedence (new customers are never dormant)."""
    if f.tenure_days <= t.new_days:
        return "new"
    if f.last_txn is None or f.recency_days > t.dormant_days:
        return "dormant"
    dropped = f.txn_prev_90d >= 4 and f.txn_90d <= f.txn_prev_90d // 3
    if dropped or (churn_score is not None and churn_score >= 0.6):
        return "churn_risk"
    return "active"


def farming_season(occupation: str, as_of: dt.date) -> str:
    """Season that matters for farmers' credit and cash needs; others get ``不适用``."""
    if occupation not in FARMING_OCCUPATIONS:
        return "不适用"
    if as_of.month in (2, 3, 4, 5):
        return "春耕备耕"
    if as_of.month in (6, 7, 8):
        return "夏管"
    if as_of.month in (9, 10, 11):
        return "秋收"
    return "冬闲"


def iter_features(session: Session, as_of: dt.date, batch: int = 20000) -> Iterator[list[Features]]:
    """Features for every customer as of ``as_of``, in batches of customer ids."""
    end = dt.datetime.combine(as_of + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    d90, d180, d365 = (end - dt.timedelta(days=n) for n in (90, 180, 365))
    last = 0
    while True:
        custs = session.execute(
            select(Customer.id, Customer.kind, Customer.occupation, Customer.birthday, Customer.opened_on)
            .where(Customer.id > last)
            .order_by(Customer.id)
            .limit(batch)
        ).all()
        if not custs:
            return
        lo, hi = custs[0].id, custs[-1].id
        last = hi
        in_range = and_(Account.customer_id >= lo, Account.customer_id <= hi)
        balances = dict(
            session.execute(
                select(Account.customer_id, func.sum(Account.balance))
                .where(in_range)
                .group_by(Account.customer_id)
            ).all()
        )
        deposits = dict(
            session.execute(
                select(TermDeposit.customer_id, func.sum(TermDeposit.amount))
                .where(TermDeposit.customer_id.between(lo, hi), TermDeposit.status == "active")
                .group_by(TermDeposit.customer_id)
            ).all()
        )
        txn = {
            r[0]: r[1:]
            for r in session.execute(
                select(
                    Account.customer_id,
                    func.sum(case((Transaction.booked_at >= d90, 1), else_=0)),
                    func.sum(
                        case((and_(Transaction.booked_at >= d180, Transaction.booked_at < d90), 1), else_=0)
                    ),
                    func.count(),
                    func.sum(func.abs(Transaction.amount)),
                    func.max(Transaction.booked_at),
                )
                .join(Transaction, Transaction.account_id == Account.id)
                .where(in_range, Transaction.booked_at >= d365, Transaction.booked_at < end)
                .group_by(Account.customer_id)
            )
        }
        products: dict[int, set[str]] = {}
        for cid, code in session.execute(
            select(TermDeposit.customer_id, Product.code)
            .join(Product, Product.id == TermDeposit.product_id)
            .where(TermDeposit.customer_id.between(lo, hi))
        ):
            products.setdefault(cid, set()).add(code)
        for cid, code in session.execute(
            select(Loan.customer_id, Product.code)
            .join(Product, Product.id == Loan.product_id)
            .where(Loan.customer_id.between(lo, hi))
        ):
            products.setdefault(cid, set()).add(code)
        for cid, kind in session.execute(
            select(Card.customer_id, Card.kind).where(Card.customer_id.between(lo, hi))
        ):
            products.setdefault(cid, set()).add(kind)
        out = []
        for c in custs:
            t = txn.get(c.id, (0, 0, 0, 0, None))
            last_at = t[4]
            if isinstance(last_at, str):  # SQLite returns max() of a datetime column as text
                last_at = dt.datetime.fromisoformat(last_at)
            out.append(
                Features(
                    as_of=as_of,
                    customer_id=c.id,
                    kind=c.kind,
                    occupation=c.occupation,
                    age=as_of.year
                    - c.birthday.year
                    - ((as_of.month, as_of.day) < (c.birthday.month, c.birthday.day)),
                    tenure_days=(as_of - c.opened_on).days,
                    aum=float(balances.get(c.id) or 0) + float(deposits.get(c.id) or 0),
                    txn_90d=int(t[0] or 0),
                    txn_prev_90d=int(t[1] or 0),
                    txn_365d=int(t[2] or 0),
                    volume_365d=float(t[3] or 0),
                    last_txn=last_at.date() if last_at else None,
                    products=frozenset(products.get(c.id, ())),
                )
            )
        yield out


def new_version(session: Session, as_of: dt.date, params: dict[str, Any]) -> SegmentVersion:
    latest = session.scalar(select(func.max(SegmentVersion.version))) or 0
    version = SegmentVersion(version=latest + 1, built_at=utcnow(), as_of=as_of, params=params, metrics={})
    session.add(version)
    session.flush()
    return version


def write_memberships(
    session: Session, version: int, rows: Iterable[tuple[int, str, str, float | None]]
) -> int:
    """Bulk-insert (customer_id, dimension, value, score) rows for ``version``."""
    payload = [
        {"version": version, "customer_id": c, "dimension": d, "value": v, "score": s} for c, d, v, s in rows
    ]
    if payload:
        session.connection().execute(insert(SegmentMembership), payload)
    return len(payload)


def memberships(session: Session, customer_id: int, version: int | None = None) -> dict[str, str]:
    """A customer's segments in ``version`` (default: the latest), dimension → value."""
    version = version or session.scalar(select(func.max(SegmentVersion.version)))
    if version is None:
        return {}
    return dict(
        session.execute(
            select(SegmentMembership.dimension, SegmentMembership.value).where(
                SegmentMembership.version == version, SegmentMembership.customer_id == customer_id
            )
        ).all()
    )
