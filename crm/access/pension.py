"""The last pension credit of a verified customer (养老金到账了没, #20)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm.access.identity import VerifiedCustomer
from crm.models import Account, Transaction

PENSION_SUMMARIES = ("养老金", "退休金", "养老保险")


@dataclass(frozen=True)
class PensionCredit:
    amount: Decimal
    booked_at: dt.datetime
    account_no: str


def last_pension_credit(session: Session, who: VerifiedCustomer) -> PensionCredit | None:
    """The newest incoming transaction whose summary says it is a pension, on any of the customer's accounts."""
    row = session.execute(
        select(Transaction.amount, Transaction.booked_at, Account.account_no)
        .join(Account, Account.id == Transaction.account_id)
        .where(
            Account.customer_id == who.customer_id,
            Transaction.amount > 0,
            or_(*(Transaction.summary.contains(word) for word in PENSION_SUMMARIES)),
        )
        .order_by(Transaction.booked_at.desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    return PensionCredit(Decimal(row[0]), row[1], row[2])
