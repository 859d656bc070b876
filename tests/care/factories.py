"""Small hand-built bank data for care scheduler tests (no dependency on the demo seed)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal

from sqlalchemy.orm import Session

from crm.models import (
    Account,
    Branch,
    Card,
    ChannelIdentity,
    Customer,
    Loan,
    LoanInstallment,
    MarketingConsent,
    Product,
    RelationshipManager,
    TermDeposit,
)
from crm.models.sms import SmsServiceConsent

_seq = itertools.count(1)
HOURS = {"weekday": ["08:30", "17:00"], "weekend": ["09:00", "16:00"]}


def branch(session: Session, hours: dict | None = None, name: str = "城关支行") -> Branch:
    n = next(_seq)
    b = Branch(
        code=f"B{n:03d}",
        name=name,
        town="城关镇",
        address="人民路1号",
        phone="0571-88880000",
        latitude=30.0,
        longitude=120.0,
        opening_hours=hours or HOURS,
    )
    session.add(b)
    session.flush()
    return b


def rm(session: Session, b: Branch, name: str = "李明") -> RelationshipManager:
    n = next(_seq)
    r = RelationshipManager(code=f"RM{n}", name=name, phone="13800000000", branch_id=b.id, login=f"rm{n}")
    session.add(r)
    session.flush()
    return r


def customer(
    session: Session,
    b: Branch,
    *,
    name: str = "张建华",
    gender: str = "M",
    birthday: dt.date = dt.date(1970, 5, 1),
    kind: str = "个人",
    rm_id: int | None = None,
    consent: bool | None = True,
    channel: str | None = "wechat",
    subscribed: bool = True,
    opened_on: dt.date = dt.date(2015, 1, 1),
    occupation: str = "种植户",
    sms_service: bool = True,
) -> Customer:
    n = next(_seq)
    c = Customer(
        cif_no=f"CIF{n:08d}",
        kind=kind,
        name=name,
        gender=gender,
        birthday=birthday,
        phone=f"139{n:08d}",
        id_number=f"33010119700101{n:04d}",
        town="城关镇",
        village="东村",
        occupation=occupation,
        rm_id=rm_id,
        branch_id=b.id,
        opened_on=opened_on,
    )
    session.add(c)
    session.flush()
    if sms_service:  # agreed to service SMS at account opening, like most customers
        session.add(SmsServiceConsent(customer_id=c.id, granted=True))
    if channel:
        session.add(
            ChannelIdentity(
                channel=channel,
                external_id=f"openid-{n}",
                customer_id=c.id,
                verified_at=dt.datetime(2024, 1, 1, tzinfo=dt.UTC),
                subscribed=subscribed,
            )
        )
    if consent is not None:
        session.add(MarketingConsent(customer_id=c.id, channel="all", granted=consent, source="开户签约"))
    session.flush()
    return c


def product(session: Session, code: str = "DEP-1Y", kind: str = "deposit") -> Product:
    p = Product(code=code, name="丰收一年定期", kind=kind, rate=Decimal("0.0175"), term_months=12)
    session.add(p)
    session.flush()
    return p


def deposit(
    session: Session, c: Customer, p: Product, maturity_on: dt.date, amount: str = "50000"
) -> TermDeposit:
    n = next(_seq)
    td = TermDeposit(
        customer_id=c.id,
        product_id=p.id,
        certificate_no=f"TD{n:010d}",
        amount=Decimal(amount),
        rate=Decimal("0.0175"),
        start_on=maturity_on - dt.timedelta(days=365),
        maturity_on=maturity_on,
    )
    session.add(td)
    session.flush()
    return td


def installment(session: Session, c: Customer, p: Product, due_on: dt.date) -> LoanInstallment:
    n = next(_seq)
    loan = Loan(
        customer_id=c.id,
        product_id=p.id,
        contract_no=f"LN{n:010d}",
        principal=Decimal("100000"),
        outstanding=Decimal("80000"),
        rate=Decimal("0.045"),
        start_on=dt.date(2025, 1, 1),
        end_on=dt.date(2028, 1, 1),
    )
    session.add(loan)
    session.flush()
    inst = LoanInstallment(
        loan_id=loan.id, seq=1, due_on=due_on, principal=Decimal("2500"), interest=Decimal("312.50")
    )
    session.add(inst)
    session.flush()
    return inst


def card(session: Session, c: Customer, expires_on: dt.date, card_no: str | None = None) -> Card:
    n = next(_seq)
    acct = Account(
        customer_id=c.id,
        account_no=f"62{n:016d}",
        kind="活期储蓄",
        balance=Decimal("1000"),
        opened_on=dt.date(2015, 1, 1),
    )
    session.add(acct)
    session.flush()
    cd = Card(
        customer_id=c.id,
        account_id=acct.id,
        card_no=card_no or f"6230{n:015d}",
        kind="借记卡",
        expires_on=expires_on,
    )
    session.add(cd)
    session.flush()
    return cd
