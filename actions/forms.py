"""Helpers shared by the form actions: slot names, cancel, and small text utilities."""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

ACTION_CANCEL_FORM = "action_cancel_form"
FLOW_STATUS = "flow_status"

# Every slot a form fills; cancelling or finishing a form clears its own.
FORM_SLOTS: dict[str, list[str]] = {
    "bind_account_form": ["phone", "id_last6", "otp_code"],
    "report_loss_form": ["card_tail", "loss_confirm"],
    "book_appointment_form": ["appt_branch", "appt_date", "appt_service"],
    "complain_form": ["complaint_text"],
}
EXTRA_SLOTS = ["appt_branch_id", "appt_period", FLOW_STATUS]


def reset_slots(form: str) -> list[EventType]:
    return [SlotSet(name, None) for name in [*FORM_SLOTS.get(form, []), *EXTRA_SLOTS, "requested_slot"]]


def digits(text: str | None) -> str:
    return "".join(re.findall(r"\d", text or ""))


class ActionCancelForm(Action):
    """算了 / 不办了 at any step: leave the form, forget what was typed, confirm politely."""

    def name(self) -> str:
        return ACTION_CANCEL_FORM

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        form = tracker.active_loop_name
        if not form:
            dispatcher.utter_message(response="utter_nothing_to_cancel")
            return []
        dispatcher.utter_message(response="utter_form_cancelled")
        return [ActiveLoop(None), *reset_slots(form)]


ACTION_LEAVE_FORM = "action_leave_form"


class ActionLeaveForm(Action):
    """The customer clearly moved on mid-form (another question or request, #20): end the form
    quietly and forget its half-typed answers; the rule that called this answers the new message."""

    def name(self) -> str:
        return ACTION_LEAVE_FORM

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        form = tracker.active_loop_name
        return [ActiveLoop(None), *reset_slots(form or "")]
