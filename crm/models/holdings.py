"""What a customer holds: accounts, cards, term deposits, loans and their transactions."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import BigInteger, Date, ForeignKey, Index, Integer, Numeric, String
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime

CARD_STATUSES = ("normal", "lost", "frozen")


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    account_no: Mapped[str] = mapped_column(String(24), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # 活期储蓄 | 对公结算 | 社保卡账户
    balance: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    opened_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="normal")


class Card(Base):
    __tablename__ = "cards"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    card_no: Mapped[str] = mapped_column(String(19), unique=True)
    kind: Mapped[str] = mapped_column(String(16))  # 借记卡 | 社保卡 | 福农卡
    status: Mapped[str] = mapped_column(String(8), default="normal")  # CARD_STATUSES
    expires_on: Mapped[dt.date] = mapped_column(Date)


class TermDeposit(Base):
    __tablename__ = "term_deposits"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    certificate_no: Mapped[str] = mapped_column(String(24), unique=True)
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    start_on: Mapped[dt.date] = mapped_column(Date)
    maturity_on: Mapped[dt.date] = mapped_column(Date, index=True)
    auto_renew: Mapped[bool] = mapped_column(default=True)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | matured | closed


class Loan(Base):
    __tablename__ = "loans"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    contract_no: Mapped[str] = mapped_column(String(24), unique=True)
    principal: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    outstanding: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    rate: Mapped[Decimal] = mapped_column(Numeric(6, 4))
    start_on: Mapped[dt.date] = mapped_column(Date)
    end_on: Mapped[dt.date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(12), default="active")  # active | overdue | closed


class LoanInstallment(Base):
    """One line of a loan's repayment schedule."""

    __tablename__ = "loan_installments"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    loan_id: Mapped[int] = mapped_column(ForeignKey("loans.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[dt.date] = mapped_column(Date, index=True)
    principal: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    interest: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    paid_on: Mapped[dt.date | None] = mapped_column(Date, nullable=True)


class Transaction(Base):
    __tablename__ = "transactions"
    __table_args__ = (Index("ix_transactions_account_booked", "account_id", "booked_at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("accounts.id"))
    booked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    amount: Mapped[Decimal] = mapped_column(Numeric(16, 2))  # positive = income, negative = expense
    balance_after: Mapped[Decimal] = mapped_column(Numeric(16, 2))
    channel: Mapped[str] = mapped_column(String(16))  # 柜面 | 手机银行 | 助农取款点 | ATM | 代发 | POS
    summary: Mapped[str] = mapped_column(String(32))  # 工资 粮食收购款 养老金 转账 取现 ...
    counterparty: Mapped[str | None] = mapped_column(String(64), nullable=True)
