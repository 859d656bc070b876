"""Satisfaction surveys (#24): definitions, one response per invitation, answers, and 回访 tasks.

A survey invitation is an outbox row (``deliveries``) like a campaign message; its response row
carries the same idempotency key, so the chat side knows whether the invitation really went out.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class Survey(Base):
    __tablename__ = "surveys"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(48), unique=True)
    name: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSON)  # the YAML definition as loaded
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ResponseStatus(StrEnum):
    """Where one invitation stands (``survey_responses.status``)."""

    INVITED = "invited"  # planned; open for answers once its outbox row was sent
    ANSWERING = "answering"  # at least one answer, more questions to come
    COMPLETED = "completed"
    REFUSED = "refused"  # "不想答"
    LAPSED = "lapsed"  # expired, or the customer kept talking about other things


OPEN_RESPONSE_STATUSES = (ResponseStatus.INVITED, ResponseStatus.ANSWERING)


class SurveyResponse(Base):
    """One invitation to one customer, and how far they got.

    ``branch_id``, ``rm_id``, ``segment`` and ``channel`` are copied at planning time, so a report
    by branch or RM still counts the answer where the customer was served when asked.
    """

    __tablename__ = "survey_responses"
    __table_args__ = (
        UniqueConstraint("delivery_key"),
        Index("ix_survey_responses_customer_day", "customer_id", "invited_on"),
        Index("ix_survey_responses_identity_status", "identity_id", "status"),
        Index("ix_survey_responses_survey_id", "survey_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    survey_id: Mapped[int] = mapped_column(ForeignKey("surveys.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"))
    delivery_key: Mapped[str] = mapped_column(String(128))  # deliveries.idempotency_key
    channel: Mapped[str] = mapped_column(String(16))  # wechat | web | sms
    identity_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # channel_identities.id (chat)
    branch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    rm_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    segment: Mapped[str | None] = mapped_column(String(32), nullable=True)
    trigger: Mapped[str] = mapped_column(String(32))  # segment | branch_appointment | ... (audience event)
    status: Mapped[str] = mapped_column(String(12), default=ResponseStatus.INVITED.value)
    question_index: Mapped[int] = mapped_column(Integer, default=0)  # the question now pending
    misses: Mapped[int] = mapped_column(Integer, default=0)  # non-answers in a row (bot questions)
    invited_on: Mapped[dt.date] = mapped_column(Date)  # local day planned (the 90-day rule)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    last_activity_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class SurveyAnswer(Base):
    __tablename__ = "survey_answers"

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id"), index=True)
    question: Mapped[str] = mapped_column(String(32))  # the question's code in the definition
    kind: Mapped[str] = mapped_column(String(8))  # nps | csat | choice | text
    score: Mapped[int | None] = mapped_column(Integer, nullable=True)
    choice: Mapped[str | None] = mapped_column(String(64), nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)  # free text, numbers masked
    answered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class CallbackStatus(StrEnum):
    OPEN = "open"
    DONE = "done"  # the RM reached the customer and recorded what was said
    UNREACHABLE = "unreachable"  # tried, could not reach the customer


class CallbackTask(Base):
    """回访: an unhappy answer (NPS ≤ 6, CSAT ≤ 2) makes a call-back task for the customer's RM."""

    __tablename__ = "callback_tasks"
    __table_args__ = (
        UniqueConstraint("response_id"),
        Index("ix_callback_tasks_rm_status", "rm_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    response_id: Mapped[int] = mapped_column(ForeignKey("survey_responses.id"))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    rm_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    branch_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    scale: Mapped[str] = mapped_column(String(8))  # nps | csat
    score: Mapped[int] = mapped_column(Integer)
    due_on: Mapped[dt.date] = mapped_column(Date)  # in working days (statutory holidays and 调休)
    status: Mapped[str] = mapped_column(String(12), default=CallbackStatus.OPEN.value)
    outcome: Mapped[str | None] = mapped_column(Text, nullable=True)  # the RM's note, numbers masked
    closed_by: Mapped[int | None] = mapped_column(Integer, nullable=True)  # relationship_managers.id
    closed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
