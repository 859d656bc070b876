"""Identity binding form: phone → last 6 of the ID number → one-time SMS code.

Between the phone and the ID digits the phone waits in its slot sealed (``actions.sealed``), so
Rasa's tracker store never holds it in the clear; once the code is sent both slots hold
placeholders, and the form's end clears everything. Replies never reveal whether the phone
belongs to a customer.

Numbers are read through ``core.masking``'s digit normaliser, so 139 1234 5678, １３９…, 一三九…
and 170.0015.0003 all work; words, or the placeholder typed by the customer, are asked again.
"已发送" is said only for a request the OTP limits accepted (``crm.sms``); a refused one says which
wait applies. The client address the gateway saw arrives in the message metadata.
"""

from __future__ import annotations

import re
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.orm import Session

from actions.context import in_session, settings, split_sender, verified
from actions.forms import FLOW_STATUS, reset_slots
from actions.resume import answer_pending_question
from actions.sealed import seal, unseal
from core.masking import ascii_digits, number_runs
from crm.access.accounts import customer_greeting
from crm.access.identity import (
    VerificationPolicies,
    VerifyOutcome,
    get_or_create_identity,
    start_binding,
    verify_binding,
)
from crm.errors import BindingLocked
from crm.sms import OtpPolicy, OtpRefused
from outbound.sms.otp import make_otp_sender

FORM = "bind_account_form"
ACTION_VALIDATE_BIND = "validate_bind_account_form"
ACTION_SUBMIT_BIND = "action_submit_bind"
SENT = "已提交"  # placeholder kept in the slots once the code has been requested
THROTTLED = "throttled"  # flow_status when the OTP limits refused a code (the reason was said)
PHONE_RE = re.compile(r"(?:86)?(1[3-9]\d{9})")
ID6_RE = re.compile(r"\d{5}[\dX]")
ACTION_AFFIRM = "action_affirm"
ACTION_INFORM = "action_inform"
# Bot replies that invite the customer to bind (需要先验证身份…), and those that wait for a mobile number.
# Not utter_unsubscribe_not_bound: "好的" after "您还没有绑定账户，我们不会给您推送…" is an acknowledgement.
INVITATIONS = frozenset({
    "utter_bind_invitation", "utter_wealth_needs_binding", "utter_loss_needs_binding", "utter_appt_needs_binding",
    "utter_appointment_needs_binding", "utter_subscribe_not_bound",
})
# The metadata key under which Rasa notes the name of a response it sent. Not a response itself: spelled
# so that the scan for response names in tests/actions/test_domain_responses.py does not take it for one.
RESPONSE_NAME_KEY = "_".join(("utter", "action"))
ASKS_FOR_PHONE = frozenset({"utter_ask_phone", "utter_bind_phone_invalid", "utter_bind_phone_expired"})
CLIENT_ADDRESS = "client_address"  # message metadata the gateway sets (web chat: the visitor's address)


def _is_verified(sender_id: str) -> Any:
    return in_session(lambda s: verified(s, sender_id) is not None)


def _typed(value: Any, tracker: Tracker) -> bool:
    """Whether ``value`` is what the customer just typed (as opposed to a value this form set)."""
    return str(value).strip() == str(tracker.latest_message.get("text") or "").strip()


def phone_in(text: str) -> str | None:
    """The mobile number in what the customer typed, in any of the formats masking knows."""
    for run in number_runs(text):
        found = PHONE_RE.fullmatch(run.digits)
        if found:
            return found.group(1)
    found = PHONE_RE.fullmatch(ascii_digits(text))
    return found.group(1) if found else None


def id_last6_in(text: str) -> str | None:
    """The last six characters of an ID number (five digits and X allowed), however typed."""
    for run in reversed(number_runs(text)):
        tail = run.digits + (run.check or "")
        if ID6_RE.fullmatch(tail):
            return tail
    return None


