"""Loans, term deposits and points for the verified owner."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher
from sqlalchemy.orm import Session

from actions.context import in_session, today, verified
from actions.texts import BIND_BUTTON, BIND_INVITATION
from core.masking import format_yuan
from crm.access.holdings import loans, points, term_deposits
from crm.access.identity import VerifiedCustomer
from crm.access.suggestions import suggestion

ACTION_CHECK_LOAN = "action_check_loan"
ACTION_CHECK_DEPOSIT = "action_check_deposit"
ACTION_CHECK_POINTS = "action_check_points"


def pct(rate: Any) -> str:
    return f"{float(rate) * 100:.2f}%"


def day(d: Any) -> str:
    return f"{d.year}年{d.month}月{d.day}日"


def loan_text(session: Session, who: VerifiedCustomer) -> str:
    rows = loans(session, who)
    if not rows:
        return "您名下目前没有未结清的贷款。"
    out = ["您的贷款情况如下："]
    for r in rows:
        line = (
            f"· {r.product}（合同{r.contract}）：剩余本金{format_yuan(r.outstanding)}，"
            f"年利率{pct(r.rate)}，还剩{r.remaining_terms}期"
        )
        if r.next_due_on and r.next_due_amount is not None:
            line += f"；下次还款{day(r.next_due_on)}，应还{format_yuan(r.next_due_amount)}"
        if r.status == "overdue":
            line += "（已逾期，请尽快还款以免影响征信）"
        out.append(line + "。")
    out.append("请在还款日前把钱存到还款账户里，系统会自动扣款。")
    return "\n".join(out)


def deposit_text(session: Session, who: VerifiedCustomer) -> str:
    rows = term_deposits(session, who)
    if not rows:
        return "您名下目前没有定期存款。"
    out = ["您的定期存款如下："]
    for r in rows:
        renew = "，到期自动转存" if r.auto_renew else ""
        out.append(
            f"· {r.product}（{r.certificate}）：本金{format_yuan(r.amount)}，年利率{pct(r.rate)}，"
            f"{day(r.maturity_on)}到期，预计利息{format_yuan(r.expected_interest)}{renew}。"
        )
    return "\n".join(out)


def points_text(session: Session, who: VerifiedCustomer) -> str:
    return f"您当前的积分是{points(session, who)}分，可在手机银行“积分商城”兑换礼品或抵扣话费。"


async def answer_for_owner(
    dispatcher: CollectingDispatcher,
    sender_id: str,
    body: Callable[[Session, VerifiedCustomer], str],
    topic: str | None = None,
) -> None:
    """Answer with ``body`` for a verified owner (plus at most one suggestion); else invite binding."""

    def work(session: Session) -> tuple[str, str | None] | None:
        who = verified(session, sender_id)
        if who is None:
            return None
        return body(session, who), (suggestion(session, who, topic, today()) if topic else None)

    result = await in_session(work)
    if result is None:
        dispatcher.utter_message(text=BIND_INVITATION, buttons=[BIND_BUTTON])
        return
    text, tip = result
    dispatcher.utter_message(text=text)
    if tip:
        dispatcher.utter_message(text=tip)


class ActionCheckLoan(Action):
    def name(self) -> str:
        return ACTION_CHECK_LOAN

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        await answer_for_owner(dispatcher, tracker.sender_id, loan_text)
        return []


class ActionCheckDeposit(Action):
    def name(self) -> str:
        return ACTION_CHECK_DEPOSIT

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        await answer_for_owner(dispatcher, tracker.sender_id, deposit_text, topic="deposit")
        return []


class ActionCheckPoints(Action):
    def name(self) -> str:
        return ACTION_CHECK_POINTS

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[EventType]:
        await answer_for_owner(dispatcher, tracker.sender_id, points_text)
        return []
