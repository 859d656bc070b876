"""Access functions for the voice of the customer (#23): the pool of unanswered questions,
intent reviews, leads and alerts. Callers pass a Session; nothing commits here.

Every text is masked on the way in (:func:`core.masking.redact_customer_text`), whatever the
caller already did: the pool and the leads are read by supervisors, exported to training files
and clustered, and must never carry a phone, ID or card number or a code.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from core.masking import redact_customer_text
from crm.access.identity import customer_of
from crm.access.tiers import customer_tier
from crm.models import Conversation, ConversationTransition, Message, RelationshipManager
from crm.models.base import utcnow
from crm.models.conversations import ConversationState
from crm.models.insights import (
    ClusterStatus,
    InsightAlert,
    InsightCluster,
    InsightCursor,
    Lead,
    LeadStatus,
    PoolSource,
    ReviewStatus,
    UnansweredQuestion,
)

# A message recorded twice (the action server saw a fallback, the gateway later saw the handoff or
# the RM's answer) is one pool entry: same conversation, same masked text, within this window.
MERGE_WINDOW = dt.timedelta(days=1)
MAX_TEXT = 500


class UnknownLead(LookupError):
    """No lead with that id (or not this RM's)."""


def masked(text: str) -> str:
    """The stored form of customer text: identifiers masked, trimmed, bounded."""
    return redact_customer_text(text.strip())[:MAX_TEXT]


def conversation_for_sender(session: Session, sender_id: str) -> Conversation | None:
    """The conversation behind a Rasa sender id (the newest, should there be several)."""
    stmt = select(Conversation).where(Conversation.sender_id == sender_id).order_by(Conversation.id.desc())
    return session.scalars(stmt.limit(1)).first()


def record_unanswered(
    session: Session,
    text: str,
    source: PoolSource | str,
    *,
    sender_id: str | None = None,
    conversation_id: int | None = None,
    message_id: int | None = None,
    intent: str | None = None,
    confidence: float | None = None,
    rm_reply: str | None = None,
    now: dt.datetime | None = None,
) -> UnansweredQuestion | None:
    """Put a customer message the bot could not answer into the pool (masked).

    The customer, branch and value tier are looked up from the conversation (verified customers
    only). Button payloads ("/request_human") and empty texts are not questions and are skipped.
    Returns the pool entry (an existing one when the same message was recorded before).
    """
    stored = masked(text)
    if not stored or stored.startswith("/"):
        return None
    now = now or utcnow()
    conv: Conversation | None = None
    if conversation_id is not None:
        conv = session.get(Conversation, conversation_id)
    elif sender_id is not None:
        conv = conversation_for_sender(session, sender_id)
    existing = _recorded_before(session, conv.id if conv else None, stored, message_id, now)
    if existing is not None:
        existing.message_id = existing.message_id or message_id
        existing.rm_reply = existing.rm_reply or (masked(rm_reply) if rm_reply else None)
        existing.intent = existing.intent or intent
        existing.confidence = existing.confidence if existing.confidence is not None else confidence
        return existing
    row = UnansweredQuestion(
        source=str(source), text=stored, conversation_id=conv.id if conv else None, message_id=message_id,
        intent=(intent or None) and intent[:48], confidence=confidence,
        rm_reply=masked(rm_reply) if rm_reply else None, created_at=now,
    )  # fmt: skip
    customer = customer_of(session, conv) if conv is not None else None
    if customer is not None:
        row.customer_id, row.branch_id = customer.id, customer.branch_id
        row.segment = customer_tier(session, customer.id)[:16]
    session.add(row)
    session.flush()
    return row


def _recorded_before(
    session: Session, conversation_id: int | None, text: str, message_id: int | None, now: dt.datetime
) -> UnansweredQuestion | None:
    if message_id is not None:
        found = session.scalars(select(UnansweredQuestion).where(UnansweredQuestion.message_id == message_id)).first()
        if found is not None:
            return found
    if conversation_id is None:
        return None
    stmt = select(UnansweredQuestion).where(
        UnansweredQuestion.conversation_id == conversation_id,
        UnansweredQuestion.text == text,
        UnansweredQuestion.created_at >= now - MERGE_WINDOW,
    )
    return session.scalars(stmt.order_by(UnansweredQuestion.id.desc()).limit(1)).first()


def pool_since(session: Session, since: dt.datetime, until: dt.datetime | None = None) -> list[UnansweredQuestion]:
    """Pool entries recorded in ``[since, until)``, oldest first."""
    stmt = select(UnansweredQuestion).where(UnansweredQuestion.created_at >= since)
    if until is not None:
        stmt = stmt.where(UnansweredQuestion.created_at < until)
    return list(session.scalars(stmt.order_by(UnansweredQuestion.id)))


# --- harvesting stored messages ----------------------------------------------------------------


@dataclass(frozen=True)
class StoredMessage:
    id: int
    conversation_id: int
    direction: str
    author: str
    text: str
    buttons_json: str | None
    created_at: dt.datetime


def _stored(m: Message) -> StoredMessage:
    return StoredMessage(m.id, m.conversation_id, m.direction, m.author, m.text, m.buttons_json, m.created_at)


def cursor(session: Session, name: str) -> int:
    row = session.get(InsightCursor, name)
    return row.last_id if row is not None else 0


def move_cursor(session: Session, name: str, last_id: int) -> None:
    row = session.get(InsightCursor, name)
    if row is None:
        session.add(InsightCursor(name=name, last_id=last_id, updated_at=utcnow()))
    else:
        row.last_id, row.updated_at = max(row.last_id, last_id), utcnow()
    session.flush()


def messages_after(session: Session, after_id: int, limit: int = 5000) -> list[StoredMessage]:
    """Stored messages with an id above ``after_id``, in id order (their text is already masked)."""
    stmt = select(Message).where(Message.id > after_id).order_by(Message.id).limit(limit)
    return [_stored(m) for m in session.scalars(stmt)]


def customer_turn_before(session: Session, conversation_id: int, before_id: int, limit: int = 3) -> list[StoredMessage]:
    """The customer's messages right before message ``before_id``: those after the previous
    message from the bank's side (bot, RM or system), at most ``limit``, oldest first."""
    stmt = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.id < before_id)
        .order_by(Message.id.desc())
        .limit(limit + 5)
    )
    turn: list[StoredMessage] = []
    for m in session.scalars(stmt):
        if m.direction != "in":
            if turn:
                break
            continue
        turn.append(_stored(m))
        if len(turn) >= limit:
            break
    return list(reversed(turn))


