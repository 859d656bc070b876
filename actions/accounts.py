"""Balance questions for the verified owner."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import in_session, today, verified
from actions.reply import Reply
from actions.texts import balance_list
from crm.access.accounts import balances, customer_greeting
from crm.access.suggestions import suggestion

ACTION_CHECK_BALANCE = "action_check_balance"


def balance_answer(session: Session, sender_id: str) -> Reply:
    """The reply to a balance question: the figures only for a verified owner."""
    who = verified(session, sender_id)
    if who is None:
        return Reply.of("utter_bind_invitation")
    greeting = customer_greeting(session, who)
    rows = balances(session, who)
    if not rows:
        return Reply.of("utter_no_accounts", salutation=greeting.salutation)
    return Reply.computed(balance_list(greeting.salutation, rows))


class ActionCheckBalance(Action):
    def name(self) -> str:
        return ACTION_CHECK_BALANCE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        def work(session: Session) -> tuple[Reply, str | None]:
            who = verified(session, tracker.sender_id)
            tip = suggestion(session, who, "balance", today()) if who else None
            return balance_answer(session, tracker.sender_id), tip

        reply, tip = await in_session(work)
        reply.send(dispatcher)
        if tip:
            dispatcher.utter_message(text=tip)
        return []
