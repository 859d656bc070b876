"""Conversations and messages: recorded for every channel, read by the web chat and the RM console."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from core.masking import redact_customer_text
from crm.models import ChannelIdentity, Conversation, ConversationTransition, Message, utcnow
from crm.models.conversations import ConversationState, MessageDelivery
from crm.models.handoff import HandoffState


@dataclass(frozen=True)
class MessageView:
    id: int
    direction: str
    author: str
    text: str
    buttons: list[dict[str, str]]
    created_at: dt.datetime

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.id, "direction": self.direction, "author": self.author, "text": self.text,
            "buttons": self.buttons, "created_at": self.created_at.isoformat(),
        }


def sender_id_for(channel: str, external_id: str) -> str:
    return f"{channel}:{external_id}"


class ConversationKey(Protocol):
    """What recording a message needs of a conversation: a ``Conversation`` or a ``ConversationRef``."""

    @property
    def id(self) -> int: ...

    @property
    def identity_id(self) -> int: ...


@dataclass(frozen=True)
class ConversationRef:
    """A conversation as the message path first sees it: plain values from one Core query.

    Most messages go to the bot of a conversation with nothing pending; for those the gateway
    needs no ORM object (loading one cost more CPU than the query, profiled under bench.load).
    """

    id: int
    identity_id: int
    sender_id: str
    state: str
    consecutive_fallbacks: int
    # A handoff step waits for this customer's next message (a left message, a rating).
    handoff_waiting: bool


_IDENTITIES = cast(Table, ChannelIdentity.__table__)
_CONVERSATIONS = cast(Table, Conversation.__table__)
_HANDOFF_STATES = cast(Table, HandoffState.__table__)
# On the tables, not the classes: an ORM-enabled select costs more CPU than the query itself.
_CONVERSATION_REF = (
    select(
        _CONVERSATIONS.c.id, _CONVERSATIONS.c.identity_id, _CONVERSATIONS.c.sender_id, _CONVERSATIONS.c.state,
        _CONVERSATIONS.c.consecutive_fallbacks, _HANDOFF_STATES.c.awaiting_message, _HANDOFF_STATES.c.rating_step,
    )
    .join(_IDENTITIES, _IDENTITIES.c.id == _CONVERSATIONS.c.identity_id)
    .outerjoin(_HANDOFF_STATES, _HANDOFF_STATES.c.conversation_id == _CONVERSATIONS.c.id)
    .where(_IDENTITIES.c.channel == bindparam("channel"), _IDENTITIES.c.external_id == bindparam("external_id"))
    .order_by(_CONVERSATIONS.c.id.desc())
    .limit(1)
)  # fmt: skip


def find_conversation(session: Session, channel: str, external_id: str) -> ConversationRef | None:
    """The identity's current conversation as plain values (None: it has none yet); no ORM object."""
    row = session.execute(_CONVERSATION_REF, {"channel": channel, "external_id": external_id}).first()
    if row is None:
        return None
    return ConversationRef(
        id=row.id, identity_id=row.identity_id, sender_id=row.sender_id, state=row.state,
        consecutive_fallbacks=row.consecutive_fallbacks,
        handoff_waiting=bool(row.awaiting_message) or row.rating_step is not None,
    )  # fmt: skip


_IDENTITY_ID = select(_IDENTITIES.c.id).where(
    _IDENTITIES.c.channel == bindparam("channel"), _IDENTITIES.c.external_id == bindparam("external_id")
)
_INSERT_IDENTITY = insert(_IDENTITIES).returning(_IDENTITIES.c.id)
_INSERT_CONVERSATION = insert(_CONVERSATIONS).returning(_CONVERSATIONS.c.id)


def start_conversation(session: Session, channel: str, external_id: str) -> ConversationRef:
    """A new bot conversation for this identity, and the identity itself on its first contact.

    Core statements: a new customer's first message is common under a campaign's burst.
    """
    key = {"channel": channel, "external_id": external_id}
    identity_id = session.scalar(_IDENTITY_ID, key)
    if identity_id is None:
        identity_id = session.scalar(_INSERT_IDENTITY, key)
    sender_id = sender_id_for(channel, external_id)
    conv_id = session.scalar(
        _INSERT_CONVERSATION, {"identity_id": identity_id, "sender_id": sender_id, "state": ConversationState.BOT}
    )
    assert identity_id is not None and conv_id is not None
    return ConversationRef(
        conv_id, identity_id, sender_id, ConversationState.BOT, consecutive_fallbacks=0, handoff_waiting=False
    )


