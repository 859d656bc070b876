"""After a successful binding, answer the account question that asked for it (#20).

"俺卡里还剩多少钱" → bind invitation → binding form → 绑定成功 → the balance, without asking again.
"""

from __future__ import annotations

from collections.abc import Callable

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.accounts import balance_answer
from actions.bookings import check_answer
from actions.context import in_session, verified
from actions.holdings import deposit_answer, loan_answer, points_answer
from actions.products import wealth_answer
from actions.reply import Reply
from actions.statements import pension_answer
from crm.access.identity import VerifiedCustomer

# The account questions that end in a bind invitation, and the answer each gets once bound.
ANSWERS: dict[str, Callable[[Session, str, str], Reply | None]] = {
    "check_balance": lambda s, sender, _text: balance_answer(s, sender),
    "check_loan": lambda s, sender, _text: _owner(s, sender, loan_answer),
    "check_deposit": lambda s, sender, _text: _owner(s, sender, deposit_answer),
    "check_points": lambda s, sender, _text: _owner(s, sender, points_answer),
    "ask_wealth_product": lambda s, sender, text: wealth_answer(s, sender, text),
    "my_appointment": lambda s, sender, _text: check_answer(s, sender),
    "check_transactions": lambda s, sender, text: pension_answer(s, sender) if "养老" in text else None,
}
BIND_INTENTS = {"bind_account", "inform", "affirm"}


def _owner(session: Session, sender: str, body: Callable[[Session, VerifiedCustomer], Reply]) -> Reply | None:
    who = verified(session, sender)
    return body(session, who) if who else None


def question_before_binding(tracker: Tracker) -> tuple[str, str] | None:
    """The intent and text of the last account question asked before the binding form started."""
    started = False
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "active_loop" and event.get("name") == "bind_account_form":
            started = True
        elif kind == "user" and started:
            intent = (event.get("parse_data") or {}).get("intent", {}).get("name")
            if intent in ANSWERS:
                return str(intent), str(event.get("text") or "")
            if intent not in BIND_INTENTS:
                return None
    return None


async def answer_pending_question(tracker: Tracker, dispatcher: CollectingDispatcher) -> None:
    """Send the answer to the question that led to binding, if there was one (else nothing)."""
    asked = question_before_binding(tracker)
    if asked is None:
        return
    intent, text = asked
    reply = await in_session(lambda s: ANSWERS[intent](s, tracker.sender_id, text))
    if reply is not None:
        dispatcher.utter_message(response="utter_bind_then_answer")
        reply.send(dispatcher)
