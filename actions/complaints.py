"""Complaints (what happened → 工单号, routed to the customer's RM, then a handoff) and ticket status."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.context import entity, idempotency_key, in_session, split_sender, verified
from actions.forms import reset_slots
from actions.texts import ticket_list
from crm.access.identity import get_or_create_identity
from crm.access.service import TicketResult, TicketView, open_complaint, ticket_statuses

FORM = "complain_form"
ACTION_VALIDATE_COMPLAINT = "validate_complain_form"
ACTION_SUBMIT_COMPLAINT = "action_submit_complaint"
ACTION_CHECK_TICKET = "action_check_ticket"
HANDOFF = {"handoff": {"reason": "complaint", "priority": 1}}


# What a complaint starts with; what is left after these is the customer's account of what happened.
COMPLAINT_OPENERS = ("我要投诉", "我想投诉", "我要举报", "我要反映", "投诉一下", "投诉", "举报", "反映个事",
                     "反映", "我要", "我想", "俺要", "俺想", "你们", "一下")


def complaint_details(text: str) -> str:
    """The message without its opener words and punctuation ("我要投诉！" → "")."""
    rest = text
    for word in COMPLAINT_OPENERS:
        rest = rest.replace(word, "")
    return "".join(ch for ch in rest if ch.isalnum())


class ValidateComplainForm(FormValidationAction):
    def name(self) -> str:
        return ACTION_VALIDATE_COMPLAINT

    def validate_complaint_text(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "").strip()
        if len(complaint_details(text)) < 4:
            if tracker.get_slot("requested_slot") == "complaint_text":
                dispatcher.utter_message(response="utter_complaint_too_short")
            # else: just "我要投诉" to start the form; its question follows, no second request
            return {"complaint_text": None}
        return {"complaint_text": text}


class ActionSubmitComplaint(Action):
    def name(self) -> str:
        return ACTION_SUBMIT_COMPLAINT

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        content = str(tracker.get_slot("complaint_text") or "")
        key = idempotency_key("complaint", tracker)
        channel, external = split_sender(tracker.sender_id)

        def work(session: Session) -> TicketResult:
            who = verified(session, tracker.sender_id)
            identity = get_or_create_identity(session, channel, external)
            return open_complaint(session, who, identity.id, content, key)

        result = await in_session(work)
        if result.rm_name:
            dispatcher.utter_message(
                response="utter_complaint_registered_for_rm", ref=result.ref, rm_name=result.rm_name
            )
        else:
            dispatcher.utter_message(response="utter_complaint_registered_for_branch", ref=result.ref)
        dispatcher.utter_message(json_message=HANDOFF)
        return reset_slots(FORM)


class ActionCheckTicket(Action):
    def name(self) -> str:
        return ACTION_CHECK_TICKET

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        ref = entity(tracker, "ticket_id")
        channel, external = split_sender(tracker.sender_id)

        def work(session: Session) -> list[TicketView]:
            who = verified(session, tracker.sender_id)
            identity = get_or_create_identity(session, channel, external)
            return ticket_statuses(session, who, identity.id, ref)

        rows = await in_session(work)
        if not rows:
            dispatcher.utter_message(response="utter_ticket_not_found" if ref else "utter_no_tickets")
            return []
        dispatcher.utter_message(text=ticket_list(rows))
        return []
