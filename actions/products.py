"""Product questions: deposit rates (public), loan products with eligibility hints, wealth
products matched to the verified customer's risk level."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import in_session, verified
from actions.reply import Reply
from actions.texts import loan_offer_list, rate_list, wealth_list
from crm.access.products import deposit_rates, loan_offers, wealth_products

ACTION_DEPOSIT_RATES = "action_deposit_rates"
ACTION_LOAN_PRODUCTS = "action_loan_products"
ACTION_WEALTH_PRODUCTS = "action_wealth_products"


def loans_text(session: Session, sender_id: str) -> str:
    who = verified(session, sender_id)
    return loan_offer_list(loan_offers(session, who), known_customer=who is not None)


def wealth_answer(session: Session, sender_id: str) -> Reply:
    who = verified(session, sender_id)
    if who is None:
        # Suitability rules: products are matched to an assessed risk level, so we need to know who asks.
        return Reply.of("utter_wealth_needs_binding")
    choice = wealth_products(session, who)
    if not choice.products:
        return Reply.of("utter_no_suitable_wealth")
    return Reply.computed(wealth_list(choice))


class ActionDepositRates(Action):
    def name(self) -> str:
        return ACTION_DEPOSIT_RATES

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(text=await in_session(lambda s: rate_list(deposit_rates(s))))
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
        (await in_session(lambda s: wealth_answer(s, tracker.sender_id))).send(dispatcher)
        return []
