"""What an RM sees of a customer comes masked, and only for a verified binding."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from crm.access.rm_view import customer_label, customer_summary
from crm.access.tiers import aum
from crm.models import Account, ChannelIdentity, Conversation, Customer, Loan, Ticket
from crm.models.conversations import ConversationState
from crm.models.service import TicketStatus
from crm.segments import tier_of

NOW = dt.datetime(2027, 2, 6, 2, 0, tzinfo=dt.UTC)


def _conversation(session: Session, customer_id: int | None, external_id: str, verified: bool) -> Conversation:
    identity = ChannelIdentity(channel="web", external_id=external_id, customer_id=customer_id,
                               verified_at=NOW if verified else None,
                               verified_until=dt.datetime(9999, 1, 1, tzinfo=dt.UTC) if verified else None)
    session.add(identity)
    session.flush()
    conv = Conversation(identity_id=identity.id, sender_id=f"web:{external_id}", state=ConversationState.AGENT)
    session.add(conv)
    session.flush()
    return conv


def test_summary_is_masked_and_counts_only_open_tickets(demo_engine: Engine) -> None:
    with Session(demo_engine) as session:
        customer_id = session.scalar(
            select(Loan.customer_id).join(Account, Account.customer_id == Loan.customer_id).limit(1)
        )
        customer = session.get_one(Customer, customer_id)
        for n, status in enumerate((TicketStatus.OPEN, TicketStatus.PROCESSING, TicketStatus.RESOLVED)):
            session.add(Ticket(ref=f"T-RMVIEW-{n}", customer_id=customer.id, kind="complaint", content="…",
                               status=status, idempotency_key=f"rm-view-test:{n}"))
        conv = _conversation(session, customer.id, "rm-view-verified", verified=True)

        summary = customer_summary(session, conv)
        assert summary is not None
        shown = repr(summary)
        assert customer.name not in shown and customer.phone not in shown
        for a in session.scalars(select(Account).where(Account.customer_id == customer.id)):
            assert a.account_no not in shown
        for ln in session.scalars(select(Loan).where(Loan.customer_id == customer.id)):
            assert ln.contract_no not in shown
        assert summary.masked_phone.count("*") == 4
        assert all(a.masked_no.startswith("尾号") for a in summary.accounts) and summary.accounts
        assert summary.tier == tier_of(aum(session, customer.id))
        open_refs = {t.ref for t in summary.open_tickets if t.ref.startswith("T-RMVIEW-")}
        assert open_refs == {"T-RMVIEW-0", "T-RMVIEW-1"}
        assert customer_label(session, conv) == summary.masked_name
        session.rollback()


def test_nothing_for_an_unverified_binding(demo_engine: Engine) -> None:
    with Session(demo_engine) as session:
        customer_id = session.scalar(select(func.min(Customer.id)))
        conv = _conversation(session, customer_id, "rm-view-unverified", verified=False)
        assert customer_summary(session, conv) is None
        assert customer_label(session, conv) is None
        session.rollback()