def open_conversation(session: Session, channel: str, external_id: str) -> Conversation:
    """The identity's current conversation (one per identity; a closed one is reopened for the bot)."""
    # One query on every message: the identity is only loaded when there is no conversation yet.
    conv = session.scalar(
        select(Conversation)
        .join(ChannelIdentity, ChannelIdentity.id == Conversation.identity_id)
        .where(ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id)
        .order_by(Conversation.id.desc())
        .limit(1)
    )
    if conv is None:
        conv = session.get_one(Conversation, start_conversation(session, channel, external_id).id)
    elif conv.state == ConversationState.CLOSED:
        transition(session, conv, ConversationState.BOT, actor="customer", reason="customer_returned")
    return conv


def transition(session: Session, conv: Conversation, to_state: str, actor: str, reason: str) -> None:
    session.add(
        ConversationTransition(
            conversation_id=conv.id, from_state=conv.state, to_state=to_state, actor=actor, reason=reason
        )
    )
    conv.state = to_state
    conv.updated_at = utcnow()


def record_message(
    session: Session,
    conv: Conversation,
    direction: str,
    author: str,
    text: str,
    buttons: list[dict[str, str]] | None = None,
    rm_id: int | None = None,
    delivery_status: str = MessageDelivery.DELIVERED,
) -> Message:
    msg = Message(
        conversation_id=conv.id, direction=direction, author=author, text=_stored_text(author, text), rm_id=rm_id,
        buttons_json=json.dumps(buttons, ensure_ascii=False) if buttons else None,
        delivery_status=delivery_status,
    )
    session.add(msg)
    if direction == "in":
        _touch_identity(session, conv.identity_id, utcnow())
    session.flush()
    return msg


@dataclass(frozen=True)
class NewMessage:
    """A message to record with ``record_messages``."""

    direction: str  # in | out
    author: str  # customer | bot | rm | system | campaign
    text: str
    buttons: list[dict[str, str]] | None = None


# Built once; the per-message path below runs on every customer message and reply. Core
# statements on the tables, not ORM-enabled ones on the classes: the ORM's bulk DML layer cost
# about 2.5x the CPU of the statement itself (profiled under bench.load), and nothing here needs
# the session's objects kept in step (no loaded object is read after these in the same session).
_MESSAGES = cast(Table, Message.__table__)
_INSERT_MESSAGE = insert(_MESSAGES)
_TOUCH_IDENTITY = (
    update(_IDENTITIES).where(_IDENTITIES.c.id == bindparam("identity_id")).values(last_inbound_at=bindparam("at"))
)


def record_messages(session: Session, conv: ConversationKey, messages: Sequence[NewMessage]) -> None:
    """Record a customer's message or the replies to it: one INSERT, no ORM unit of work.

    Like ``record_message`` but for the hot path, where nobody needs the new rows as objects.
    An inbound message also moves the identity's ``last_inbound_at`` (WeChat's 48-hour window).
    """
    if not messages:
        return
    now = utcnow()
    session.execute(
        _INSERT_MESSAGE,
        [
            {
                "conversation_id": conv.id, "direction": m.direction, "author": m.author,
                "text": _stored_text(m.author, m.text),
                "rm_id": None, "intent": None, "delivery_status": MessageDelivery.DELIVERED, "created_at": now,
                "buttons_json": json.dumps(m.buttons, ensure_ascii=False) if m.buttons else None,
            }
            for m in messages
        ],
    )  # fmt: skip
    if any(m.direction == "in" for m in messages):
        _touch_identity(session, conv.identity_id, now)


def _stored_text(author: str, text: str) -> str:
    """Transcripts (shown to RMs, kept for years) never hold the phone, ID or card numbers, SMS
    codes or ID tails a customer typed; the turn in flight still sees the original text."""
    return redact_customer_text(text) if author == "customer" else text


def _touch_identity(session: Session, identity_id: int, at: dt.datetime) -> None:
    session.execute(_TOUCH_IDENTITY, {"identity_id": identity_id, "at": at})


def view(msg: Message) -> MessageView:
    return MessageView(
        msg.id, msg.direction, msg.author, msg.text, json.loads(msg.buttons_json) if msg.buttons_json else [],
        msg.created_at,
    )


def messages_after(
    session: Session, channel: str, external_id: str, after_id: int = 0, limit: int = 200,
    since: dt.datetime | None = None,
) -> list[MessageView]:
    """Messages of this identity's conversations newer than ``after_id`` (for history and push).

    ``since``: only messages written from then on (the web chat's current visit, see
    ``crm.access.identity.expire_session``).
    """
    identity = session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )
    if identity is None:
        return []
    query = (
        select(Message)
        .join(Conversation, Conversation.id == Message.conversation_id)
        .where(Conversation.identity_id == identity.id, Message.id > after_id)
    )
    if since is not None:
        query = query.where(Message.created_at >= since)
    rows = session.scalars(query.order_by(Message.id).limit(limit))
    return [view(m) for m in rows]
