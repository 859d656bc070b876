"""Voice of the customer (#23): the pool of questions the bot could not answer, the topics they
form, intent reviews, product-interest leads and spike alerts.

Every text here is stored masked (``core.masking.redact_customer_text``): phones, ID and card
numbers and codes never reach these tables.
"""

from __future__ import annotations

import datetime as dt
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, Date, Float, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class PoolSource(StrEnum):
    """Why a customer message joined the pool of unanswered questions."""

    FALLBACK = "fallback"  # the NLU did not understand it (core fallback)
    FAQ_UNSURE = "faq_unsure"  # the FAQ matcher was not sure and said so
    FAQ_DECLINED = "faq_declined"  # the customer declined every FAQ choice offered (grey zone)
    NOT_UNDERSTOOD = "not_understood"  # handed to a person because the bot did not understand
    RM_ANSWERED = "rm_answered"  # an RM answered it by hand


class ReviewStatus(StrEnum):
    PENDING = "pending"
    ASSIGNED = "assigned"  # a reviewer gave it the right intent
    OUT_OF_SCOPE = "out_of_scope"


class ClusterStatus(StrEnum):
    OPEN = "open"
    RESOLVED = "resolved"


class LeadStatus(StrEnum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"
    NOT_INTERESTED = "not_interested"


class UnansweredQuestion(Base):
    """One customer message the bot could not answer confidently."""

    __tablename__ = "insight_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(String(16), index=True)
    text: Mapped[str] = mapped_column(Text)  # masked
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    # The stored customer message, when known: harvesting is idempotent on it.
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), index=True)
    segment: Mapped[str | None] = mapped_column(String(16), nullable=True)  # value tier
    intent: Mapped[str | None] = mapped_column(String(48), nullable=True)  # Rasa's guess
    confidence: Mapped[float | None] = mapped_column(Float, nullable=True)  # Rasa's parse confidence
    rm_reply: Mapped[str | None] = mapped_column(Text, nullable=True)  # masked; a draft answer
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("insight_clusters.id"), index=True)
    review_status: Mapped[str] = mapped_column(String(16), default=ReviewStatus.PENDING, index=True)
    reviewed_intent: Mapped[str | None] = mapped_column(String(48), nullable=True)
    reviewer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class InsightCluster(Base):
    """A topic of unanswered questions; resolved by turning it into a knowledge point."""

    __tablename__ = "insight_clusters"

    id: Mapped[int] = mapped_column(primary_key=True)
    suggested_question: Mapped[str] = mapped_column(String(500))
    size: Mapped[int] = mapped_column(Integer, default=0)
    previous_size: Mapped[int] = mapped_column(Integer, default=0)  # same-length period before
    branches: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # branch name -> count
    segments: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # tier -> count
    status: Mapped[str] = mapped_column(String(12), default=ClusterStatus.OPEN, index=True)
    knowledge_point_id: Mapped[int | None] = mapped_column(ForeignKey("knowledge_point.id"), nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    resolved_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class Lead(Base):
    """Product interest a customer expressed in chat, for the RM to follow up."""

    __tablename__ = "insight_leads"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), nullable=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), unique=True)
    product: Mapped[str] = mapped_column(String(16), index=True)  # deposit | loan | wealth | pension
    trigger_words: Mapped[str] = mapped_column(String(200))  # masked
    text: Mapped[str] = mapped_column(Text)  # masked
    rm_id: Mapped[int | None] = mapped_column(ForeignKey("relationship_managers.id"), index=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default=LeadStatus.OPEN, index=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    outcome_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    outcome_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class InsightAlert(Base):
    """A topic at several times its usual daily volume at one branch: for that branch's supervisor."""

    __tablename__ = "insight_alerts"
    __table_args__ = (UniqueConstraint("branch_id", "topic", "day"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    branch_id: Mapped[int] = mapped_column(ForeignKey("branches.id"), index=True)
    topic: Mapped[str] = mapped_column(String(200))
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("insight_clusters.id"), nullable=True)
    day: Mapped[dt.date] = mapped_column(Date, index=True)
    count: Mapped[int] = mapped_column(Integer)
    usual: Mapped[float] = mapped_column(Float)  # mean daily count over the weeks before
    seen_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class InsightCursor(Base):
    """How far the harvest of stored messages has read (by message id), per kind of harvest."""

    __tablename__ = "insight_cursors"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
