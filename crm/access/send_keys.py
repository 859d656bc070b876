"""Out-of-turn messages (RM replies, queue updates): one ``outbound_sends`` key each, reserved with the message."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import Message
from crm.models.outbound import OutboundSend, OutboundSendStatus


def reserve_send(session: Session, msg: Message, channel: str, key: str) -> OutboundSend:
    """Reserve ``key`` for delivering ``msg`` (status ``pending``) in the transaction that stores it.

    A second message with the same key fails the whole transaction with IntegrityError (the
    unique key), so a repeated console request stores nothing twice.
    """
    row = OutboundSend(idempotency_key=key[:128], channel=channel, status=OutboundSendStatus.PENDING, message_id=msg.id)
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
                OutboundSend.status == OutboundSendStatus.PENDING,
                OutboundSend.message_id.is_not(None),
                OutboundSend.created_at < reserved_before,
            )
            .order_by(OutboundSend.id)
            .limit(limit)
        )
    )
