"""One question at a time: what a customer's message means to their open survey, and what comes next.

The chat side (``gateway/surveys.py``) asks :func:`open_for_identity` (or, for an SMS reply,
:func:`open_for_customer`) whether the customer has an invitation that really went out, is not
finished and has not expired; then :func:`take_message` decides: an answer (recorded, the next
question or the thanks follow), a refusal ("不想答": ended politely), or not an answer (the bot
answers it and the pending question is asked again afterwards; after a few such messages in a
row the survey lapses quietly, so it never follows the customer into unrelated conversations).

An unhappy score (NPS ≤ 6, CSAT ≤ 2) opens a 回访 task for the customer's RM, due in working days
(statutory holidays and 调休 from :mod:`care.calendar`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from care import calendar as cal
from care.compliance import TZ
from care.survey_answers import Refusal, Score, read_answer
from care.survey_defs import Question, SurveyDef, from_row
from core.masking import redact_customer_text
from crm.models import CallbackTask, Delivery, Survey, SurveyAnswer, SurveyResponse
from crm.models.care import DeliveryStatus
from crm.models.surveys import OPEN_RESPONSE_STATUSES, ResponseStatus

# Non-answers in a row after which the survey lapses (the customer is busy with something else).
MAX_MISSES = 2
REASK_PREFIX = "顺便说一句，刚才的问题您还没回答："
REFUSED_REPLY = "好的，不打扰您了。感谢您一直以来的支持，有需要随时找我！"
_NOTHING_MORE = re.compile(r"^(没有|没了|无|没什么|没啥|暂时没有|没有了|没意见|都挺好|没有建议)[了啦的呀啊。！!，, ]*$")
_A_QUESTION = re.compile(r"[?？]|[吗呢么]$|转人工|人工客服|怎么办|怎么弄|多少钱|多少")


@dataclass(frozen=True)
class Turn:
    """What to do with one message: ``answered``/``refused`` carry the reply; ``not_answer`` the
    re-ask (sent after the bot's reply); ``lapsed`` nothing (the bot answers as usual)."""

    kind: str  # answered | refused | not_answer | lapsed
    reply: str | None = None
    response_id: int | None = None
    finished: bool = False


def is_unhappy(scale: str, score: int) -> bool:
    return score <= 6 if scale == "nps" else score <= 2


def working_days_after(day: dt.date, n: int) -> dt.date:
    """The ``n``-th working day after ``day`` (statutory holidays off, 调休 Saturdays on)."""
    d = day
    left = max(n, 0)
    while left:
        d += dt.timedelta(days=1)
        if cal.day_info(d).is_workday:
            left -= 1
    return d


def _open_stmt(now: dt.datetime):  # type: ignore[no-untyped-def]
    return (
        select(SurveyResponse)
        .join(Delivery, Delivery.idempotency_key == SurveyResponse.delivery_key)
        .where(
            SurveyResponse.status.in_(OPEN_RESPONSE_STATUSES),
            SurveyResponse.expires_at > now,
            Delivery.status == DeliveryStatus.SENT,
        )
        .order_by(SurveyResponse.id.desc())
        .limit(1)
    )


def open_for_identity(session: Session, identity_id: int, now: dt.datetime) -> SurveyResponse | None:
    """The open survey sent to this chat identity (WeChat openid or web chat id), if any."""
    stmt = _open_stmt(now).where(SurveyResponse.identity_id == identity_id)
    return session.scalars(stmt).first()


def open_for_customer(session: Session, customer_id: int, channel: str, now: dt.datetime) -> SurveyResponse | None:
    """The open survey sent to this customer on ``channel`` (SMS replies)."""
    stmt = _open_stmt(now).where(SurveyResponse.customer_id == customer_id, SurveyResponse.channel == channel)
    return session.scalars(stmt).first()


def definition_of(session: Session, response: SurveyResponse) -> SurveyDef:
    survey = session.get(Survey, response.survey_id)
    assert survey is not None
    return from_row(survey)


def take_message(
    session: Session, response: SurveyResponse, text: str, now: dt.datetime, *, single_question: bool = False
) -> Turn:
    """Apply one customer message to the open ``response`` (see the module docstring).

    ``single_question``: SMS surveys ask only the first question (a reply digit), then thank.
    """
    survey = definition_of(session, response)
    if response.question_index >= len(survey.questions):
        response.status = ResponseStatus.COMPLETED
        return Turn("lapsed")
    question = survey.questions[response.question_index]
    answer = _read(question, text)
    response.last_activity_at = now
    if isinstance(answer, Refusal):
        response.status = ResponseStatus.REFUSED
        response.completed_at = now
        return Turn("refused", REFUSED_REPLY, response.id, finished=True)
    if answer is None:
        response.misses += 1
        if response.misses > MAX_MISSES:
            response.status = ResponseStatus.LAPSED
            return Turn("lapsed", response_id=response.id)
        return Turn("not_answer", REASK_PREFIX + question.prompt(), response.id)
    _record(session, response, survey, question, answer, now)
    response.misses = 0
    response.question_index += 1
    if single_question or response.question_index >= len(survey.questions):
        response.status = ResponseStatus.COMPLETED
        response.completed_at = now
        return Turn("answered", survey.thanks, response.id, finished=True)
    response.status = ResponseStatus.ANSWERING
    following = survey.questions[response.question_index]
    return Turn("answered", f"收到，谢谢您！\n{following.prompt()}", response.id)


_Answer = Score | Refusal | str | tuple[str, str]  # score, refusal, a choice, ("text", comment)


def _read(question: Question, text: str) -> _Answer | None:
    t = text.strip()
    if question.kind in ("nps", "csat"):
        return read_answer(t, question.kind)  # type: ignore[arg-type]
    first = read_answer(t, "csat")
    if isinstance(first, Refusal):
        return first
    if question.kind == "choice":
        digits = re.fullmatch(r"\s*(?:选|第)?\s*(\d{1,2})\s*(?:个|项|号)?\s*[。.！!]?\s*", t)
        if digits and 1 <= int(digits.group(1)) <= len(question.options):
            return question.options[int(digits.group(1)) - 1]
        for option in question.options:
            if option in t:
                return option
        return None
    if _NOTHING_MORE.match(t):
        return ("text", "")
    if _A_QUESTION.search(t):
        return None
    return ("text", redact_customer_text(t)[:500])


def _record(
    session: Session, response: SurveyResponse, survey: SurveyDef, question: Question, answer: _Answer, now: dt.datetime
) -> None:
    row = SurveyAnswer(response_id=response.id, question=question.code, kind=question.kind, answered_at=now)
    if isinstance(answer, Score):
        row.score = answer.value
    elif isinstance(answer, tuple):
        row.comment = answer[1] or None
    elif isinstance(answer, str):
        row.choice = answer[:64]
    session.add(row)
    if isinstance(answer, Score) and is_unhappy(question.kind, answer.value):
        open_callback(session, response, survey, question.kind, answer.value, now)


def open_callback(
    session: Session, response: SurveyResponse, survey: SurveyDef, scale: str, score: int, now: dt.datetime
) -> CallbackTask:
    """The 回访 task for this response (one per response, for the customer's RM)."""
    found = session.scalar(select(CallbackTask).where(CallbackTask.response_id == response.id))
    if found is not None:
        return found
    today = now.astimezone(TZ).date()
    task = CallbackTask(
        response_id=response.id,
        customer_id=response.customer_id,
        rm_id=response.rm_id,
        branch_id=response.branch_id,
        scale=scale,
        score=score,
        due_on=working_days_after(today, survey.callback_working_days),
        created_at=now,
    )
    session.add(task)
    session.flush()
    return task