def last_bank_message_before(session: Session, conversation_id: int, at: dt.datetime) -> StoredMessage | None:
    stmt = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.direction == "out", Message.created_at <= at)
        .order_by(Message.id.desc())
        .limit(1)
    )
    m = session.scalars(stmt).first()
    return _stored(m) if m is not None else None


def last_customer_message_before(session: Session, conversation_id: int, at: dt.datetime) -> StoredMessage | None:
    stmt = (
        select(Message)
        .where(Message.conversation_id == conversation_id, Message.direction == "in", Message.created_at <= at)
        .order_by(Message.id.desc())
        .limit(1)
    )
    m = session.scalars(stmt).first()
    return _stored(m) if m is not None else None


@dataclass(frozen=True)
class HandoffEvent:
    id: int
    conversation_id: int
    reason: str
    at: dt.datetime


def handoffs_after(session: Session, after_id: int, limit: int = 5000) -> list[HandoffEvent]:
    """Conversations handed from the bot to the queue, after transition ``after_id``."""
    stmt = (
        select(ConversationTransition)
        .where(ConversationTransition.id > after_id, ConversationTransition.to_state == ConversationState.QUEUED)
        .order_by(ConversationTransition.id)
        .limit(limit)
    )
    return [HandoffEvent(t.id, t.conversation_id, t.reason, t.at) for t in session.scalars(stmt)]


def last_transition_id(session: Session) -> int:
    return int(session.scalar(select(func.coalesce(func.max(ConversationTransition.id), 0))) or 0)


# --- intent review ----------------------------------------------------------------------------


def pending_reviews(session: Session, limit: int = 100, max_confidence: float = 0.6) -> list[UnansweredQuestion]:
    """Fallback and low-confidence utterances nobody has reviewed yet, least confident first."""
    stmt = select(UnansweredQuestion).where(
        UnansweredQuestion.review_status == ReviewStatus.PENDING,
        (UnansweredQuestion.source == PoolSource.FALLBACK)
        | (UnansweredQuestion.confidence.is_not(None) & (UnansweredQuestion.confidence < max_confidence)),
    )
    order = (func.coalesce(UnansweredQuestion.confidence, 0.0), UnansweredQuestion.id)
    return list(session.scalars(stmt.order_by(*order).limit(limit)))


