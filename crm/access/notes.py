"""RMs' internal notes on a conversation (never shown to the customer)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import RelationshipManager
from crm.models.handoff import ConversationNote


def add_note(session: Session, conv_id: int, rm_id: int, text: str) -> ConversationNote:
    note = ConversationNote(conversation_id=conv_id, rm_id=rm_id, text=text)
    session.add(note)
    session.flush()
    return note


def notes(session: Session, conv_id: int) -> list[tuple[ConversationNote, str]]:
    """The conversation's notes, oldest first, each with its author's name."""
    rows = session.execute(
        select(ConversationNote, RelationshipManager.name)
        .join(RelationshipManager, RelationshipManager.id == ConversationNote.rm_id)
        .where(ConversationNote.conversation_id == conv_id)
        .order_by(ConversationNote.id)
    )
    return [(n, name) for n, name in rows]
