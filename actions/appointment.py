"""Branch appointment form: branch → date → service, checked against hours and capacity."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.context import idempotency_key, in_session, today, verified
from actions.forms import reset_slots
from actions.normalise import visit_period
from actions.texts import (
    WINDOW_REASONS,
    booking_refusal,
    branch_buttons,
    date_refusal,
    day_with_weekday,
    visit_window,
    window_refusal,
)
from crm.access.branches import BranchInfo, find_branches, get_branch, hours_on
from crm.access.service import AppointmentRefused, AppointmentResult, book_appointment, check_booking
from crm.access.windows import window_for
from crm.timeparse import parse_date

FORM = "book_appointment_form"
ACTION_VALIDATE_APPT = "validate_book_appointment_form"
ACTION_SUBMIT_APPT = "action_submit_appointment"
SERVICES = (
    "开户",
    "销户",
    "大额取款",
    "大额存款",
    "补卡",
    "换卡",
    "挂失补办",
    "办社保卡",
    "贷款面签",
    "理财签约",
)

class ValidateBookAppointmentForm(FormValidationAction):
    def name(self) -> str:
        return ACTION_VALIDATE_APPT

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        if tracker.get_slot("appt_branch") is None:
            bound = await in_session(lambda s: verified(s, tracker.sender_id) is not None)
            if not bound:
                return []
        return domain_slots

    async def validate_appt_branch(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        found: list[BranchInfo] = await in_session(lambda s: find_branches(s, str(value)))
        if len(found) == 1:
            return {"appt_branch": found[0].name, "appt_branch_id": float(found[0].id)}
        if not found:
            dispatcher.utter_message(response="utter_appt_branch_not_found")
        else:
            dispatcher.utter_message(response="utter_appt_choose_branch", buttons=branch_buttons(found[:5]))
        return {"appt_branch": None, "appt_branch_id": None}

    async def validate_appt_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        now = today()
        day = parse_date(str(value), now)
        if day is None:
            dispatcher.utter_message(response="utter_appt_date_unclear")
            return {"appt_date": None}
        branch_id = tracker.get_slot("appt_branch_id")
        # 明天上午 / 下午3点: the part of the day is stored as the booking's window (crm.access.windows).
        period = visit_period(tracker.latest_message.get("text")) or tracker.get_slot("appt_period")

        def check(session: Session) -> str | None:
            branch = get_branch(session, int(branch_id)) if branch_id else None
            if branch is None:
                return None
            window = window_for(period, hours_on(branch, day))
            try:
                check_booking(session, branch, day, now, window)
            except AppointmentRefused as refused:
                if refused.reason in WINDOW_REASONS and window:
                    return window_refusal(refused.reason, day, window)
                return date_refusal(refused.reason, refused.suggestion)
            return None

        problem = await in_session(check)
        if problem:
            dispatcher.utter_message(text=problem)
            return {"appt_date": None}
        return {"appt_date": day.isoformat(), "appt_period": period}

    def validate_appt_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value).strip()
        known = next((s for s in SERVICES if s in text or text in s), None)
        if known is None and len(text) < 2:
            dispatcher.utter_message(response="utter_appt_service_unclear")
            return {"appt_service": None}
        return {"appt_service": known or text[:32]}


class ActionSubmitAppointment(Action):
    def name(self) -> str:
        return ACTION_SUBMIT_APPT

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        branch_id, date_text, service, period = (
            tracker.get_slot(s) for s in ("appt_branch_id", "appt_date", "appt_service", "appt_period")
        )
        key = idempotency_key("appt", tracker)

        def work(session: Session) -> AppointmentResult | AppointmentRefused | None:
            who = verified(session, tracker.sender_id)
            if who is None or not branch_id or not date_text or not service:
                return None
            on_date = dt.date.fromisoformat(date_text)
            branch = get_branch(session, int(branch_id))
            hours = hours_on(branch, on_date) if branch else None
            # The part of the day asked for is the booking's window (上午 / 下午 / 09:00-10:00), its own column;
            # the service column holds only the service.
            window = window_for(str(period), hours) if period else None
            try:
                return book_appointment(session, who, int(branch_id), on_date, str(service)[:32], key, window=window)
            except AppointmentRefused as refused:
                return refused

        result = await in_session(work)
        if result is None:
            dispatcher.utter_message(response="utter_appt_needs_binding")
        elif isinstance(result, AppointmentRefused):
            dispatcher.utter_message(text=booking_refusal(result.reason))
        else:
            dispatcher.utter_message(
                response="utter_appt_booked",
                ref=result.ref,
                day=day_with_weekday(result.on_date),
                window=visit_window(result.hours, result.window),
                branch=result.branch,
                address=result.address,
                service=str(service),
            )
        return reset_slots(FORM)
