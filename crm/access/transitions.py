"""Who answers a conversation: its routing row and the guarded moves between states.

Every ownership change is a conditional UPDATE (``WHERE state = :from [AND rm_id = :rm]``): with
several gateway processes, exactly one of two racing moves wins and only the winner records a
``ConversationTransition``.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from crm.models import Conversation, ConversationTransition, utcnow
from crm.models.conversations import ConversationState
from crm.models.handoff import HandoffState

_KEEP: Any = object()


def handoff_state(session: Session, conv_id: int) -> HandoffState:
    """The conversation's routing row, created on first use."""
    hs = session.get(HandoffState, conv_id)
    if hs is None:
        hs = HandoffState(conversation_id=conv_id)
        session.add(hs)
        session.flush()
    return hs


def move(
    session: Session,
    conv: Conversation,
    from_state: ConversationState,
    to_state: ConversationState,
    actor: str,
    reason: str,
    *,
    rm_id: int | None = _KEEP,
    require_rm: int | None = _KEEP,
    values: dict[str, Any] | None = None,
) -> bool:
    """Move ``conv`` from ``from_state`` to ``to_state`` if (and only if) it is still there.

    Args:
        rm_id: new owner (omit to keep the current one).
        require_rm: only move if this RM owns the conversation (omit for no check).
        values: further Conversation columns to set in the same UPDATE.

    Returns:
        True if this call made the move (and recorded the transition).
    """
    now = utcnow()
    stmt = update(Conversation).where(Conversation.id == conv.id, Conversation.state == from_state)
    if require_rm is not _KEEP:
        stmt = stmt.where(Conversation.rm_id == require_rm)
    new: dict[str, Any] = {"state": to_state, "updated_at": now, **(values or {})}
    if rm_id is not _KEEP:
        new["rm_id"] = rm_id
    result = session.execute(stmt.values(**new).execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(conv)
        return False
    session.add(
        ConversationTransition(
            conversation_id=conv.id,
            from_state=from_state,
            to_state=to_state,
            actor=actor[:64],
            reason=reason[:64],
            at=now,
        )
    )
    session.flush()
    session.refresh(conv)
    return True
