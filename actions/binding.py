"""Identity binding form: phone → last 6 of the ID number → one-time SMS code.

Between the phone and the ID digits the phone waits in its slot sealed (``actions.sealed``), so
Rasa's tracker store never holds it in the clear; once the code is sent both slots hold
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
from actions.sealed import seal, unseal
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
        if value == SENT or unseal(value, settings().session_secret) is not None:
            return {"phone": value}
        found = PHONE_RE.search(digits(str(value)) if len(digits(str(value))) == 11 else str(value))
        if not found:
            dispatcher.utter_message(text="手机号好像不太对，请输入11位手机号码，例如 138 开头的那种。")
            return {"phone": None}
        return {"phone": seal(found.group(0), settings().session_secret)}

    async def validate_id_last6(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == SENT:
            return {"id_last6": value}
        found = ID6_RE.findall(str(value).replace(" ", ""))
        phone = unseal(tracker.get_slot("phone"), settings().session_secret)
        if phone is None and tracker.get_slot("phone") not in (None, SENT):
            # The sealed phone expired (form left open too long) or the key changed: ask again.
            dispatcher.utter_message(text="时间有点久了，为了安全请重新输入一次手机号。")
            return {"phone": None, "id_last6": None}
        if not found or not phone:
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
