"""Data access for the RM handoff: guarded state moves, routing facts, queue order and visibility.

Every ownership change is a conditional UPDATE (``WHERE state = :from [AND rm_id = :rm]``): with
several gateway processes, exactly one of two racing moves wins and only the winner records a
``ConversationTransition``.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from crm.errors import NotFound
from crm.models import (
    Account,
    ChannelIdentity,
    Conversation,
    ConversationTransition,
    Customer,
    Message,
    RelationshipManager,
    TermDeposit,
    utcnow,
)
from crm.models.handoff import ConversationNote, HandoffState, ServiceRating
from crm.models.outbound import OutboundSend

VIP_TIERS = ("贵宾", "私行")
VIP_AUM = Decimal("500000")
PRIVATE_AUM = Decimal("6000000")
_KEEP: Any = object()


def customer_of(session: Session, conv: Conversation) -> Customer | None:
    """The verified customer behind a conversation (None for visitors and unverified bindings)."""
    identity = session.get(ChannelIdentity, conv.identity_id)
    if identity is None or identity.customer_id is None or identity.verified_at is None:
        return None
    return session.get(Customer, identity.customer_id)


def aum(session: Session, customer_id: int) -> Decimal:
    """Assets under management: current balances plus active term deposits."""
    balances = session.scalar(
        select(func.coalesce(func.sum(Account.balance), 0)).where(Account.customer_id == customer_id)
    )
    deposits = session.scalar(
        select(func.coalesce(func.sum(TermDeposit.amount), 0)).where(
            TermDeposit.customer_id == customer_id, TermDeposit.status == "active"
        )
    )
    return Decimal(str(balances or 0)) + Decimal(str(deposits or 0))


def tier_for(amount: Decimal) -> str:
    if amount >= PRIVATE_AUM:
        return "私行"
    if amount >= VIP_AUM:
        return "贵宾"
    return "潜力" if amount >= Decimal("50000") else "普通"


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
    from_state: str,
    to_state: str,
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


def is_online(rm: RelationshipManager, now: dt.datetime, presence_s: float) -> bool:
    return bool(rm.online and rm.last_seen_at and now - rm.last_seen_at <= dt.timedelta(seconds=presence_s))


def online_rms(
    session: Session, now: dt.datetime, presence_s: float, branch_id: int | None = None
) -> list[RelationshipManager]:
    """RMs and supervisors with a live console (``branch_id`` narrows to one branch)."""
    stmt = select(RelationshipManager).where(
        RelationshipManager.online.is_(True),
        RelationshipManager.last_seen_at >= now - dt.timedelta(seconds=presence_s),
    )
    if branch_id is not None:
        stmt = stmt.where(RelationshipManager.branch_id == branch_id)
    return list(session.scalars(stmt))


def touch_presence(session: Session, rm_id: int, now: dt.datetime) -> None:
    session.execute(
        update(RelationshipManager)
        .where(RelationshipManager.id == rm_id)
        .values(online=True, last_seen_at=now)
    )


def go_offline(session: Session, rm_id: int, *, stale_before: dt.datetime | None = None) -> bool:
    """Mark an RM offline; with ``stale_before`` only if their last heartbeat is older (race-safe)."""
    stmt = update(RelationshipManager).where(
        RelationshipManager.id == rm_id, RelationshipManager.online.is_(True)
    )
    if stale_before is not None:
        stmt = stmt.where(
            or_(RelationshipManager.last_seen_at.is_(None), RelationshipManager.last_seen_at < stale_before)
        )
    return bool(session.execute(stmt.values(online=False)).rowcount)  # type: ignore[attr-defined]


def queued(session: Session) -> list[tuple[Conversation, HandoffState]]:
    """Every queued conversation in service order: higher priority first, then longest waiting."""
    rows = session.execute(
        select(Conversation, HandoffState)
        .join(HandoffState, HandoffState.conversation_id == Conversation.id)
        .where(Conversation.state == "queued")
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


def branch_of_rm(session: Session, rm_id: int | None) -> int | None:
    rm = session.get(RelationshipManager, rm_id) if rm_id else None
    return rm.branch_id if rm else None


def visible(session: Session, rm: RelationshipManager, conv_id: int) -> tuple[Conversation, HandoffState]:
    """The conversation if ``rm`` may see it, else NotFound (no hint that it exists).

    An RM sees what is routed to them in the queue and what they own; a supervisor also sees
    everything of their branch (the customer's branch, or owned by one of their RMs).
    """
    conv = session.get(Conversation, conv_id)
    hs = session.get(HandoffState, conv_id)
    if conv is None or hs is None:
        raise NotFound("conversation")
    if conv.rm_id == rm.id or (conv.state == "queued" and routed_to(rm, hs)):
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
        .where(Conversation.state == "agent")
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


# --- out-of-turn messages: one outbound_sends key each, reserved with the message ---------------


def reserve_send(session: Session, msg: Message, channel: str, key: str) -> OutboundSend:
    """Reserve ``key`` for delivering ``msg`` (status ``pending``) in the transaction that stores it.

    A second message with the same key fails the whole transaction with IntegrityError (the
    unique key), so a repeated console request stores nothing twice.
    """
    row = OutboundSend(idempotency_key=key[:128], channel=channel, status="pending", message_id=msg.id)
    session.add(row)
    session.flush()
    return row


def message_for_key(session: Session, key: str) -> Message | None:
    """The message already stored under a console request's key (None: not seen before)."""
    return session.scalar(
        select(Message)
        .join(OutboundSend, OutboundSend.message_id == Message.id)
        .where(OutboundSend.idempotency_key == key[:128])
    )


def send_key_of(session: Session, message_id: int) -> str | None:
    return session.scalar(select(OutboundSend.idempotency_key).where(OutboundSend.message_id == message_id))


def never_tried(session: Session, reserved_before: dt.datetime, limit: int = 100) -> list[int]:
    """Messages whose send was reserved but never attempted (the gateway stopped right after the commit)."""
    return list(
        session.scalars(
            select(OutboundSend.message_id)
            .where(
                OutboundSend.status == "pending",
                OutboundSend.message_id.is_not(None),
                OutboundSend.created_at < reserved_before,
            )
            .order_by(OutboundSend.id)
            .limit(limit)
        )
    )


def add_note(session: Session, conv_id: int, rm_id: int, text: str) -> ConversationNote:
    note = ConversationNote(conversation_id=conv_id, rm_id=rm_id, text=text)
    session.add(note)
    session.flush()
    return note


def notes(session: Session, conv_id: int) -> list[tuple[ConversationNote, str]]:
    rows = session.execute(
        select(ConversationNote, RelationshipManager.name)
        .join(RelationshipManager, RelationshipManager.id == ConversationNote.rm_id)
        .where(ConversationNote.conversation_id == conv_id)
        .order_by(ConversationNote.id)
    )
    return [(n, name) for n, name in rows]


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


def rm_by_id(session: Session, rm_id: int) -> RelationshipManager:
    rm = session.get(RelationshipManager, rm_id)
    if rm is None:
        raise NotFound("rm")
    return rm


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
            ConversationTransition.from_state == "agent",
            ConversationTransition.to_state.in_(("bot", "closed")),
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