def review(session: Session, question_id: int, intent: str | None, reviewer: str) -> UnansweredQuestion:
    """Give a pooled utterance its right intent, or (``intent=None``) mark it out of scope."""
    row = session.get(UnansweredQuestion, question_id)
    if row is None:
        raise LookupError(question_id)
    row.review_status = ReviewStatus.ASSIGNED if intent else ReviewStatus.OUT_OF_SCOPE
    row.reviewed_intent = intent[:48] if intent else None
    row.reviewer, row.reviewed_at = reviewer[:64], utcnow()
    session.flush()
    return row


def reviewed_examples(session: Session) -> list[tuple[str, str]]:
    """``(intent, masked text)`` of every utterance a reviewer gave an intent, in review order."""
    stmt = select(UnansweredQuestion.reviewed_intent, UnansweredQuestion.text).where(
        UnansweredQuestion.review_status == ReviewStatus.ASSIGNED, UnansweredQuestion.reviewed_intent.is_not(None)
    )
    return [(str(i), str(t)) for i, t in session.execute(stmt.order_by(UnansweredQuestion.reviewed_at))]


# --- clusters -------------------------------------------------------------------------------------


def get_cluster(session: Session, cluster_id: int) -> InsightCluster | None:
    return session.get(InsightCluster, cluster_id)


def cluster_members(session: Session, cluster_id: int) -> list[UnansweredQuestion]:
    stmt = select(UnansweredQuestion).where(UnansweredQuestion.cluster_id == cluster_id)
    return list(session.scalars(stmt.order_by(UnansweredQuestion.id)))


def open_clusters(session: Session) -> list[InsightCluster]:
    stmt = (
        select(InsightCluster).where(InsightCluster.status == ClusterStatus.OPEN).order_by(InsightCluster.size.desc())
    )
    return list(session.scalars(stmt))


# --- leads ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LeadOutcome:
    """What segment and campaign code reads of a lead: who, which product, how it ended."""

    customer_id: int
    product: str
    status: str
    created_at: dt.datetime
    outcome_at: dt.datetime | None


def record_lead(
    session: Session,
    conversation_id: int,
    product: str,
    trigger_words: Sequence[str],
    text: str,
    message_id: int | None = None,
    now: dt.datetime | None = None,
) -> Lead | None:
    """A lead from product interest in chat; one per message and product kind. The customer's RM
    and branch follow the verified customer (a visitor's interest is kept without them)."""
    if message_id is not None:
        found = session.scalars(select(Lead).where(Lead.message_id == message_id)).first()
        if found is not None:
            return found
    conv = session.get(Conversation, conversation_id)
    if conv is None:
        return None
    customer = customer_of(session, conv)
    if customer is not None:
        # One open lead per customer and product: a customer saying it twice is one lead.
        open_lead = session.scalars(
            select(Lead).where(
                Lead.customer_id == customer.id, Lead.product == product, Lead.status == LeadStatus.OPEN
            )
        ).first()
        if open_lead is not None:
            return open_lead
    words = masked("、".join(dict.fromkeys(trigger_words)))[:200]
    lead = Lead(
        customer_id=customer.id if customer else None, conversation_id=conversation_id, message_id=message_id,
        product=product[:16], trigger_words=words, text=masked(text), rm_id=customer.rm_id if customer else None,
        branch_id=customer.branch_id if customer else None, created_at=now or utcnow(),
    )  # fmt: skip
    session.add(lead)
    session.flush()
    return lead


def leads(
    session: Session,
    rm_id: int | None = None,
    customer_id: int | None = None,
    branch_id: int | None = None,
    status: str | None = None,
    limit: int = 200,
) -> list[Lead]:
    """Leads, newest first, filtered by RM (the RM's list), customer (the profile) or branch."""
    stmt = select(Lead)
    if rm_id is not None:
        stmt = stmt.where(Lead.rm_id == rm_id)
    if customer_id is not None:
        stmt = stmt.where(Lead.customer_id == customer_id)
    if branch_id is not None:
        stmt = stmt.where(Lead.branch_id == branch_id)
    if status is not None:
        stmt = stmt.where(Lead.status == status)
    return list(session.scalars(stmt.order_by(Lead.id.desc()).limit(limit)))


