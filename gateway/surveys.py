"""Surveys in the conversation: the hook the conversation core asks before the bot, and SMS replies.

When a customer whose invitation went out (and is neither finished nor expired) writes on the
channel it went to, the core asks :meth:`SurveyHook.pending` and then :meth:`SurveyHook.take`:

- an answer ("还行吧", "九分", "👍", "2") is recorded and the next question (or the thanks) is the
  reply; the bot never sees it;
- "不想答" ends the survey politely;
- anything else ("我卡里还有多少钱") goes to the bot as usual, and the pending question is asked
  again after the bot's reply ("顺便说一句，刚才的问题…"); a few such messages in a row and the
  survey lapses quietly.

The state is keyed on the channel identity the invitation was sent to, so it never appears in
another customer's or another channel's conversation. SMS replies come through
:func:`answer_from_sms`, called by the SMS inbound callback (``gateway/sms_callbacks.py``).
"""

from __future__ import annotations

import logging
import re
from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from care.survey_flow import open_for_customer, open_for_identity, take_message
from care.survey_planner import SMS
from crm.models import Customer, SurveyResponse
from crm.models.base import utcnow
from gateway.chat_types import BotReply

log = logging.getLogger(__name__)


class _Identified(Protocol):
    """What the hook needs of a conversation (``ConversationRef`` and ``Conversation`` both have it)."""

    @property
    def identity_id(self) -> int: ...


class SurveyHook:
    """The survey layer as the conversation core sees it (cf. the handoff's ``intercept``)."""

    def pending(self, session: Session, conversation: _Identified) -> int | None:
        """The open survey response for this conversation's channel identity, if any (one indexed query)."""
        response = open_for_identity(session, conversation.identity_id, utcnow())
        return response.id if response is not None else None

    def take(self, session: Session, response_id: int, text: str) -> tuple[list[BotReply] | None, tuple[BotReply, ...]]:
        """(replies instead of the bot, or None) and what to say after the bot's reply."""
        response = session.get(SurveyResponse, response_id)
        if response is None:
            return None, ()
        turn = take_message(session, response, text, utcnow())
        if turn.kind in ("answered", "refused") and turn.reply:
            return [BotReply(turn.reply)], ()
        if turn.kind == "not_answer" and turn.reply:
            return None, (BotReply(turn.reply),)
        return None, ()


def _phone_key(phone: str) -> str:
    digits = re.sub(r"\D", "", phone or "")
    return digits[-11:] if len(digits) >= 11 else digits


def answer_from_sms(session: Session, phone: str, text: str) -> str | None:
    """A customer's SMS reply to a survey invitation (e.g. "9", "不想答").

    Returns the text to send back (the thanks, or the polite goodbye), or None when the message is
    not a survey answer: no open SMS survey for this number, or not an answer (handle it as any
    other inbound SMS). SMS surveys ask only their first question. Runs in the caller's
    transaction; never logs the number.
    """
    key = _phone_key(phone)
    if not key:
        return None
    now = utcnow()
    for customer_id in session.scalars(select(Customer.id).where(Customer.phone == key)):
        response = open_for_customer(session, customer_id, SMS, now)
        if response is None:
            continue
        turn = take_message(session, response, text, now, single_question=True)
        if turn.kind in ("answered", "refused"):
            return turn.reply
        return None
    return None
