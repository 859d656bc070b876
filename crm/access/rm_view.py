"""What an RM sees of the customer behind a conversation they may see: masked profile and holdings.

Callers check visibility first (``crm.access.visibility.visible``). Names, phones, account and
contract numbers come masked (core.masking); amounts are given because the RM serves this customer.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.masking import mask_card, mask_name, mask_phone
from crm.access.identity import customer_of
from crm.access.tiers import aum
from crm.models import Account, Campaign, Conversation, Delivery, Loan, RelationshipManager, TermDeposit, Ticket
from crm.models.service import TicketStatus
from crm.segments import memberships, tier_of

OPEN_TICKETS_SHOWN = 10
CARE_MESSAGES_SHOWN = 5


@dataclass(frozen=True)
class AccountLine:
    masked_no: str
    kind: str
    balance: Decimal
    status: str


@dataclass(frozen=True)
class LoanLine:
    masked_no: str
    outstanding: Decimal
    status: str
    end_on: dt.date


@dataclass(frozen=True)
class TicketLine:
    ref: str
    kind: str
    status: str
    created_at: dt.datetime


@dataclass(frozen=True)
class CareMessageLine:
    campaign: str | None  # None: a care message outside any campaign
    channel: str
    status: str
    not_before: dt.datetime


@dataclass(frozen=True)
class CustomerSummary:
    masked_name: str
    masked_phone: str
    kind: str
    occupation: str
    town: str
    rm_name: str | None
    aum: Decimal
    tier: str
    segments: dict[str, str]
    accounts: list[AccountLine]
    deposit_count: int
    deposit_total: Decimal
    loans: list[LoanLine]  # not yet closed
    open_tickets: list[TicketLine]  # still open or being processed, newest first
    care_messages: list[CareMessageLine]  # newest first


def customer_label(session: Session, conv: Conversation) -> str | None:
    """The verified customer's masked name (None for visitors and unverified bindings)."""
    customer = customer_of(session, conv)
    return mask_name(customer.name) if customer is not None else None


def customer_summary(session: Session, conv: Conversation) -> CustomerSummary | None:
    """Profile, holdings, tier, open tickets and recent care messages of the conversation's customer."""
    customer = customer_of(session, conv)
    if customer is None:
        return None
    accounts = session.scalars(select(Account).where(Account.customer_id == customer.id))
    deposits = list(
        session.scalars(
            select(TermDeposit.amount).where(TermDeposit.customer_id == customer.id, TermDeposit.status == "active")
        )
    )
    loans = session.scalars(select(Loan).where(Loan.customer_id == customer.id, Loan.status != "closed"))
    tickets = session.scalars(
        select(Ticket)
        .where(Ticket.customer_id == customer.id, Ticket.status.in_((TicketStatus.OPEN, TicketStatus.PROCESSING)))
        .order_by(Ticket.id.desc())
        .limit(OPEN_TICKETS_SHOWN)
    )
    care = session.execute(
        select(Delivery, Campaign.name)
        .outerjoin(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.customer_id == customer.id)
        .order_by(Delivery.id.desc())
        .limit(CARE_MESSAGES_SHOWN)
    )
    rm = session.get(RelationshipManager, customer.rm_id) if customer.rm_id else None
    total = aum(session, customer.id)
    return CustomerSummary(
        masked_name=mask_name(customer.name),
        masked_phone=mask_phone(customer.phone),
        kind=customer.kind,
        occupation=customer.occupation,
        town=customer.town,
        rm_name=rm.name if rm else None,
        aum=total,
        tier=tier_of(total),
        segments=memberships(session, customer.id),
        accounts=[AccountLine(mask_card(a.account_no), a.kind, a.balance, a.status) for a in accounts],
        deposit_count=len(deposits),
        deposit_total=sum(deposits, Decimal(0)),
        loans=[LoanLine(mask_card(ln.contract_no), ln.outstanding, ln.status, ln.end_on) for ln in loans],
        open_tickets=[TicketLine(t.ref, t.kind, t.status, t.created_at) for t in tickets],
        care_messages=[CareMessageLine(name, d.channel, d.status, d.not_before) for d, name in care],
    )
