"""Balances and account summaries for a verified customer."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.masking import mask_card
from crm.access.identity import VerifiedCustomer
from crm.errors import NotFound
from crm.models import Account, AuditEvent, Customer


@dataclass(frozen=True)
class AccountBalance:
    masked_no: str
    kind: str
    balance: Decimal
    status: str


@dataclass(frozen=True)
class CustomerGreeting:
    """What the bot may use to address a verified customer (surname + title, never the full name)."""

    salutation: str
    kind: str


def salutation(name: str, gender: str) -> str:
    surname = name[:2] if name[:2] in COMPOUND_SURNAMES else name[:1]
    return surname + ("先生" if gender == "M" else "女士")


COMPOUND_SURNAMES = frozenset({"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "尉迟", "公孙", "慕容", "令狐"})


def customer_greeting(session: Session, who: VerifiedCustomer) -> CustomerGreeting:
    customer = session.get(Customer, who.customer_id)
    if customer is None:
        raise NotFound("customer")
    return CustomerGreeting(salutation=salutation(customer.name, customer.gender), kind=customer.kind)


def balances(session: Session, who: VerifiedCustomer) -> list[AccountBalance]:
    """Every open account of the verified customer with its balance; the numbers come masked."""
    rows = session.scalars(
        select(Account).where(Account.customer_id == who.customer_id).order_by(Account.id)
    ).all()
    session.add(
        AuditEvent(actor="bot", action="balance_viewed", customer_id=who.customer_id, detail={"accounts": len(rows)})
    )
    return [AccountBalance(mask_card(a.account_no), a.kind, a.balance, a.status) for a in rows]
