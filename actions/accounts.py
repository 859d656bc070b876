"""Balance questions for the verified owner."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import in_session, today, verified
from actions.texts import BIND_BUTTON, BIND_INVITATION
from core.masking import format_yuan
from crm.access.accounts import balances, customer_greeting
from crm.access.suggestions import suggestion

ACTION_CHECK_BALANCE = "action_check_balance"


def balance_answer(session: Session, sender_id: str) -> str:
    """The reply text for a balance question: the figures only for a verified owner."""
    who = verified(session, sender_id)
    if who is None:
        return BIND_INVITATION
    greeting = customer_greeting(session, who)
    rows = balances(session, who)
    if not rows:
        return f"{greeting.salutation}，您好！您名下暂时没有可查询的账户。"
    lines = [f"{greeting.salutation}，您好！您名下账户余额如下："]
    for row in rows:
        state = "" if row.status == "normal" else "（账户状态异常，请联系网点）"
        lines.append(f"· {row.kind} {row.masked_no}：可用余额 {format_yuan(row.balance)}{state}")
    return "\n".join(lines)


class ActionCheckBalance(Action):
    def name(self) -> str:
        return ACTION_CHECK_BALANCE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        def work(session: Session) -> tuple[str, str | None, bool]:
            who = verified(session, tracker.sender_id)
            tip = suggestion(session, who, "balance", today()) if who else None
            return balance_answer(session, tracker.sender_id), tip, who is not None

        text, tip, owner = await in_session(work)
        dispatcher.utter_message(text=text, buttons=[] if owner else [BIND_BUTTON])
        if tip:
            dispatcher.utter_message(text=tip)
        return []
