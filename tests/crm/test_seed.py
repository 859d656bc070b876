"""The demo bank: realistic, consistent and deterministic, on SQLite and PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from core.db import make_engine
from crm.demo import catalogue
from crm.demo.people import id_check_digit
from crm.demo.seed import AlreadySeeded, seed_demo_bank
from crm.migrate import upgrade
from crm.models import (
    Account,
    Branch,
    Card,
    ChannelIdentity,
    Customer,
    Loan,
    LoanInstallment,
    RelationshipManager,
    TermDeposit,
    Transaction,
)
from tests.conftest import AS_OF


def test_counts_and_personas(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        assert s.scalar(select(func.count()).select_from(Customer)) == 120
        assert s.scalar(select(func.count()).select_from(Branch)) == catalogue.BRANCH_COUNT
        assert s.scalar(select(func.count()).select_from(RelationshipManager)) == catalogue.BRANCH_COUNT * 4
        personas = s.scalars(select(Customer).where(Customer.is_demo_persona)).all()
        assert [p.name for p in personas] == [p.name for p in catalogue.PERSONAS]
        kinds = dict(s.execute(select(Customer.kind, func.count()).group_by(Customer.kind)).all())
        assert kinds["个人"] > kinds.get("个体工商户", 0) > 0


def test_balances_match_transaction_history(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        accounts = s.scalars(select(Account)).all()
        assert len(accounts) >= 120
        for acc in accounts[:60]:
            last = s.scalars(
                select(Transaction).where(Transaction.account_id == acc.id)
                .order_by(Transaction.booked_at.desc(), Transaction.id.desc()).limit(1)
            ).first()
            if last is not None:
                assert last.balance_after == acc.balance
            assert acc.balance >= 0
        negatives = s.scalar(select(func.count()).select_from(Transaction).where(Transaction.balance_after < 0))
        assert negatives == 0


def test_farmers_earn_at_harvest(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        rows = s.execute(
            select(Transaction.booked_at, Transaction.amount)
            .join(Account, Account.id == Transaction.account_id)
            .join(Customer, Customer.id == Account.customer_id)
            .where(Customer.occupation == "种植户", Transaction.summary == "粮食收购款")
        ).all()
    assert rows, "farmers should have crop income"
    harvest = sum(1 for at, _ in rows if at.month in (6, 9, 10, 11))
    assert harvest / len(rows) > 0.5


def test_identity_documents_are_valid(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        customers = s.scalars(select(Customer)).all()
    phones = [c.phone for c in customers]
    assert len(set(phones)) == len(phones)
    for c in customers:
        assert len(c.id_number) == 18 and id_check_digit(c.id_number[:17]) == c.id_number[17]
        assert c.id_number[6:14] == c.birthday.strftime("%Y%m%d")
        assert int(c.id_number[16]) % 2 == (1 if c.gender == "M" else 0)
        assert len(c.phone) == 11 and c.phone.startswith("1")


def test_persona_holdings_and_bindings(demo_engine: Engine) -> None:
    zhang = catalogue.PERSONAS[0]
    with Session(demo_engine) as s:
        customer = s.scalars(select(Customer).where(Customer.phone == zhang.phone)).one()
        deposit = s.scalars(select(TermDeposit).where(TermDeposit.customer_id == customer.id)).one()
        assert (deposit.maturity_on - AS_OF).days == zhang.deposit[1]  # type: ignore[index]
        loan = s.scalars(select(Loan).where(Loan.customer_id == customer.id)).one()
        next_due = s.scalar(
            select(func.min(LoanInstallment.due_on)).where(
                LoanInstallment.loan_id == loan.id, LoanInstallment.paid_on.is_(None)
            )
        )
        assert (next_due - AS_OF).days == zhang.loan[2]  # type: ignore[index, operator]
        paid = s.scalar(
            select(func.sum(LoanInstallment.principal)).where(
                LoanInstallment.loan_id == loan.id, LoanInstallment.paid_on.is_not(None)
            )
        )
        assert loan.principal - Decimal(paid) == loan.outstanding
        web = s.scalars(select(ChannelIdentity).where(ChannelIdentity.external_id == zhang.web_id)).one()
        assert web.customer_id == customer.id and web.verified_at is not None
        unbound = catalogue.PERSONAS[-1]
        assert not unbound.bound
        ident = s.scalars(select(ChannelIdentity).where(ChannelIdentity.external_id == unbound.web_id)).one()
        assert ident.customer_id is None and ident.verified_at is None
        cards = s.scalars(select(Card).where(Card.customer_id == customer.id)).all()
        assert len(cards) == 2 and all(c.card_no.startswith("621799") for c in cards)


def test_same_seed_same_bank(tmp_path) -> None:  # type: ignore[no-untyped-def]
    snapshots = []
    for name in ("a", "b"):
        url = f"sqlite:///{tmp_path / name}.db"
        upgrade(url)
        seed_demo_bank(make_engine(url), customers=80, as_of=AS_OF)
        with Session(make_engine(url)) as s:
            snapshots.append(
                (
                    s.execute(select(Customer.name, Customer.phone, Customer.id_number).order_by(Customer.id)).all(),
                    s.execute(select(Transaction.amount, Transaction.booked_at).order_by(Transaction.id)).all(),
                )
            )
    assert snapshots[0] == snapshots[1]


def test_refuses_to_seed_twice(demo_engine: Engine) -> None:
    with Session(demo_engine) as s:
        before = s.scalar(select(func.count()).select_from(Transaction))
    with pytest.raises(AlreadySeeded):
        seed_demo_bank(demo_engine, customers=10, as_of=AS_OF)
    with Session(demo_engine) as s:
        assert s.scalar(select(func.count()).select_from(Transaction)) == before


def test_transactions_happen_in_beijing_daytime_and_before_today(demo_engine: Engine) -> None:
    from zoneinfo import ZoneInfo

    beijing = ZoneInfo("Asia/Shanghai")
    with Session(demo_engine) as s:
        times = s.scalars(select(Transaction.booked_at)).all()
    assert times
    local = [(t if t.tzinfo else t.replace(tzinfo=__import__("datetime").UTC)).astimezone(beijing) for t in times]
    assert all(8 <= t.hour < 20 for t in local), sorted({t.hour for t in local})
    assert max(t.date() for t in local) < AS_OF
