"""Card loss report form: which card → confirm → the card is frozen once, with a reference."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.context import idempotency_key, in_session, verified
from actions.forms import FLOW_STATUS, digits, reset_slots
from actions.texts import card_buttons
from crm.access.service import CardChoice, LossResult, cards, report_loss
from crm.errors import NotFound

FORM = "report_loss_form"
ACTION_VALIDATE_LOSS = "validate_report_loss_form"
ACTION_ASK_CARD = "action_ask_card_tail"
ACTION_ASK_CONFIRM = "action_ask_loss_confirm"
ACTION_SUBMIT_LOSS = "action_submit_loss"


async def _cards(sender_id: str) -> list[CardChoice] | None:
    def work(session: Session) -> list[CardChoice] | None:
        who = verified(session, sender_id)
        return cards(session, who) if who else None

    return await in_session(work)


class ValidateReportLossForm(FormValidationAction):
    def name(self) -> str:
        return ACTION_VALIDATE_LOSS

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if tracker.get_slot(FLOW_STATUS) in ("declined", "no_card"):
            return []
        if tracker.get_slot("card_tail") is None and await _cards(tracker.sender_id) is None:
            return []
        return domain_slots

    async def validate_card_tail(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        tail = digits(str(value))[-4:]
        owned = await _cards(tracker.sender_id) or []
        if not tail and owned:  # "尾号是几来着 我忘了": name the cards instead of "没有找到这个尾号"
            names = "、".join(f"尾号{c.tail}" for c in owned if c.status != "lost") or "、".join(
                f"尾号{c.tail}" for c in owned
            )
            dispatcher.utter_message(response="utter_card_tail_forgotten", cards=names)
            return {"card_tail": None}
        match = next((c for c in owned if c.tail == tail), None)
        if match is None:
            dispatcher.utter_message(response="utter_card_tail_not_found")
            return {"card_tail": None}
        return {"card_tail": tail}

    def validate_loss_confirm(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value is False or str(value).lower() == "false":
            return {"loss_confirm": False, FLOW_STATUS: "declined"}
        return {"loss_confirm": True}


class ActionAskCardTail(Action):
    def name(self) -> str:
        return ACTION_ASK_CARD

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        owned = await _cards(tracker.sender_id) or []
        usable = [c for c in owned if c.status != "lost"] or owned
        dispatcher.utter_message(response="utter_which_card", buttons=card_buttons(usable))
        return []


class ActionAskLossConfirm(Action):
    def name(self) -> str:
        return ACTION_ASK_CONFIRM

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        dispatcher.utter_message(response="utter_confirm_loss", card_tail=str(tracker.get_slot("card_tail")))
        return []


class ActionSubmitLoss(Action):
    def name(self) -> str:
        return ACTION_SUBMIT_LOSS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if tracker.get_slot(FLOW_STATUS) == "declined" or tracker.get_slot("loss_confirm") is False:
            dispatcher.utter_message(response="utter_loss_declined")
            return reset_slots(FORM)
        tail = tracker.get_slot("card_tail")
        key = idempotency_key("loss", tracker)

        def work(session: Session) -> LossResult | str:
            who = verified(session, tracker.sender_id)
            if who is None:
                return "unbound"
            try:
                return report_loss(session, who, str(tail or ""), key)
            except NotFound:
                return "no_card"

        result = await in_session(work)
        if result == "unbound":
            dispatcher.utter_message(response="utter_loss_needs_binding")
        elif isinstance(result, LossResult):
            dispatcher.utter_message(
                response="utter_loss_already_reported" if result.already else "utter_loss_reported",
                card=result.card,
                ref=result.ref,
            )
        else:
            dispatcher.utter_message(response="utter_loss_card_not_found")
        return reset_slots(FORM)
