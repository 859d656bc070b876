"""The queue of conversations waiting for an RM: service order, routing scope, place in line."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Conversation, RelationshipManager
from crm.models.conversations import ConversationState
from crm.models.handoff import HandoffState


def queued(session: Session) -> list[tuple[Conversation, HandoffState]]:
    """Every queued conversation in service order: higher priority first, then longest waiting."""
    rows = session.execute(
        select(Conversation, HandoffState)
        .join(HandoffState, HandoffState.conversation_id == Conversation.id)
        .where(Conversation.state == ConversationState.QUEUED)
        .order_by(Conversation.priority.desc(), Conversation.queued_at, Conversation.id)
    )
    return [(c, h) for c, h in rows]


def routed_to(rm: RelationshipManager, hs: HandoffState) -> bool:
    """Whether a queued conversation is currently offered to ``rm`` (the routing scope)."""
    if hs.route_scope == "any":
        return True
    if hs.route_scope == "rm":
        return hs.preferred_rm_id == rm.id or (rm.role == "supervisor" and hs.branch_id == rm.branch_id)
    return hs.branch_id == rm.branch_id


def position_in_queue(session: Session, conv: Conversation, hs: HandoffState) -> int:
    """1-based place among the queued conversations competing for the same RMs."""
    place = 1
    for other, other_hs in queued(session):
        if other.id == conv.id:
            return place
        if other_hs.route_scope == "any" or hs.route_scope == "any" or other_hs.branch_id == hs.branch_id:
            place += 1
    return place
