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
from actions.texts import BIND_BUTTON, BIND_INVITATION
from crm.access.branches import BranchInfo, find_branches, get_branch
from crm.access.service import AppointmentRefused, AppointmentResult, book_appointment, check_booking
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
WEEKDAYS = "一二三四五六日"
REFUSALS = {
    "past": "只能预约明天及以后的日期。",
    "too_far": "目前只能预约30天以内的日期。",
    "closed": "这个网点那天不营业。",
    "full": "这个网点那天的预约已经满了。",
}


def _day(d: dt.date) -> str:
    return f"{d.month}月{d.day}日（周{WEEKDAYS[d.weekday()]}）"


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
            dispatcher.utter_message(text="没找到这个网点，请说一下网点所在的乡镇名，比如“城关镇”。")
        else:
            dispatcher.utter_message(
                text="找到几个网点，请选一个：",
                buttons=[{"title": b.name, "payload": f'/inform{{"branch":"{b.name}"}}'} for b in found[:5]],
            )
        return {"appt_branch": None, "appt_branch_id": None}

    async def validate_appt_date(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        now = today()
        day = parse_date(str(value), now)
        if day is None:
            dispatcher.utter_message(text="没听清日期，请说具体哪天，比如“明天”“下周一”或“5月8号”。")
            return {"appt_date": None}
        branch_id = tracker.get_slot("appt_branch_id")

        def check(session: Session) -> str | None:
            branch = get_branch(session, int(branch_id)) if branch_id else None
            if branch is None:
                return None
            try:
                check_booking(session, branch, day, now)
            except AppointmentRefused as refused:
                tip = f"最近可以预约的是{_day(refused.suggestion)}。" if refused.suggestion else ""
                return REFUSALS.get(refused.reason, "这天不能预约。") + tip
            return None

        problem = await in_session(check)
        if problem:
            dispatcher.utter_message(text=problem + "请换一天。")
            return {"appt_date": None}
        return {"appt_date": day.isoformat()}

    def validate_appt_service(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value).strip()
        known = next((s for s in SERVICES if s in text or text in s), None)
        if known is None and len(text) < 2:
            dispatcher.utter_message(text="请说一下要办什么业务，比如开户、大额取款、补卡。")
            return {"appt_service": None}
        return {"appt_service": known or text[:32]}


class ActionSubmitAppointment(Action):
    def name(self) -> str:
        return ACTION_SUBMIT_APPT

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        branch_id, date_text, service = (
            tracker.get_slot(s) for s in ("appt_branch_id", "appt_date", "appt_service")
        )
        key = idempotency_key("appt", tracker)

        def work(session: Session) -> AppointmentResult | AppointmentRefused | None:
            who = verified(session, tracker.sender_id)
            if who is None or not branch_id or not date_text or not service:
                return None
            try:
                return book_appointment(
                    session, who, int(branch_id), dt.date.fromisoformat(date_text), str(service), key
                )
            except AppointmentRefused as refused:
                return refused

        result = await in_session(work)
        if result is None:
            dispatcher.utter_message(
                text="预约网点需要先确认您的身份。" + BIND_INVITATION, buttons=[BIND_BUTTON]
            )
        elif isinstance(result, AppointmentRefused):
            dispatcher.utter_message(
                text=REFUSALS.get(result.reason, "") + "预约没有成功，请回复“预约”重新选择日期。"
            )
        else:
            dispatcher.utter_message(
                text=f"预约成功！预约号{result.ref}。"
                f"{_day(result.on_date)} {result.hours[0]}-{result.hours[1]}，"
                f"{result.branch}（{result.address}），办理{result.service}。请带上本人身份证，"
                "到网点后出示预约号即可优先办理。"
            )
        return reset_slots(FORM)
