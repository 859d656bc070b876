"""Transactions (流水) for a time range, ten lines at a time with a 更多 button."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import entity, in_session, today, verified
from actions.normalise import mentions
from actions.reply import Reply
from actions.texts import MORE_BUTTON, pension_text, statement_page
from crm.access.pension import last_pension_credit
from crm.access.transactions import TxPage, transactions
from crm.timeparse import DateRange, parse_range

ACTION_CHECK_TRANSACTIONS = "action_check_transactions"
ACTION_SHOW_MORE = "action_show_more"
SLOT_FROM, SLOT_TO, SLOT_PAGE, SLOT_TAIL = "tx_from", "tx_to", "tx_page", "tx_card_tail"


WIDER_DAYS = 30  # "工资到了没" on the 7th: nothing in the last 7 days, but the salary came on the 30th
VAGUE_PERIODS = ("最近", "近期", "这几天", "这两天", "近来")


async def _answer(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    period: DateRange,
    page_no: int,
    tail: str | None,
    widen: bool = False,
) -> list[EventType]:
    """One page of the statement; ``widen``: when the customer named no period and the default one is
    empty, look back WIDER_DAYS days before saying there is nothing."""

    def work(session: Session) -> TxPage | None:
        who = verified(session, tracker.sender_id)
        return transactions(session, who, period, page_no, tail) if who else None

    page = await in_session(work)
    if page is not None and page.total == 0 and widen:
        period = DateRange(period.end - dt.timedelta(days=WIDER_DAYS - 1), period.end)
        page = await in_session(work)
    if page is None:
        dispatcher.utter_message(response="utter_bind_invitation")
        return []
    if page.total == 0:
        dispatcher.utter_message(response="utter_no_transactions", period=period.label())
    else:
        more = [MORE_BUTTON] if page.has_more else []
        dispatcher.utter_message(text=statement_page(page, period), buttons=more)
    return [
        SlotSet(SLOT_FROM, period.start.isoformat()),
        SlotSet(SLOT_TO, period.end.isoformat()),
        SlotSet(SLOT_PAGE, float(page_no)),
        SlotSet(SLOT_TAIL, tail),
    ]


PENSION_WORDS = ("养老金", "退休金", "养老钱", "退休工资", "养老保险")


def pension_answer(session: Session, sender_id: str) -> Reply:
    """养老金到账了没: the last pension credit's date and amount (verified owners only)."""
    who = verified(session, sender_id)
    if who is None:
        return Reply.of("utter_bind_invitation")
    credit = last_pension_credit(session, who)
    return Reply.computed(pension_text(credit)) if credit else Reply.of("utter_no_pension")


class ActionCheckTransactions(Action):
    def name(self) -> str:
        return ACTION_CHECK_TRANSACTIONS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        phrase = entity(tracker, "time_range") or entity(tracker, "date")
        if mentions(tracker.latest_message.get("text"), *PENSION_WORDS):  # "养老金这个月到了没": the last credit
            (await in_session(lambda s: pension_answer(s, tracker.sender_id))).send(dispatcher)
            return []
        period = parse_range(phrase, today())
        vague = not phrase or phrase.strip() in VAGUE_PERIODS
        return await _answer(dispatcher, tracker, period, 0, entity(tracker, "card_tail"), widen=vague)


class ActionShowMore(Action):
    """更多: the next page of the last statement asked for."""

    def name(self) -> str:
        return ACTION_SHOW_MORE

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        start, end = tracker.get_slot(SLOT_FROM), tracker.get_slot(SLOT_TO)
        if not start or not end:
            period = parse_range(None, today())
            return await _answer(dispatcher, tracker, period, 0, None)
        period = DateRange(dt.date.fromisoformat(start), dt.date.fromisoformat(end))
        page_no = int(tracker.get_slot(SLOT_PAGE) or 0) + 1
        return await _answer(dispatcher, tracker, period, page_no, tracker.get_slot(SLOT_TAIL))
