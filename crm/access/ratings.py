"""Customers' satisfaction ratings (1–5, optional reason) of RM-handled episodes."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.access.presence import branch_of_rm
from crm.errors import NotFound
from crm.models import Conversation, ConversationTransition, RelationshipManager
from crm.models.conversations import ConversationState
from crm.models.handoff import HandoffState, ServiceRating


def add_rating(session: Session, conv_id: int, rm_id: int | None, score: int) -> ServiceRating:
    if not 1 <= score <= 5:
        raise ValueError("score must be 1..5")
    rating = ServiceRating(
        conversation_id=conv_id, rm_id=rm_id, branch_id=branch_of_rm(session, rm_id), score=score
    )
    session.add(rating)
    session.flush()
    return rating


def set_rating_reason(session: Session, rating_id: int, reason: str) -> None:
    rating = session.get(ServiceRating, rating_id)
    if rating is None:
        raise NotFound("rating")
    rating.reason = reason[:500]


def rate_latest(session: Session, sender_id: str, score: int) -> ServiceRating | None:
    """Rate the sender's most recent RM-handled episode (when the customer rates without being asked).

    Returns None when no RM ever handled this conversation, or it is already rated.
    """
    conv = session.scalar(
        select(Conversation)
        .where(Conversation.sender_id == sender_id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if conv is None:
        return None
    handled_by: int | None = None
    last = session.scalar(
        select(ConversationTransition)
        .where(
            ConversationTransition.conversation_id == conv.id,
            ConversationTransition.from_state == ConversationState.AGENT,
            ConversationTransition.to_state.in_((ConversationState.BOT, ConversationState.CLOSED)),
        )
        .order_by(ConversationTransition.id.desc())
        .limit(1)
    )
    if last is None:
        return None
    if session.scalar(
        select(ServiceRating.id).where(
            ServiceRating.conversation_id == conv.id, ServiceRating.created_at >= last.at
        )
    ):
        return None
    if last.actor.startswith("rm:"):
        handled_by = session.scalar(
            select(RelationshipManager.id).where(RelationshipManager.code == last.actor[3:])
        )
    hs = session.get(HandoffState, conv.id)
    if hs is not None:
        hs.rating_step = None  # answered: the gateway stops waiting for the score
    return add_rating(session, conv.id, handled_by, score)
