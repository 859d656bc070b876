"""Product questions: deposit rates (public), loan products with eligibility hints, wealth
products matched to the verified customer's risk level."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import in_session, verified
from actions.normalise import amount_in, mentions, term_months_all, term_months_in
from actions.reply import Reply
from actions.texts import (
    interest_text,
    large_cd_text,
    loan_offer_list,
    loan_rate_list,
    rate_list,
    term_comparison_text,
    term_rate_text,
    wealth_list,
)
from crm.access.products import (
    LoanOffer,
    ProductInfo,
    WealthChoice,
    deposit_product_for_term,
    deposit_rates,
    loan_offers,
    wealth_products,
)

ACTION_DEPOSIT_RATES = "action_deposit_rates"
ACTION_LOAN_PRODUCTS = "action_loan_products"
ACTION_WEALTH_PRODUCTS = "action_wealth_products"


FARM_WORDS = ("种地", "种田", "种植", "种大棚", "种菜", "种果", "养殖", "养猪", "养牛", "养羊", "养鸡", "农民", "务农",
              "农户", "庄稼", "亩")
FARM_LOANS = ("LN-HNL", "LN-NHXE")  # 惠农贷 and 农户小额信用贷款: the farm products, in that order
MATERIAL_WORDS = ("手续", "材料", "带啥", "带什么", "准备啥", "准备什么", "证件", "要啥", "需要什么")
PRODUCT_WORDS = ("有啥", "有什么", "有哪些", "哪些", "产品", "种类", "能贷", "可以贷")
LOAN_INTENTS = ("ask_loan_product", "check_loan")
DEPOSIT_WORDS = ("存", "定期", "活期", "存单", "存款")
CAUTIOUS_WORDS = ("稳当", "稳妥", "稳健", "保本", "不亏", "风险小", "风险低", "低风险", "保险点", "安全点",
                  "不想担风险")
CAUTIOUS_MAX_RISK = 2  # 稳当 → R1/R2 only, whatever else the customer's level would allow


def farm_first(offers: list[LoanOffer]) -> list[LoanOffer]:
    """The farm loans first (惠农贷 leading), then the rest in their usual order."""
    rank = {code: i for i, code in enumerate(FARM_LOANS)}
    return sorted(offers, key=lambda o: rank.get(o.product.code, len(FARM_LOANS)))


def loans_text(session: Session, sender_id: str, text: str | None = None) -> list[Reply]:
    who = verified(session, sender_id)
    offers = loan_offers(session, who)
    farmer = mentions(text, *FARM_WORDS)
    if farmer:
        offers = farm_first(offers)
    if mentions(text, *MATERIAL_WORDS) and not farmer and not mentions(text, *PRODUCT_WORDS):
        return [Reply.of("utter_farm_loan_materials")]  # "要啥手续": the list again would not answer it
    replies = [Reply.computed(loan_offer_list(offers, known_customer=who is not None))]
    if farmer or mentions(text, *MATERIAL_WORDS):
        replies.append(Reply.of("utter_farm_loan_materials"))
    return replies


def loan_rates_text(session: Session, sender_id: str) -> Reply:
    """利息高不高 asked right after a loan question: the loans' rates, not the deposit table."""
    offers = loan_offers(session, verified(session, sender_id))
    return Reply.computed(loan_rate_list(offers))


def wealth_answer(session: Session, sender_id: str, text: str | None = None) -> Reply:
    who = verified(session, sender_id)
    if who is None:
        # Suitability rules: products are matched to an assessed risk level, so we need to know who asks.
        return Reply.of("utter_wealth_needs_binding")
    choice = wealth_products(session, who)
    cautious = mentions(text, *CAUTIOUS_WORDS)
    if cautious:
        low = [p for p in choice.products if (p.risk_level or 5) <= CAUTIOUS_MAX_RISK]
        choice = WealthChoice(choice.risk_level, low, choice.above_level + len(choice.products) - len(low))
    if not choice.products:
        return Reply.of("utter_no_suitable_wealth")
    return Reply.computed(wealth_list(choice, cautious=cautious))