def set_lead_outcome(
    session: Session, lead_id: int, status: LeadStatus | str, by: str, note: str | None = None,
    rm_id: int | None = None, branch_id: int | None = None,
) -> Lead:
    """The RM records how a lead ended (won, lost, not interested). With ``rm_id``, only that
    RM's own leads can be changed; with ``branch_id`` (a supervisor), only the branch's leads:
    the customer's branch, or an RM of the branch follows it up."""
    value = LeadStatus(status)
    lead = session.get(Lead, lead_id)
    if lead is None or (rm_id is not None and lead.rm_id != rm_id):
        raise UnknownLead(lead_id)
    if branch_id is not None and lead.branch_id != branch_id:
        follower = session.get(RelationshipManager, lead.rm_id) if lead.rm_id else None
        if follower is None or follower.branch_id != branch_id:
            raise UnknownLead(lead_id)
    lead.status, lead.outcome_by, lead.outcome_at = value, by[:64], utcnow()
    if note is not None:
        lead.note = masked(note)
    session.flush()
    return lead


def lead_outcomes(session: Session, since: dt.datetime | None = None) -> list[LeadOutcome]:
    """Closed leads of known customers, for segment and campaign models (response propensity by
    product, customers not to approach again soon)."""
    stmt = select(Lead).where(Lead.customer_id.is_not(None), Lead.status != LeadStatus.OPEN)
    if since is not None:
        stmt = stmt.where(Lead.outcome_at >= since)
    return [
        LeadOutcome(int(lead.customer_id or 0), lead.product, lead.status, lead.created_at, lead.outcome_at)
        for lead in session.scalars(stmt.order_by(Lead.id))
    ]


# --- alerts -----------------------------------------------------------------------------------


def raise_alert(
    session: Session, branch_id: int, topic: str, day: dt.date, count: int, usual: float,
    cluster_id: int | None = None,
) -> InsightAlert:
    """An alert for a branch's topic on a day; raised again the same day it only updates the count."""
    topic = masked(topic)[:200]
    existing = session.scalars(
        select(InsightAlert).where(
            and_(InsightAlert.branch_id == branch_id, InsightAlert.topic == topic, InsightAlert.day == day)
        )
    ).first()
    if existing is not None:
        existing.count, existing.usual = max(existing.count, count), usual
        return existing
    alert = InsightAlert(branch_id=branch_id, topic=topic, day=day, count=count, usual=usual, cluster_id=cluster_id)
    session.add(alert)
    session.flush()
    return alert


def alerts(session: Session, branch_id: int | None = None, since: dt.date | None = None) -> list[InsightAlert]:
    """Alerts, newest first; a branch supervisor sees their branch's."""
    stmt = select(InsightAlert)
    if branch_id is not None:
        stmt = stmt.where(InsightAlert.branch_id == branch_id)
    if since is not None:
        stmt = stmt.where(InsightAlert.day >= since)
    return list(session.scalars(stmt.order_by(InsightAlert.day.desc(), InsightAlert.count.desc())))


# --- trends -----------------------------------------------------------------------------------


def handoff_reasons(session: Session, since: dt.datetime) -> dict[str, int]:
    """Why conversations went to a person since ``since``: reason -> count."""
    stmt = (
        select(ConversationTransition.reason, func.count())
        .where(ConversationTransition.to_state == ConversationState.QUEUED, ConversationTransition.at >= since)
        .group_by(ConversationTransition.reason)
    )
    return {str(reason): int(n) for reason, n in session.execute(stmt)}


def complaint_categories(session: Session, since: dt.datetime) -> dict[str, int]:
    """Complaint tickets since ``since`` by category."""
    from crm.models import Ticket

    stmt = (
        select(Ticket.category, func.count())
        .where(Ticket.kind == "complaint", Ticket.created_at >= since)
        .group_by(Ticket.category)
    )
    return {str(category or "其他"): int(n) for category, n in session.execute(stmt)}


def customer_texts_since(session: Session, since: dt.datetime, limit: int = 20000) -> list[tuple[dt.datetime, str]]:
    """The newest customer messages since ``since`` (masked as stored), for the sentiment trend."""
    stmt = (
        select(Message.created_at, Message.text)
        .where(Message.direction == "in", Message.author == "customer", Message.created_at >= since)
        .order_by(Message.id.desc())
        .limit(limit)
    )
    return [(at, str(text)) for at, text in session.execute(stmt)]
