"""Identity binding form: phone → last 6 of the ID number → one-time SMS code.

The phone and ID digits stay in slots only until the code is sent; then they are replaced by
placeholders, and the form's end clears everything. Replies never reveal whether the phone
belongs to a customer.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.context import in_session, settings, split_sender, verified
from actions.forms import FLOW_STATUS, digits, reset_slots
from actions.texts import BIND_ALREADY, BIND_EXPIRED, BIND_LOCKED, BIND_SUCCESS, BIND_WRONG_CODE, SYSTEM_BUSY
from crm.access.accounts import customer_greeting
from crm.access.identity import VerifyOutcome, get_or_create_identity, start_binding, verify_binding
from crm.errors import BindingLocked
from crm.sms import make_sms_sender

FORM = "bind_account_form"
ACTION_VALIDATE_BIND = "validate_bind_account_form"
ACTION_SUBMIT_BIND = "action_submit_bind"
SENT = "已提交"  # placeholder kept in the slots once the code has been requested
PHONE_RE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
ID6_RE = re.compile(r"(?<![\dXx])\d{5}[\dXx](?![\dXx])")


def _is_verified(sender_id: str) -> Any:
    return in_session(lambda s: verified(s, sender_id) is not None)


class ValidateBindAccountForm(FormValidationAction):
    def name(self) -> str:
        return ACTION_VALIDATE_BIND

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        # Already bound, locked out or expired: nothing more to ask, the submit action explains.
        if tracker.get_slot(FLOW_STATUS) in ("locked", "expired", "verified"):
            return []
        if tracker.get_slot("phone") is None and await _is_verified(tracker.sender_id):
            return []
        return domain_slots

    def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == SENT:
            return {"phone": value}
        found = PHONE_RE.search(digits(str(value)) if len(digits(str(value))) == 11 else str(value))
        if not found:
            dispatcher.utter_message(text="手机号好像不太对，请输入11位手机号码，例如 138 开头的那种。")
            return {"phone": None}
        return {"phone": found.group(0)}

    async def validate_id_last6(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == SENT:
            return {"id_last6": value}
        found = ID6_RE.findall(str(value).replace(" ", ""))
        phone = tracker.get_slot("phone")
        if not found or not phone or phone == SENT:
            dispatcher.utter_message(text="请输入身份证号码的最后6位（最后一位是X的请输入X）。")
            return {"id_last6": None}
        channel, external = split_sender(tracker.sender_id)

        def send(session: Session) -> str:
            identity = get_or_create_identity(session, channel, external)
            try:
                start_binding(session, identity, phone, found[-1], make_sms_sender(settings().sms_backend))
            except BindingLocked:
                return "locked"
            return "sent"

        outcome = await in_session(send)
        if outcome == "locked":
            return {"phone": None, "id_last6": None, FLOW_STATUS: "locked"}
        # From here on only placeholders remain: the digits are not kept in the conversation.
        return {"phone": SENT, "id_last6": SENT}

    async def validate_otp_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        code = digits(str(value))
        if len(code) != 6:
            dispatcher.utter_message(text="验证码是短信里的6位数字，请重新输入。")
            return {"otp_code": None}
        channel, external = split_sender(tracker.sender_id)

        def check(session: Session) -> VerifyOutcome:
            return verify_binding(session, get_or_create_identity(session, channel, external), code)

        outcome = await in_session(check)
        if outcome is VerifyOutcome.VERIFIED:
            return {"otp_code": SENT, FLOW_STATUS: "verified"}
        if outcome is VerifyOutcome.WRONG_CODE:
            dispatcher.utter_message(text=BIND_WRONG_CODE)
            return {"otp_code": None}
        status = "locked" if outcome is VerifyOutcome.LOCKED else "expired"
        return {"otp_code": None, FLOW_STATUS: status}


class ActionSubmitBind(Action):
    def name(self) -> str:
        return ACTION_SUBMIT_BIND

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        status = tracker.get_slot(FLOW_STATUS)
        if status == "locked":
            dispatcher.utter_message(text=BIND_LOCKED)
        elif status == "expired":
            dispatcher.utter_message(text=BIND_EXPIRED)
        else:

            def greet(session: Session) -> str | None:
                who = verified(session, tracker.sender_id)
                return customer_greeting(session, who).salutation if who else None

            salutation = await in_session(greet)
            if salutation is None:
                dispatcher.utter_message(text=SYSTEM_BUSY)
            elif status == "verified":
                dispatcher.utter_message(text=BIND_SUCCESS.format(salutation=salutation))
            else:
                dispatcher.utter_message(text=BIND_ALREADY)
        return reset_slots(FORM)
