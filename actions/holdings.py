"""Loans, term deposits and points for the verified owner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import in_session, today, verified
from actions.reply import Reply
from actions.texts import deposit_list, loan_list
from crm.access.holdings import loans, points, term_deposits
from crm.access.identity import VerifiedCustomer
from crm.access.suggestions import suggestion

ACTION_CHECK_LOAN = "action_check_loan"
ACTION_CHECK_DEPOSIT = "action_check_deposit"
ACTION_CHECK_POINTS = "action_check_points"


def loan_answer(session: Session, who: VerifiedCustomer) -> Reply:
    rows = loans(session, who)
    return Reply.computed(loan_list(rows)) if rows else Reply.of("utter_no_loans")


def deposit_answer(session: Session, who: VerifiedCustomer) -> Reply:
    rows = term_deposits(session, who)
    return Reply.computed(deposit_list(rows)) if rows else Reply.of("utter_no_term_deposits")


def points_answer(session: Session, who: VerifiedCustomer) -> Reply:
    return Reply.of("utter_points", points=str(points(session, who)))


async def answer_for_owner(
    dispatcher: CollectingDispatcher,
    sender_id: str,
    body: Callable[[Session, VerifiedCustomer], Reply],
    topic: str | None = None,
) -> None:
    """Answer with ``body`` for a verified owner (plus at most one suggestion); else invite binding."""

    def work(session: Session) -> tuple[Reply, str | None] | None:
        who = verified(session, sender_id)
        if who is None:
            return None
        return body(session, who), (suggestion(session, who, topic, today()) if topic else None)

    result = await in_session(work)
    if result is None:
        dispatcher.utter_message(response="utter_bind_invitation")
        return
    reply, tip = result
    reply.send(dispatcher)
    if tip:
        dispatcher.utter_message(text=tip)


class ActionCheckLoan(Action):
    def name(self) -> str:
        return ACTION_CHECK_LOAN

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        await answer_for_owner(dispatcher, tracker.sender_id, loan_answer)
        return []


class ActionCheckDeposit(Action):
    def name(self) -> str:
        return ACTION_CHECK_DEPOSIT

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        await answer_for_owner(dispatcher, tracker.sender_id, deposit_answer, topic="deposit")
        return []


class ActionCheckPoints(Action):
    def name(self) -> str:
        return ACTION_CHECK_POINTS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        await answer_for_owner(dispatcher, tracker.sender_id, points_answer)
        return []
