"""Loans, term deposits and points of a verified customer."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.masking import mask_card
from crm.access.identity import VerifiedCustomer
from crm.errors import NotFound
from crm.models import AuditEvent, Customer, Loan, LoanInstallment, Product, TermDeposit

CENT = Decimal("0.01")


@dataclass(frozen=True)
class LoanSummary:
    product: str
    contract: str  # masked: 尾号1234
    principal: Decimal
    outstanding: Decimal
    rate: Decimal
    status: str
    next_due_on: dt.date | None
    next_due_amount: Decimal | None
    remaining_terms: int
    end_on: dt.date


@dataclass(frozen=True)
class DepositSummary:
    product: str
    certificate: str  # masked
    amount: Decimal
    rate: Decimal
    start_on: dt.date
    maturity_on: dt.date
    expected_interest: Decimal
    auto_renew: bool
    term_months: int | None


def loans(session: Session, who: VerifiedCustomer) -> list[LoanSummary]:
    """Open loans with the next unpaid instalment and how many instalments remain."""
    rows = session.execute(
        select(Loan, Product.name)
        .join(Product, Product.id == Loan.product_id)
        .where(Loan.customer_id == who.customer_id, Loan.status != "closed")
        .order_by(Loan.id)
    ).all()
    out: list[LoanSummary] = []
    for loan, product_name in rows:
        unpaid = session.scalars(
            select(LoanInstallment)
            .where(LoanInstallment.loan_id == loan.id, LoanInstallment.paid_on.is_(None))
            .order_by(LoanInstallment.seq)
        ).all()
        nxt = unpaid[0] if unpaid else None
        out.append(
            LoanSummary(
                product=product_name,
                contract=mask_card(loan.contract_no),
                principal=loan.principal,
                outstanding=loan.outstanding,
                rate=loan.rate,
                status=loan.status,
                next_due_on=nxt.due_on if nxt else None,
                next_due_amount=(nxt.principal + nxt.interest).quantize(CENT) if nxt else None,
                remaining_terms=len(unpaid),
                end_on=loan.end_on,
            )
        )
    session.add(
        AuditEvent(
            actor="bot", action="loans_viewed", customer_id=who.customer_id, detail={"loans": len(out)}
        )
    )
    return out


def expected_interest(
    amount: Decimal, rate: Decimal, start_on: dt.date, maturity_on: dt.date, term_months: int | None
) -> Decimal:
    """Interest at maturity for a fixed deposit: principal × annual rate × term.

    Whole-month terms count as months/12 years (how banks quote 整存整取); other terms by days/360,
    the deposit day-count convention of the PBoC rules.
    """
    if term_months:
        years = Decimal(term_months) / 12
    else:
        years = Decimal((maturity_on - start_on).days) / 360
    return (amount * rate * years).quantize(CENT)


def term_deposits(session: Session, who: VerifiedCustomer) -> list[DepositSummary]:
    """Active term deposits, soonest maturity first."""
    rows = session.execute(
        select(TermDeposit, Product.name, Product.term_months)
        .join(Product, Product.id == TermDeposit.product_id)
        .where(TermDeposit.customer_id == who.customer_id, TermDeposit.status == "active")
        .order_by(TermDeposit.maturity_on)
    ).all()
    session.add(
        AuditEvent(
            actor="bot", action="deposits_viewed", customer_id=who.customer_id, detail={"deposits": len(rows)}
        )
    )
    return [
        DepositSummary(
            product=name,
            certificate=mask_card(d.certificate_no),
            amount=d.amount,
            rate=d.rate,
            start_on=d.start_on,
            maturity_on=d.maturity_on,
            expected_interest=expected_interest(d.amount, d.rate, d.start_on, d.maturity_on, months),
            auto_renew=d.auto_renew,
            term_months=months,
        )
        for d, name, months in rows
    ]


def points(session: Session, who: VerifiedCustomer) -> int:
    value = session.scalar(select(Customer.points).where(Customer.id == who.customer_id))
    if value is None:
        raise NotFound("customer")
    return int(value)
