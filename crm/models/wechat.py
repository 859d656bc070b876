"""WeChat channel bookkeeping shared by every gateway process.

Nothing here identifies a customer in clear: inbound dedupe keys and send recipients are
stored as sha256 digests, so an unsubscribe only has to delete rows by digest.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from crm.models.base import Base, UTCDateTime, utcnow


class WeChatInbound(Base):
    """One inbound message or event, claimed by the first process that sees it.

    The unique ``dedupe_key`` is what makes WeChat's retries (5 s apart, 3 times) safe across
    several gateway processes: the INSERT of a retry fails and it waits for this row instead.
    """

    __tablename__ = "wechat_inbound"

    id: Mapped[int] = mapped_column(primary_key=True)
    # sha256 of "msg:<openid>:<MsgId>" or "evt:<openid>:<CreateTime>"
    dedupe_key: Mapped[str] = mapped_column(String(64), unique=True)
    recipient_hash: Mapped[str] = mapped_column(String(64), index=True)
    # processing -> replied | deferred -> delivered | failed
    status: Mapped[str] = mapped_column(String(16))
    # The passive reply given, kept only so a retry gets the same answer; purged after minutes.
    reply_text: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WeChatAccessToken(Base):
    """The account's API access token, fetched by one process and used by all.

    ``refresh_lock_until`` is a short lease so only one process calls /cgi-bin/token at a time
    (each fetch invalidates the previous token after a few minutes).
    """

    __tablename__ = "wechat_access_token"

    app_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    access_token: Mapped[str | None] = mapped_column(String(512), nullable=True)
    expires_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refresh_lock_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class WeChatSendAttempt(Base):
    """Every call to a WeChat API (token, customer-service or template send), for audit and alerts."""

    __tablename__ = "wechat_send_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    send_id: Mapped[str] = mapped_column(String(36), index=True)  # groups retries of one send
    kind: Mapped[str] = mapped_column(String(16))  # token | custom | template
    recipient_hash: Mapped[str | None] = mapped_column(String(64), index=True, nullable=True)
    attempt: Mapped[int] = mapped_column(Integer)
    # ok | api_error | http_error | rejected (4xx, not WeChat) | network_error | ambiguous (may have arrived)
    outcome: Mapped[str] = mapped_column(String(16))
    errcode: Mapped[int | None] = mapped_column(Integer, nullable=True)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)


class WeChatChoice(Base):
    """The numbered choices last shown to a user (WeChat text has no buttons).

    When the user answers "1", the gateway sends the first button's payload instead.
    """

    __tablename__ = "wechat_choices"

    recipient_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    payloads: Mapped[list[str]] = mapped_column(JSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class WeChatReplay(Base):
    """A callback's (timestamp, nonce) pair, remembered while its timestamp can still pass the check.

    Used when no Redis is configured. ``message_hash`` binds the pair to one message of one
    sender: WeChat's retry of that message may come again, anything else with the pair is a replay.
    Rows past ``expires_at`` are dead and purged every minute, so the table stays small.
    """

    __tablename__ = "wechat_replay"

    pair_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    message_hash: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)
