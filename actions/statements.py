"""Transactions (流水) for a time range, ten lines at a time with a 更多 button."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import entity, in_session, today, verified
from actions.texts import BIND_BUTTON, BIND_INVITATION, MORE_BUTTON
from core.masking import format_yuan
from crm.access.transactions import TxPage, transactions
from crm.timeparse import DateRange, parse_range

ACTION_CHECK_TRANSACTIONS = "action_check_transactions"
ACTION_SHOW_MORE = "action_show_more"
SLOT_FROM, SLOT_TO, SLOT_PAGE, SLOT_TAIL = "tx_from", "tx_to", "tx_page", "tx_card_tail"


def render(page: TxPage, period: DateRange) -> str:
    if page.total == 0:
        return f"{period.label()}，您的账户没有交易记录。"
    if page.page == 0:
        head = (
            f"{period.label()}共{page.total}笔交易，收入{format_yuan(page.income)}，"
            f"支出{format_yuan(page.expense)}。"
        )
    else:
        head = f"第{page.page * page.page_size + 1}至{page.page * page.page_size + len(page.lines)}笔："
    lines = [head]
    for line in page.lines:
        sign = "+" if line.amount > 0 else "-"
        who = f" {line.counterparty}" if line.counterparty else ""
        amount = f"{sign}{format_yuan(abs(line.amount))}"
        lines.append(f"{line.booked_at:%m-%d %H:%M} {line.account} {line.summary}{who} {amount}")
    if page.has_more:
        lines.append(f"还有{page.total - (page.page + 1) * page.page_size}笔，回复“更多”继续查看。")
    return "\n".join(lines)


async def _answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, period: DateRange, page_no: int, tail: str | None
) -> list[EventType]:
    def work(session: Session) -> TxPage | None:
        who = verified(session, tracker.sender_id)
        return transactions(session, who, period, page_no, tail) if who else None

    page = await in_session(work)
    if page is None:
        dispatcher.utter_message(text=BIND_INVITATION, buttons=[BIND_BUTTON])
        return []
    dispatcher.utter_message(text=render(page, period), buttons=[MORE_BUTTON] if page.has_more else [])
    return [
        SlotSet(SLOT_FROM, period.start.isoformat()),
        SlotSet(SLOT_TO, period.end.isoformat()),
        SlotSet(SLOT_PAGE, float(page_no)),
        SlotSet(SLOT_TAIL, tail),
    ]


class ActionCheckTransactions(Action):
    def name(self) -> str:
        return ACTION_CHECK_TRANSACTIONS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        phrase = entity(tracker, "time_range") or entity(tracker, "date")
        period = parse_range(phrase, today())
        return await _answer(dispatcher, tracker, period, 0, entity(tracker, "card_tail"))


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
