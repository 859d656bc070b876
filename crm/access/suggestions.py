"""At most one relevant product suggestion after an answer, never to customers who opted out."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.masking import mask_card
from crm.access.consent import may_suggest
from crm.access.identity import VerifiedCustomer
from crm.access.products import deposit_product_for_term
from crm.models import Account, Product, TermDeposit

MATURING_WITHIN = dt.timedelta(days=30)
IDLE_BALANCE = Decimal("50000")


def _pct(rate: Decimal) -> str:
    return f"{rate * 100:.2f}%"


def suggestion(session: Session, who: VerifiedCustomer, topic: str, today: dt.date) -> str | None:
    """One line of advice tied to what the customer just asked about, or None.

    Args:
        topic: ``deposit`` (after deposits), ``balance`` (after balances).
        today: the bank's calendar day (Asia/Shanghai).
    """
    if not may_suggest(session, who):
        return None
    if topic in ("deposit", "balance"):
        soon = session.execute(
            select(TermDeposit, Product.term_months)
            .join(Product, Product.id == TermDeposit.product_id)
            .where(
                TermDeposit.customer_id == who.customer_id,
                TermDeposit.status == "active",
                TermDeposit.maturity_on >= today,
                TermDeposit.maturity_on <= today + MATURING_WITHIN,
            )
            .order_by(TermDeposit.maturity_on)
            .limit(1)
        ).first()
        if soon is not None:
            deposit, months = soon
            product = deposit_product_for_term(session, months or 12)
            if product and product.rate is not None:
                return (
                    f"温馨提示：您{mask_card(deposit.certificate_no)}的定期存款将于"
                    f"{deposit.maturity_on.month}月{deposit.maturity_on.day}日到期，"
                    f"目前{product.name}年利率{_pct(product.rate)}，到期后可在手机银行或网点办理转存。"
                )
    if topic == "balance":
        idle = session.scalar(
            select(Account.balance)
            .where(Account.customer_id == who.customer_id, Account.kind == "活期储蓄")
            .order_by(Account.balance.desc())
            .limit(1)
        )
        has_term = session.scalar(
            select(TermDeposit.id)
            .where(TermDeposit.customer_id == who.customer_id, TermDeposit.status == "active")
            .limit(1)
        )
        if idle is not None and idle >= IDLE_BALANCE and has_term is None:
            product = deposit_product_for_term(session, 12)
            if product and product.rate is not None:
                return (
                    f"温馨提示：活期里暂时不用的钱，可以考虑{product.name}，"
                    f"目前年利率{_pct(product.rate)}，50元起存。"
                )
    return None
