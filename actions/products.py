"""Product questions: deposit rates (public), loan products with eligibility hints, wealth
products matched to the verified customer's risk level."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import in_session, verified
from actions.holdings import pct
from actions.texts import BIND_BUTTON, BIND_INVITATION
from core.masking import format_yuan
from crm.access.products import deposit_rates, loan_offers, wealth_products

ACTION_DEPOSIT_RATES = "action_deposit_rates"
ACTION_LOAN_PRODUCTS = "action_loan_products"
ACTION_WEALTH_PRODUCTS = "action_wealth_products"


def rates_text(session: Session) -> str:
    lines = ["我行目前的存款年利率如下："]
    for p in deposit_rates(session):
        if p.rate is not None:
            extra = f"（{p.description}）" if p.description else ""
            lines.append(f"· {p.name}：{pct(p.rate)}{extra}")
    lines.append("利率以网点公告为准，如有调整以办理当日为准。")
    return "\n".join(lines)


def loans_text(session: Session, sender_id: str) -> str:
    who = verified(session, sender_id)
    offers = loan_offers(session, who)
    lines = ["我行的贷款产品有："]
    for o in offers:
        p = o.product
        limit = (
            f"，额度{format_yuan(p.min_amount)}至{format_yuan(p.max_amount)}"
            if p.min_amount and p.max_amount
            else ""
        )
        mark = "【推荐】" if o.suits_you else ""
        lines.append(f"· {mark}{p.name}：年利率{pct(p.rate)}起{limit}，{o.hint}。{p.description}")
    if who is None:
        lines.append("绑定账户后，我可以根据您的情况告诉您哪款更合适。")
    lines.append("具体额度和利率以审批结果为准，想申请可以回复“预约”到网点面签。")
    return "\n".join(lines)


def wealth_text(session: Session, sender_id: str) -> str | None:
    who = verified(session, sender_id)
    if who is None:
        return None
    choice = wealth_products(session, who)
    if not choice.products:
        return (
            "根据您的风险测评结果，目前没有适合您的在售理财产品。您可以考虑定期存款或大额存单，本金更有保障。"
        )
    lines = [f"根据您的风险承受能力（C{choice.risk_level}），适合您的理财产品有："]
    for p in choice.products:
        start = f"，{format_yuan(p.min_amount)}起购" if p.min_amount else ""
        lines.append(f"· {p.name}（R{p.risk_level}）：业绩比较基准{pct(p.rate)}{start}。{p.description}")
    lines.append("理财非存款，产品有风险，投资须谨慎。过往业绩不代表未来表现。")
    return "\n".join(lines)


class ActionDepositRates(Action):
    def name(self) -> str:
        return ACTION_DEPOSIT_RATES

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=await in_session(rates_text))
        return []


class ActionLoanProducts(Action):
    def name(self) -> str:
        return ACTION_LOAN_PRODUCTS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=await in_session(lambda s: loans_text(s, tracker.sender_id)))
        return []


class ActionWealthProducts(Action):
    def name(self) -> str:
        return ACTION_WEALTH_PRODUCTS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = await in_session(lambda s: wealth_text(s, tracker.sender_id))
        if text is None:
            # Suitability rules: products are matched to an assessed risk level, so we need to know who asks.
            dispatcher.utter_message(
                text="理财产品要根据您的风险测评结果来推荐。" + BIND_INVITATION, buttons=[BIND_BUTTON]
            )
        else:
            dispatcher.utter_message(text=text)
        return []
