"""A customer's value tier for routing and the console: assets under management (AUM) against thresholds."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.models import Account, TermDeposit

VIP_TIERS = ("贵宾", "私行")
VIP_AUM = Decimal("500000")
PRIVATE_AUM = Decimal("6000000")


def aum(session: Session, customer_id: int) -> Decimal:
    """Assets under management: current balances plus active term deposits."""
    balances = session.scalar(
        select(func.coalesce(func.sum(Account.balance), 0)).where(Account.customer_id == customer_id)
    )
    deposits = session.scalar(
        select(func.coalesce(func.sum(TermDeposit.amount), 0)).where(
            TermDeposit.customer_id == customer_id, TermDeposit.status == "active"
        )
    )
    return Decimal(str(balances or 0)) + Decimal(str(deposits or 0))


def tier_for(amount: Decimal) -> str:
    if amount >= PRIVATE_AUM:
        return "私行"
    if amount >= VIP_AUM:
        return "贵宾"
    return "潜力" if amount >= Decimal("50000") else "普通"
