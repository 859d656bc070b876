"""A customer's assets under management (AUM) and value tier, for RM routing and the console.

The tier rule itself has one home, :func:`crm.segments.tier_of` (configurable thresholds); this
module only reads the customer's holdings it is applied to.
"""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from crm.models import Account, TermDeposit
from crm.segments import tier_of


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


def customer_tier(session: Session, customer_id: int) -> str:
    """The customer's value tier now, by the default thresholds."""
    return tier_of(aum(session, customer_id))
