"""Which conversations an RM may see: routed to them, their own, and for a supervisor their branch."""

from __future__ import annotations

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from crm.access.handoff_queue import queued, routed_to
from crm.access.presence import branch_of_rm
from crm.errors import NotFound
from crm.models import Conversation, RelationshipManager
from crm.models.conversations import ConversationState
from crm.models.handoff import HandoffState


def visible(session: Session, rm: RelationshipManager, conv_id: int) -> tuple[Conversation, HandoffState]:
    """The conversation if ``rm`` may see it, else NotFound (no hint that it exists).

    An RM sees what is routed to them in the queue and what they own; a supervisor also sees
    everything of their branch (the customer's branch, or owned by one of their RMs).
    """
    conv = session.get(Conversation, conv_id)
    hs = session.get(HandoffState, conv_id)
    if conv is None or hs is None:
        raise NotFound("conversation")
    if conv.rm_id == rm.id or (conv.state == ConversationState.QUEUED and routed_to(rm, hs)):
        return conv, hs
    if rm.role == "supervisor" and (
        hs.branch_id == rm.branch_id or branch_of_rm(session, conv.rm_id) == rm.branch_id
    ):
        return conv, hs
    raise NotFound("conversation")


def list_for(session: Session, rm: RelationshipManager) -> list[tuple[Conversation, HandoffState]]:
    """Queued conversations routed to ``rm``, their own, and for a supervisor the branch's live ones."""
    out = [
        (c, h)
        for c, h in queued(session)
        if routed_to(rm, h) or (rm.role == "supervisor" and h.branch_id == rm.branch_id)
    ]
    stmt = (
        select(Conversation, HandoffState)
        .join(HandoffState, HandoffState.conversation_id == Conversation.id)
        .where(Conversation.state == ConversationState.AGENT)
    )
    if rm.role == "supervisor":
        branch_rms = select(RelationshipManager.id).where(RelationshipManager.branch_id == rm.branch_id)
        stmt = stmt.where(
            or_(
                Conversation.rm_id == rm.id,
                Conversation.rm_id.in_(branch_rms),
                HandoffState.branch_id == rm.branch_id,
            )
        )
    else:
        stmt = stmt.where(Conversation.rm_id == rm.id)
    out.extend(session.execute(stmt.order_by(Conversation.updated_at.desc())))
    return out
