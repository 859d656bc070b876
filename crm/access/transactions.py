"""Account statements (流水) for a verified customer: paged lines and income/expense totals."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import case, func, select
from sqlalchemy.orm import Session

from core.masking import mask_card, mask_name
from crm.access.identity import VerifiedCustomer
from crm.models import Account, AuditEvent, Card, Transaction
from crm.timeparse import SHANGHAI, DateRange

PAGE_SIZE = 10


@dataclass(frozen=True)
class TxLine:
    """One statement line, safe to show in chat (counterparty masked, account as 尾号)."""

    booked_at: dt.datetime  # Asia/Shanghai
    account: str
    amount: Decimal
    summary: str
    channel: str
    counterparty: str | None


@dataclass(frozen=True)
class TxPage:
    lines: list[TxLine]
    total: int
    income: Decimal
    expense: Decimal
    page: int
    page_size: int

    @property
    def has_more(self) -> bool:
        return (self.page + 1) * self.page_size < self.total


def _account_ids(session: Session, who: VerifiedCustomer, card_tail: str | None) -> list[int]:
    stmt = select(Account.id).where(Account.customer_id == who.customer_id)
    ids = list(session.scalars(stmt.order_by(Account.id)))
    if card_tail and len(card_tail) == 4 and card_tail.isdigit():
        by_card = set(
            session.scalars(
                select(Card.account_id).where(
                    Card.customer_id == who.customer_id, Card.card_no.endswith(card_tail)
                )
            )
        )
        by_account = set(
            session.scalars(
                select(Account.id).where(
                    Account.customer_id == who.customer_id, Account.account_no.endswith(card_tail)
                )
            )
        )
        chosen = [i for i in ids if i in by_card | by_account]
        if chosen:
            return chosen
    return ids


def transactions(
    session: Session,
    who: VerifiedCustomer,
    period: DateRange,
    page: int = 0,
    card_tail: str | None = None,
    page_size: int = PAGE_SIZE,
) -> TxPage:
    """The verified customer's transactions in ``period`` (newest first), one page at a time.

    Totals cover the whole period, not just the page. An unknown ``card_tail`` falls back to
    all the customer's accounts rather than revealing which tails exist.
    """
    account_ids = _account_ids(session, who, card_tail)
    lo, hi = period.utc_bounds()
    where = (Transaction.account_id.in_(account_ids), Transaction.booked_at >= lo, Transaction.booked_at < hi)
    total, income, expense = session.execute(
        select(
            func.count(Transaction.id),
            func.coalesce(func.sum(case((Transaction.amount > 0, Transaction.amount), else_=0)), 0),
            func.coalesce(func.sum(case((Transaction.amount < 0, -Transaction.amount), else_=0)), 0),
        ).where(*where)
    ).one()
    rows = session.execute(
        select(Transaction, Account.account_no)
        .join(Account, Account.id == Transaction.account_id)
        .where(*where)
        .order_by(Transaction.booked_at.desc(), Transaction.id.desc())
        .offset(max(page, 0) * page_size)
        .limit(page_size)
    ).all()
    lines = [
        TxLine(
            booked_at=tx.booked_at.astimezone(SHANGHAI),
            account=mask_card(account_no),
            amount=Decimal(tx.amount),
            summary=tx.summary,
            channel=tx.channel,
            counterparty=mask_name(tx.counterparty) if tx.counterparty else None,
        )
        for tx, account_no in rows
    ]
    session.add(
        AuditEvent(
            actor="bot",
            action="transactions_viewed",
            customer_id=who.customer_id,
            detail={"from": period.start.isoformat(), "to": period.end.isoformat(), "page": page},
        )
    )
    return TxPage(
        lines,
        int(total),
        Decimal(income).quantize(Decimal("0.01")),
        Decimal(expense).quantize(Decimal("0.01")),
        max(page, 0),
        page_size,
    )
