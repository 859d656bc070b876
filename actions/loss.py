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
from actions.texts import BIND_BUTTON, BIND_INVITATION
from crm.access.service import CardChoice, LossResult, cards, report_loss
from crm.errors import NotFound

FORM = "report_loss_form"
ACTION_VALIDATE_LOSS = "validate_report_loss_form"
ACTION_ASK_CARD = "action_ask_card_tail"
ACTION_ASK_CONFIRM = "action_ask_loss_confirm"
ACTION_SUBMIT_LOSS = "action_submit_loss"
UNBOUND_LOSS = (
    "卡丢了请别着急。"
    + BIND_INVITATION
    + "如果不方便绑定，请尽快携带身份证到就近网点办理挂失，或回复“人工”由客户经理协助。"
)


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
        match = next((c for c in owned if c.tail == tail), None)
        if match is None:
            dispatcher.utter_message(text="没有找到这个尾号的卡，请核对卡号最后4位后再告诉我。")
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
        buttons = [
            {"title": f"{c.kind}{c.masked}", "payload": f'/inform{{"card_tail":"{c.tail}"}}'} for c in usable
        ]
        dispatcher.utter_message(text="请问要挂失哪张卡？请选择或回复卡号最后4位。", buttons=buttons)
        return []


class ActionAskLossConfirm(Action):
    def name(self) -> str:
        return ACTION_ASK_CONFIRM

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        tail = tracker.get_slot("card_tail")
        dispatcher.utter_message(
            text=f"确认挂失尾号{tail}的卡吗？挂失后这张卡会立即冻结，不能取款、转账和消费，"
            "补卡需本人带身份证到网点办理。",
            buttons=[{"title": "确认挂失", "payload": "/affirm"}, {"title": "先不挂失", "payload": "/deny"}],
        )
        return []


class ActionSubmitLoss(Action):
    def name(self) -> str:
        return ACTION_SUBMIT_LOSS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        if tracker.get_slot(FLOW_STATUS) == "declined" or tracker.get_slot("loss_confirm") is False:
            dispatcher.utter_message(text="好的，这次没有挂失。如果卡找不回来，随时跟我说“挂失”。")
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
            dispatcher.utter_message(text=UNBOUND_LOSS, buttons=[BIND_BUTTON])
        elif isinstance(result, LossResult):
            if result.already:
                dispatcher.utter_message(
                    text=f"您{result.card}的卡已经挂失冻结，挂失编号{result.ref}，不用重复办理。"
                )
            else:
                dispatcher.utter_message(
                    text=f"已为您挂失{result.card}的卡，卡片已冻结，挂失编号{result.ref}。"
                    "请在7天内带身份证到任一网点补办新卡；如果卡找回来了，也要到网点解挂。"
                )
        else:
            dispatcher.utter_message(text="没有找到这张卡，请到网点或回复“人工”办理挂失。")
        return reset_slots(FORM)
