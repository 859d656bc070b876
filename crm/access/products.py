"""The bank's products: deposit rates (public), loan products with eligibility hints, wealth
products filtered by the verified customer's risk level."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.access.identity import VerifiedCustomer
from crm.errors import NotFound
from crm.models import Customer, Product


@dataclass(frozen=True)
class ProductInfo:
    code: str
    name: str
    kind: str
    rate: Decimal | None
    term_months: int | None
    risk_level: int | None
    min_amount: Decimal | None
    max_amount: Decimal | None
    description: str


@dataclass(frozen=True)
class LoanOffer:
    product: ProductInfo
    suits_you: bool | None  # None when we do not know who is asking
    hint: str


def _info(p: Product) -> ProductInfo:
    return ProductInfo(
        p.code, p.name, p.kind, p.rate, p.term_months, p.risk_level, p.min_amount, p.max_amount, p.description
    )


def _active(session: Session, kind: str) -> list[Product]:
    return list(
        session.scalars(
            select(Product).where(Product.kind == kind, Product.active.is_(True)).order_by(Product.id)
        )
    )


def deposit_rates(session: Session) -> list[ProductInfo]:
    """Current deposit products with their annual rates (public information)."""
    return [_info(p) for p in _active(session, "deposit")]


def deposit_product_for_term(session: Session, term_months: int | None) -> ProductInfo | None:
    """The plain 整存整取 product of this term (used for renewal suggestions)."""
    for p in _active(session, "deposit"):
        if p.term_months == term_months and p.code.startswith("DEP-") and "LCD" not in p.code:
            return _info(p)
    return None


def loan_offers(session: Session, who: VerifiedCustomer | None) -> list[LoanOffer]:
    """Loan products; for a verified customer, those that fit their kind and occupation come first."""
    customer = session.get(Customer, who.customer_id) if who else None
    offers: list[LoanOffer] = []
    for p in _active(session, "loan"):
        if customer is None:
            who_for = "、".join(p.eligible_occupations or p.eligible_kinds) or "各类客户"
            offers.append(LoanOffer(_info(p), None, f"适合{who_for}"))
            continue
        kind_ok = not p.eligible_kinds or customer.kind in p.eligible_kinds
        occupation_ok = not p.eligible_occupations or customer.occupation in p.eligible_occupations
        if kind_ok and occupation_ok:
            hint = f"适合您（{customer.occupation if p.eligible_occupations else customer.kind}客户）"
        elif not kind_ok:
            hint = f"面向{'、'.join(p.eligible_kinds)}客户"
        else:
            hint = f"主要面向{'、'.join(p.eligible_occupations)}"
        offers.append(LoanOffer(_info(p), kind_ok and occupation_ok, hint))
    offers.sort(key=lambda o: not o.suits_you)
    return offers


@dataclass(frozen=True)
class WealthChoice:
    risk_level: int  # customer's assessed level (C1..C5)
    products: list[ProductInfo]
    above_level: int  # how many products were left out as too risky


def wealth_products(session: Session, who: VerifiedCustomer) -> WealthChoice:
    """Wealth products whose risk rating (R1..R5) does not exceed the customer's level (C1..C5)."""
    customer = session.get(Customer, who.customer_id)
    if customer is None:
        raise NotFound("customer")
    products = _active(session, "wealth")
    fit = [_info(p) for p in products if (p.risk_level or 5) <= customer.risk_level]
    return WealthChoice(customer.risk_level, fit, len(products) - len(fit))
