"""Read what the stored conversations already say, once, incrementally (by message id):

* a customer question an RM answered by hand joins the pool, with the RM's reply as a draft;
* a handoff because the bot did not understand ("fallback") adds the message that caused it;
* "都不是，转人工" after the FAQ's pick-list (the grey zone declined) adds the question asked;
* product interest in a customer message becomes a lead.

The gateway stores every message (masked) and every state change, so harvesting them needs no
hook in the message path; the action server records fallbacks and FAQ "not sure" as they happen
(``actions/insights.py``). Recording twice is harmless: the pool merges the same message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from sqlalchemy.orm import Session

from crm.access import insights as store
from crm.models.insights import PoolSource
from faq.text import strip_chatter
from insights.leads import detect

MESSAGES = "messages"
HANDOFFS = "handoffs"
DECLINE_TITLES = ("都不是",)
MIN_QUESTION_CHARS = 4  # "好的谢谢" and "嗯" are not questions


@dataclass
class HarvestReport:
    messages: int = 0
    rm_answered: int = 0
    not_understood: int = 0
    declined: int = 0
    leads: int = 0


def _is_question(text: str) -> bool:
    return len(strip_chatter(text)) >= MIN_QUESTION_CHARS and not text.startswith("/")


def harvest(session: Session, batch: int = 5000, max_batches: int = 40) -> HarvestReport:
    """Process the messages and handoffs stored since the last harvest; returns what it found.

    At most ``max_batches`` batches per call (a page load must not read years of history at
    once: the first harvest of a large bank continues on the next calls)."""
    report = HarvestReport()
    after = store.cursor(session, MESSAGES)
    for _ in range(max_batches):
        messages = store.messages_after(session, after, batch)
        if not messages:
            break
        for m in messages:
            report.messages += 1
            if m.direction == "in" and m.author == "customer":
                for interest in detect(m.text):
                    lead = store.record_lead(
                        session, m.conversation_id, interest.product, interest.trigger_words, m.text,
                        message_id=m.id, now=m.created_at,
                    )  # fmt: skip
                    report.leads += lead is not None
            elif m.author == "rm":
                for q in store.customer_turn_before(session, m.conversation_id, m.id):
                    if _is_question(q.text):
                        store.record_unanswered(
                            session, q.text, PoolSource.RM_ANSWERED, conversation_id=q.conversation_id,
                            message_id=q.id, rm_reply=m.text, now=q.created_at,
                        )  # fmt: skip
                        report.rm_answered += 1
        after = messages[-1].id
        store.move_cursor(session, MESSAGES, after)
    report_handoffs(session, report, batch, max_batches)
    return report


def _declined_faq_choice(buttons_json: str | None) -> bool:
    if not buttons_json:
        return False
    try:
        buttons = json.loads(buttons_json)
    except ValueError:
        return False
    return any(str(b.get("title", "")).startswith(DECLINE_TITLES) for b in buttons if isinstance(b, dict))


def report_handoffs(session: Session, report: HarvestReport, batch: int = 5000, max_batches: int = 40) -> None:
    after = store.cursor(session, HANDOFFS)
    for _ in range(max_batches):
        events = store.handoffs_after(session, after, batch)
        if not events:
            break
        for event in events:
            source: PoolSource | None = None
            if event.reason == "fallback":
                source = PoolSource.NOT_UNDERSTOOD
            elif event.reason == "request_human":
                offered = store.last_bank_message_before(session, event.conversation_id, event.at)
                if offered is not None and _declined_faq_choice(offered.buttons_json):
                    source = PoolSource.FAQ_DECLINED
                    turn = store.customer_turn_before(session, event.conversation_id, offered.id, limit=1)
                    for q in turn:
                        if _is_question(q.text):
                            store.record_unanswered(session, q.text, source, conversation_id=q.conversation_id,
                                                    message_id=q.id, now=q.created_at)
                            report.declined += 1
                    continue
            if source is None:
                continue
            asked = store.last_customer_message_before(session, event.conversation_id, event.at)
            if asked is not None and _is_question(asked.text):
                store.record_unanswered(session, asked.text, source, conversation_id=asked.conversation_id,
                                        message_id=asked.id, now=asked.created_at)
                report.not_understood += 1
        after = events[-1].id
        store.move_cursor(session, HANDOFFS, after)