LARGE_CD_WORDS = ("大额存单", "大额存款", "大额")


def previous_message(tracker: Tracker, topics: tuple[str, ...] = (), back: int = 3) -> tuple[str | None, str]:
    """The intent and text of the customer's message before the latest one (None, "") at the start.

    With ``topics``, the latest of the ``back`` messages before this one whose intent is one of them
    ("利息高不高" two questions after "惠农贷怎么申请", with "最多能贷多少" in between).
    """
    said = [e for e in reversed(tracker.events) if e.get("event") == "user"][1:]
    for before in said[: back if topics else 1]:
        intent = ((before.get("parse_data") or {}).get("intent") or {}).get("name")
        if not topics or intent in topics:
            return intent, str(before.get("text") or "")
    return None, ""


def large_cd(session: Session) -> ProductInfo | None:
    return next((p for p in deposit_rates(session) if "大额存单" in p.name and p.rate is not None), None)


def rate_answer(session: Session, text: str | None, previous: str | None = None) -> Reply:
    """With a term: that term's rate, and with an amount too, the interest worked out; else the table.

    A follow-up that names only the amount or only the term ("那存一年呢", "十万呢") takes the other
    from the previous question (``previous``).
    """
    months = term_months_in(text)
    amount = amount_in(text)
    terms = term_months_all(text)
    if len(terms) > 1 and not mentions(text, *LARGE_CD_WORDS):
        # "存一年和存三年哪个划算": both terms side by side, not the first one alone.
        compared = [deposit_product_for_term(session, m) for m in terms]
        known = [p for p in compared if p is not None and p.rate is not None]
        if len(known) > 1:
            return Reply.computed(term_comparison_text(known, amount))
    if previous and (months is None) != (amount is None):
        months = months or term_months_in(previous)
        amount = amount or amount_in(previous)
    about_cd = mentions(text, *LARGE_CD_WORDS) or (
        previous is not None and mentions(previous, *LARGE_CD_WORDS) and not mentions(text, "定期", "整存", "活期")
    )
    if about_cd and (cd := large_cd(session)) is not None:
        plain = deposit_product_for_term(session, months or cd.term_months)
        if amount is None or amount >= (cd.min_amount or 0) or plain is None or plain.rate is None:
            return Reply.computed(large_cd_text(cd, amount))
        years = Decimal(plain.term_months or 12) / Decimal(12)
        return Reply.computed(large_cd_text(cd, amount, interest_text(plain, amount, years)))
    product: ProductInfo | None = deposit_product_for_term(session, months) if months else None
    if product is None and amount is not None and months is None:
        product = deposit_product_for_term(session, 12)  # "存一万利息多少" → the common one-year term
        months = 12
    if product is None or product.rate is None or months is None:
        return Reply.computed(rate_list(deposit_rates(session)))
    if amount is None:
        return Reply.computed(term_rate_text(product))
    return Reply.computed(interest_text(product, amount, Decimal(months) / Decimal(12)))


class ActionDepositRates(Action):
    def name(self) -> str:
        return ACTION_DEPOSIT_RATES

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text")
        intent, before = previous_message(tracker, (*LOAN_INTENTS, "ask_deposit_rate"))
        if intent in LOAN_INTENTS and not mentions(text, *DEPOSIT_WORDS):
            (await in_session(lambda s: loan_rates_text(s, tracker.sender_id))).send(dispatcher)
            return []
        # "存5万三年能拿多少" then "那要是存一年呢": the follow-up names only what changed.
        previous = before if intent == "ask_deposit_rate" else None
        (await in_session(lambda s: rate_answer(s, text, previous))).send(dispatcher)
        return []


class ActionLoanProducts(Action):
    def name(self) -> str:
        return ACTION_LOAN_PRODUCTS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text")
        for reply in await in_session(lambda s: loans_text(s, tracker.sender_id, text)):
            reply.send(dispatcher)
        return []


class ActionWealthProducts(Action):
    def name(self) -> str:
        return ACTION_WEALTH_PRODUCTS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text")
        (await in_session(lambda s: wealth_answer(s, tracker.sender_id, text))).send(dispatcher)
        return []