def client_address(tracker: Tracker) -> str | None:
    metadata = tracker.latest_message.get("metadata") or {}
    address = metadata.get(CLIENT_ADDRESS) if isinstance(metadata, dict) else None
    return str(address)[:64] if address else None


def wait_words(seconds: int) -> str:
    """45 秒 / 3 分钟 / 2 小时: when the customer may ask for a code again, rounded up."""
    if seconds < 120:
        return f"{seconds} 秒"
    if seconds < 2 * 3600:
        return f"{(seconds + 59) // 60} 分钟"
    return f"{(seconds + 3599) // 3600} 小时"


def say_retry(dispatcher: CollectingDispatcher, refused: OtpRefused) -> None:
    """验证码发送太频繁了，请 45 秒后再试。 — which limit refused the code, and when to retry."""
    wait = wait_words(refused.retry_after_s)
    if refused.limit == "day":
        dispatcher.utter_message(response="utter_otp_daily_limit", wait=wait)
    elif refused.limit == "hour":
        dispatcher.utter_message(response="utter_otp_hourly_limit", wait=wait)
    else:
        dispatcher.utter_message(response="utter_otp_too_often", wait=wait)


class ValidateBindAccountForm(FormValidationAction):
    def name(self) -> str:
        return ACTION_VALIDATE_BIND

    async def required_slots(
        self, domain_slots: list[str], dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[str]:
        # Already bound, locked out, refused or expired: nothing more to ask, the submit action explains.
        if tracker.get_slot(FLOW_STATUS) in ("locked", "expired", "verified", THROTTLED):
            return []
        if tracker.get_slot("phone") is None and await _is_verified(tracker.sender_id):
            return []
        return domain_slots

    def validate_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if not _typed(value, tracker) and (value == SENT or unseal(value, settings().session_secret) is not None):
            return {"phone": value}
        found = phone_in(str(value))
        if not found:
            dispatcher.utter_message(response="utter_bind_phone_invalid")
            return {"phone": None}
        return {"phone": seal(found, settings().session_secret)}

    async def validate_id_last6(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        if value == SENT and not _typed(value, tracker):
            return {"id_last6": value}
        found = id_last6_in(str(value))
        phone = unseal(tracker.get_slot("phone"), settings().session_secret)
        if phone is None and tracker.get_slot("phone") not in (None, SENT):
            # The sealed phone expired (form left open too long) or the key changed: ask again.
            dispatcher.utter_message(response="utter_bind_phone_expired")
            return {"phone": None, "id_last6": None}
        if not found or not phone:
            dispatcher.utter_message(response="utter_bind_id_invalid")
            return {"id_last6": None}
        channel, external = split_sender(tracker.sender_id)
        address = client_address(tracker)

        def send(session: Session) -> str | OtpRefused:
            identity = get_or_create_identity(session, channel, external)
            try:
                outcome = start_binding(
                    session, identity, phone, found, make_otp_sender(settings()),
                    client_address=address, policy=OtpPolicy.from_settings(settings()),
                )  # fmt: skip
            except BindingLocked:
                return "locked"
            return outcome if isinstance(outcome, OtpRefused) else "sent"

        outcome = await in_session(send)
        if outcome == "locked":
            return {"phone": None, "id_last6": None, FLOW_STATUS: "locked"}
        if isinstance(outcome, OtpRefused):
            # No code went out: say so and when to retry, instead of "验证码已发送".
            say_retry(dispatcher, outcome)
            return {"phone": None, "id_last6": None, FLOW_STATUS: THROTTLED}
        # From here on only placeholders remain: the digits are not kept in the conversation.
        return {"phone": SENT, "id_last6": SENT}

    async def validate_otp_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        code = ascii_digits(str(value))
        if len(code) != 6:
            dispatcher.utter_message(response="utter_bind_code_invalid")
            return {"otp_code": None}
        channel, external = split_sender(tracker.sender_id)

        def check(session: Session) -> VerifyOutcome:
            identity = get_or_create_identity(session, channel, external)
            return verify_binding(
                session, identity, code, policy=OtpPolicy.from_settings(settings()),
                lasts=VerificationPolicies.from_settings(settings()),
            )

        outcome = await in_session(check)
        if outcome is VerifyOutcome.VERIFIED:
            return {"otp_code": SENT, FLOW_STATUS: "verified"}
        if outcome is VerifyOutcome.WRONG_CODE:
            dispatcher.utter_message(response="utter_bind_wrong_code")
            return {"otp_code": None}
        status = "locked" if outcome is VerifyOutcome.LOCKED else "expired"
        return {"otp_code": None, FLOW_STATUS: status}


class ActionSubmitBind(Action):
    def name(self) -> str:
        return ACTION_SUBMIT_BIND

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        status = tracker.get_slot(FLOW_STATUS)
        if status == THROTTLED:
            pass  # the validation already said why no code was sent and when to retry
        elif status == "locked":
            dispatcher.utter_message(response="utter_bind_locked")
        elif status == "expired":
            dispatcher.utter_message(response="utter_bind_expired")
        else:

            def greet(session: Session) -> str | None:
                who = verified(session, tracker.sender_id)
                return customer_greeting(session, who).salutation if who else None

            salutation = await in_session(greet)
            if salutation is None:
                dispatcher.utter_message(response="utter_system_busy")
            elif status == "verified":
                dispatcher.utter_message(response="utter_bind_success", salutation=salutation)
                await answer_pending_question(tracker, dispatcher)  # the question that needed binding (#20)
            else:
                dispatcher.utter_message(response="utter_bind_already")
        return reset_slots(FORM)


def last_bot_turn(tracker: Tracker) -> list[dict[str, Any]]:
    """The bot's messages between the customer's previous message and the latest one (oldest first)."""
    said: list[dict[str, Any]] = []
    users = 0
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "user":
            users += 1
            if users == 2:
                break
        elif kind == "bot" and users == 1:
            said.append(event)
    return list(reversed(said))


def _response_names(tracker: Tracker) -> set[str]:
    """The domain responses the bot sent in its last turn (Rasa notes each one's name in the metadata)."""
    names = set()
    for event in last_bot_turn(tracker):
        metadata = event.get("metadata") or {}
        if isinstance(metadata, dict) and metadata.get(RESPONSE_NAME_KEY):
            names.add(str(metadata[RESPONSE_NAME_KEY]))
    return names


def invited_to_bind(tracker: Tracker) -> bool:
    """Whether the bot's last turn invited the customer to verify and bind (需要先验证身份…)."""
    return bool(_response_names(tracker) & INVITATIONS)


def waiting_for_phone(tracker: Tracker) -> bool:
    """The last turn invited binding or asked for the mobile number (a form left since, say)."""
    return bool(_response_names(tracker) & (INVITATIONS | ASKS_FOR_PHONE))


class ActionAffirm(Action):
    """"好的 / 行 / 嗯": right after the invitation to bind it starts binding; otherwise 还有什么可以帮您."""

    def name(self) -> str:
        return ACTION_AFFIRM

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        if invited_to_bind(tracker):
            return [FollowupAction(FORM)]
        dispatcher.utter_message(response="utter_anything_else")
        return []


class ActionInform(Action):
    """A bare answer with no question asked. A mobile number typed right after the invitation to bind,
    or while the bot waits for one, starts binding with it (sealed: the digits are not kept in clear)."""

    def name(self) -> str:
        return ACTION_INFORM

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        phone = phone_in(str(tracker.latest_message.get("text") or ""))
        if phone and waiting_for_phone(tracker):
            return [SlotSet("phone", seal(phone, settings().session_secret)), FollowupAction(FORM)]
        dispatcher.utter_message(response="utter_inform_without_question")
        return []
