"""Replies to care messages: an inbound WeChat or web chat message credits the care message it answers (#21).

``crm.care_access.record_reply`` credits the latest care message sent to the customer within the
attribution window (three days), once; the campaign report's reply rate counts those. SMS replies are
credited by the SMS callback (``gateway/sms_callbacks.py``); buttons the page sends (payloads) are not replies.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crm.care_access import record_reply
from crm.models import ChannelIdentity, utcnow

CHANNELS = frozenset({"wechat", "web"})


def credit_care_reply(session: Session, identity_id: int, channel: str, text: str) -> bool:
    """True if this message was counted as the reply to a care message."""
    if channel not in CHANNELS or text.startswith("/"):  # a button's payload, not the customer's words
        return False
    identity = session.get(ChannelIdentity, identity_id)
    if identity is None or identity.customer_id is None:
        return False
    return record_reply(session, identity.customer_id, now=utcnow())
