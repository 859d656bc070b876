"""Handoff to relationship managers: routing state, notes, satisfaction ratings, console sessions.

``Conversation`` keeps the ownership state (bot | queued | agent | closed); the row here keeps what
routing and timeouts need, one per conversation, so the conversations table stays channel-neutral.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow

SESSION_STAGES = ("full", "code", "enrol")
ROUTE_SCOPES = ("rm", "branch", "any")  # who may take a queued conversation, widened by timeouts


class HandoffState(Base):
    __tablename__ = "handoff_states"

    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), primary_key=True)
    reason: Mapped[str] = mapped_column(String(32), default="")  # request_human | complaint | fallback | ...
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), nullable=True)
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), nullable=True, index=True)
    preferred_rm_id: Mapped[int | None] = mapped_column(ForeignKey("relationship_managers.id"), nullable=True)
    tier: Mapped[str] = mapped_column(String(8), default="普通")
    route_scope: Mapped[str] = mapped_column(String(8), default="branch")  # ROUTE_SCOPES
    scope_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    assigned_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    # Oldest customer message the owning RM has not answered yet (drives the no-answer timeout).
    awaiting_since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    last_position_told: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message_offered_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    awaiting_message: Mapped[bool] = mapped_column(default=False)
    # After hand-back: "score" while the 1–5 question is open, "reason" while the optional reason is.
    rating_step: Mapped[str | None] = mapped_column(String(8), nullable=True)
    rating_rm_id: Mapped[int | None] = mapped_column(ForeignKey("relationship_managers.id"), nullable=True)
    rating_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ConversationNote(Base):
    """An RM's internal note; never shown to the customer."""

    __tablename__ = "conversation_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    rm_id: Mapped[int] = mapped_column(ForeignKey("relationship_managers.id"))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ServiceRating(Base):
    """The customer's satisfaction (1–5) with one RM-handled episode."""

    __tablename__ = "service_ratings"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    rm_id: Mapped[int | None] = mapped_column(
        ForeignKey("relationship_managers.id"), nullable=True, index=True
    )
    branch_id: Mapped[int | None] = mapped_column(ForeignKey("branches.id"), nullable=True, index=True)
    score: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str | None] = mapped_column(String(500), nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class ConsoleSession(Base):
    """A logged-in RM console session. Only a hash of the cookie token is stored."""

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    rm_id: Mapped[int] = mapped_column(ForeignKey("relationship_managers.id"), index=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    # SESSION_STAGES: "full" may use the console; "code" waits for the TOTP code after the password;
    # "enrol" is a supervisor without a second factor who may only set one up.
    stage: Mapped[str] = mapped_column(String(8), default="full", server_default="full")
    code_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
