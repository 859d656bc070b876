"""A booking the customer already has: 预约还在不, 把预约取消了吧, 预约改到后天, 改到下周三下午 (#20).

Cancelling really cancels the stored appointment; moving checks the new day (and window) like a new
booking. The window is the appointment's own column: 改到后天 keeps 上午, 改到下午 keeps the day.
"""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import entity, in_session, today, verified
from actions.normalise import normalise, visit_period
from actions.reply import Reply
from actions.texts import WINDOW_REASONS, booking_list, date_refusal, visit_day, window_refusal
from crm.access.appointments import KEEP_WINDOW, cancel_booking, move_booking, upcoming_bookings
from crm.access.service import AppointmentRefused
from crm.timeparse import parse_date


def check_answer(session: Session, sender_id: str) -> Reply:
    who = verified(session, sender_id)
    if who is None:
        return Reply.of("utter_appointment_needs_binding")
    rows = upcoming_bookings(session, who, today())
    return Reply.computed(booking_list(rows)) if rows else Reply.of("utter_no_appointment")


def cancel_answer(session: Session, sender_id: str, day_text: str | None) -> Reply:
    who = verified(session, sender_id)
    if who is None:
        return Reply.of("utter_appointment_needs_binding")
    on_date = parse_date(day_text, today()) if day_text else None
    view = cancel_booking(session, who, today(), on_date)
    if view is None:
        return Reply.of("utter_no_appointment")
    return Reply.of(
        "utter_appointment_cancelled",
        day=visit_day(view.on_date, view.window),
        branch=view.branch,
        service=view.service,
        ref=view.ref,
    )


def change_answer(session: Session, sender_id: str, day_text: str | None, period: str | None = None) -> Reply:
    """Move the next booking to the day in ``day_text`` and the ``period`` said (上午 / 下午 / an hour);
    a period alone moves it within its day, a day alone keeps its window."""
    who = verified(session, sender_id)
    if who is None:
        return Reply.of("utter_appointment_needs_binding")
    if not upcoming_bookings(session, who, today()):
        return Reply.of("utter_no_appointment")
    new_day = parse_date(day_text, today()) if day_text else None
    if new_day is None and period is None:
        return Reply.of("utter_appointment_which_day")
    try:
        view = move_booking(session, who, new_day, today(), period if period else KEEP_WINDOW)
    except AppointmentRefused as refused:
        if refused.reason in WINDOW_REASONS and period and refused.day is not None:
            return Reply.computed(window_refusal(refused.reason, refused.day, refused.window or period, "改到"))
        return Reply.computed(date_refusal(refused.reason, refused.suggestion))
    if view is None:
        return Reply.of("utter_no_appointment")
    return Reply.of(
        "utter_appointment_moved",
        day=visit_day(view.on_date, view.window),
        branch=view.branch,
        service=view.service,
        ref=view.ref,
    )


CANCEL_WORDS = ("取消", "撤销", "不去了", "不要了", "作废", "退了", "不用了", "去不了了")
CHANGE_WORDS = ("改到", "换到", "挪到", "推到", "改成", "换成", "改约", "改个", "改一下", "换个",
                "往后推", "改时间", "换一下")
ACTION_MY_APPOINTMENT = "action_my_appointment"


def booking_request(text: str | None) -> str:
    """What the customer wants done with their booking: "change", "cancel" or "check"."""
    normal = normalise(text)
    if any(word in normal for word in CHANGE_WORDS):
        return "change"
    if any(word in normal for word in CANCEL_WORDS):
        return "cancel"
    return "check"


class ActionMyAppointment(Action):
    """预约还在不 / 把预约取消了吧 / 预约改到后天: one intent, the wording says which."""

    def name(self) -> str:
        return ACTION_MY_APPOINTMENT

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        text = tracker.latest_message.get("text")
        request = booking_request(text)
        day = entity(tracker, "date")
        if request == "change":
            day = day or _day_words(text)
            period = visit_period(text)
            reply = await in_session(lambda s: change_answer(s, tracker.sender_id, day, period))
        elif request == "cancel" and left_booking_form(tracker.events):
            # "不约了 取消预约" while booking: the booking being made is dropped, not one made earlier.
            reply = Reply.of("utter_form_cancelled")
        elif request == "cancel":
            reply = await in_session(lambda s: cancel_answer(s, tracker.sender_id, day))
        else:
            reply = await in_session(lambda s: check_answer(s, tracker.sender_id))
        reply.send(dispatcher)
        return []


def left_booking_form(events: list[dict[str, Any]]) -> bool:
    """True when this message just ended a booking form (action_leave_form after the last user message,
    and the booking form was the loop running when the message came)."""
    last_user = max((i for i, e in enumerate(events) if e.get("event") == "user"), default=-1)
    if last_user < 0:
        return False
    after = events[last_user + 1:]
    if not any(e.get("event") == "action" and e.get("name") == "action_leave_form" for e in after):
        return False
    loops = [e.get("name") for e in events[:last_user] if e.get("event") == "active_loop"]
    return bool(loops) and loops[-1] == "book_appointment_form"


def _day_words(text: str | None) -> str | None:
    """The part after 改到/换到/挪到 when the NLU found no date entity ("改到礼拜五吧")."""
    for marker in ("改到", "换到", "挪到", "推到", "改成", "换成"):
        if text and marker in text:
            return text.split(marker, 1)[1].strip(" 吧呗行不好吗？?。")
    return None
