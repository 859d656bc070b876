"""Access functions for the WeChat channel tables (dedupe, shared access token, send log)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from crm.models.base import utcnow
from crm.models.wechat import WeChatAccessToken, WeChatChoice, WeChatInbound, WeChatReplay, WeChatSendAttempt

PROCESSING = "processing"
REPLIED = "replied"
DEFERRED = "deferred"
DELIVERED = "delivered"
FAILED = "failed"


def digest(value: str) -> str:
    """sha256 hex digest used instead of openids and message ids in clear."""
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class InboundState:
    """What is known about one inbound message."""

    created: bool  # True: this caller claimed it and must process it
    status: str
    reply_text: str | None


# Hot-path statements are built once, on the tables (Core), not the classes: the ORM's bulk DML
# layer costs about 2.5x the CPU of the statement itself and nothing here needs loaded objects
# kept in step.
_INBOUND = cast(Table, WeChatInbound.__table__)
_CHOICES = cast(Table, WeChatChoice.__table__)
_REPLAY = cast(Table, WeChatReplay.__table__)
_CLAIM = insert(_INBOUND)


def claim_inbound(session: Session, dedupe_key: str, openid: str, *, commit: bool = True) -> InboundState:
    """Claim an inbound message for processing, or report the existing claim.

    Must be the first statement in ``session``'s transaction: on a duplicate the session is
    rolled back. The claim is committed immediately so other processes see it, unless
    ``commit`` is False: then it commits with the caller's transaction (a concurrent claim of the
    same key waits for that transaction on the unique index and fails once it commits).
    """
    # A Core INSERT (not session.add): this runs on every callback and the unit of work
    # costs more than the statement itself.
    now = utcnow()
    params = {
        "dedupe_key": digest(dedupe_key), "recipient_hash": digest(openid), "status": PROCESSING,
        "created_at": now, "updated_at": now,
    }  # fmt: skip
    try:
        session.execute(_CLAIM, params)
        if commit:
            session.commit()
    except IntegrityError:
        session.rollback()
        state = read_inbound(session, dedupe_key)
        if state is None:  # pragma: no cover - the conflicting row cannot vanish this fast
            raise
        return state
    return InboundState(created=True, status=PROCESSING, reply_text=None)


def read_inbound(session: Session, dedupe_key: str) -> InboundState | None:
    """Current state of an inbound message, or None if it was never claimed."""
    row = session.scalars(select(WeChatInbound).where(WeChatInbound.dedupe_key == digest(dedupe_key))).first()
    if row is None:
        return None
    return InboundState(created=False, status=row.status, reply_text=row.reply_text)


_FINISH = (
    update(_INBOUND)
    .where(_INBOUND.c.dedupe_key == bindparam("key"))
    .values(status=bindparam("status"), reply_text=bindparam("reply_text"), updated_at=bindparam("updated_at"))
)


def finish_inbound(session: Session, dedupe_key: str, status: str, reply_text: str | None = None) -> None:
    """Record the outcome of processing (and the passive reply retries must repeat)."""
    session.execute(
        _FINISH, {"key": digest(dedupe_key), "status": status, "reply_text": reply_text, "updated_at": utcnow()}
    )


def purge_inbound(session: Session, older_than: dt.datetime) -> int:
    """Delete inbound rows created before ``older_than`` (retries stop after ~15 s).

    Returns:
        The number of rows deleted.
    """
    result = session.execute(delete(WeChatInbound).where(WeChatInbound.created_at < older_than))
    return int(getattr(result, "rowcount", 0) or 0)


def purge_replies(session: Session, older_than: dt.datetime) -> int:
    """Blank the stored passive replies of messages finished before ``older_than``.

    The reply is kept only so WeChat's retries (within ~15 s) get the same answer; after that it is
    customer data nobody needs. The row itself (digests only) stays for dedupe until ``purge_inbound``.

    Returns:
        The number of replies blanked.
    """
    result = session.execute(
        update(WeChatInbound)
        .where(WeChatInbound.reply_text.is_not(None), WeChatInbound.updated_at < older_than)
        .values(reply_text=None)
    )
    return int(getattr(result, "rowcount", 0) or 0)


# --- replay protection (used when no Redis is configured) ---------------------------------


def remember_callback(
    session: Session, pair: str, message_key: str, expires_at: dt.datetime, now: dt.datetime
) -> bool:
    """Record that a callback used the (timestamp, nonce) ``pair`` for ``message_key``.

    Returns:
        True if the pair is new, its earlier use has expired, or it was used for the same message
        (WeChat's retry of it); False if it was used for another message: a replay. Commits.
    """
    pair_hash, message_hash = digest(pair), digest(message_key)
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    # RETURNING, not rowcount: psycopg reports -1 for an INSERT ... ON CONFLICT DO NOTHING.
    inserted = session.scalar(
        dialect.insert(_REPLAY)
        .values(pair_hash=pair_hash, message_hash=message_hash, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[_REPLAY.c.pair_hash])
        .returning(_REPLAY.c.pair_hash)
    )
    if inserted is not None:
        session.commit()
        return True
    # Someone used the pair: take it over only if that use has expired (one statement, so two
    # processes cannot both take it over).
    taken = session.scalar(
        update(_REPLAY)
        .where(_REPLAY.c.pair_hash == pair_hash, _REPLAY.c.expires_at <= now)
        .values(message_hash=message_hash, expires_at=expires_at)
        .returning(_REPLAY.c.pair_hash)
    )
    session.commit()
    if taken is not None:
        return True
    stored = session.scalar(select(_REPLAY.c.message_hash).where(_REPLAY.c.pair_hash == pair_hash))
    return stored == message_hash


def purge_replay(session: Session, now: dt.datetime) -> int:
    """Delete remembered pairs whose timestamp can no longer pass the clock check."""
    result = session.execute(delete(_REPLAY).where(_REPLAY.c.expires_at < now))
    return int(getattr(result, "rowcount", 0) or 0)


def forget_openid(session: Session, openid: str) -> None:
    """Delete this user's channel bookkeeping (unsubscribe: WeChat requires us to drop it)."""
    hashed = digest(openid)
    # Inbound rows only hold digests; keep them (so a retried unsubscribe is still deduplicated)
    # but drop any stored reply text.
    session.execute(update(WeChatInbound).where(WeChatInbound.recipient_hash == hashed).values(reply_text=None))
    session.execute(delete(WeChatSendAttempt).where(WeChatSendAttempt.recipient_hash == hashed))
    session.execute(delete(WeChatChoice).where(WeChatChoice.recipient_hash == hashed))


# --- numbered choices ---------------------------------------------------------------------


def save_choices(session: Session, openid: str, payloads: list[str]) -> None:
    """Remember the choices just shown (an empty list forgets the previous ones)."""
    # One statement, no read first: this runs with every reply. An upsert, so two messages of
    # one customer answered at once by two processes cannot collide on the key.
    hashed = digest(openid)
    if not payloads:
        session.execute(_FORGET_CHOICES, {"hashed": hashed})
        return
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    now = utcnow()
    session.execute(
        dialect.insert(_CHOICES)
        .values(recipient_hash=hashed, payloads=payloads, created_at=now)
        .on_conflict_do_update(
            index_elements=[_CHOICES.c.recipient_hash], set_={"payloads": payloads, "created_at": now}
        )
    )


_FORGET_CHOICES = delete(_CHOICES).where(_CHOICES.c.recipient_hash == bindparam("hashed"))


def resolve_choice(session: Session, openid: str, number: int, max_age: dt.timedelta) -> str | None:
    """The payload of choice ``number`` (1-based) if it was shown within ``max_age``."""
    row = session.get(WeChatChoice, digest(openid))
    if row is None or row.created_at < utcnow() - max_age:
        return None
    if 1 <= number <= len(row.payloads):
        return row.payloads[number - 1]
    return None


# --- access token -------------------------------------------------------------------------


def get_valid_token(session: Session, app_id: str, now: dt.datetime, margin_s: float) -> str | None:
    """The cached token if it stays valid for at least ``margin_s`` more seconds."""
    row = session.get(WeChatAccessToken, app_id)
    if row is None or not row.access_token or row.expires_at is None:
        return None
    if row.expires_at - dt.timedelta(seconds=margin_s) <= now:
        return None
    return row.access_token


def try_lock_token_refresh(session: Session, app_id: str, now: dt.datetime, lease_s: float) -> bool:
    """Take the refresh lease (committed); False if another process holds it."""
    if session.get(WeChatAccessToken, app_id) is None:
        session.add(WeChatAccessToken(app_id=app_id))
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
    result = session.execute(
        update(WeChatAccessToken)
        .where(WeChatAccessToken.app_id == app_id)
        .where((WeChatAccessToken.refresh_lock_until.is_(None)) | (WeChatAccessToken.refresh_lock_until < now))
        .values(refresh_lock_until=now + dt.timedelta(seconds=lease_s))
    )
    session.commit()
    return bool(getattr(result, "rowcount", 0))


def store_token(session: Session, app_id: str, token: str | None, expires_at: dt.datetime | None) -> None:
    """Save a freshly fetched token (or None after a failed fetch) and release the lease."""
    session.execute(
        update(WeChatAccessToken)
        .where(WeChatAccessToken.app_id == app_id)
        .values(access_token=token, expires_at=expires_at, refresh_lock_until=None, updated_at=utcnow())
    )


def release_token_lock(session: Session, app_id: str) -> None:
    """Give up the refresh lease without changing the token (the fetch failed)."""
    session.execute(update(WeChatAccessToken).where(WeChatAccessToken.app_id == app_id).values(refresh_lock_until=None))


def invalidate_token(session: Session, app_id: str, token: str) -> None:
    """Forget ``token`` after WeChat rejected it (40001), unless another process already replaced it."""
    session.execute(
        update(WeChatAccessToken)
        .where(WeChatAccessToken.app_id == app_id, WeChatAccessToken.access_token == token)
        .values(access_token=None, expires_at=None)
    )


# --- send log -----------------------------------------------------------------------------


def record_attempt(
    session: Session,
    *,
    send_id: str,
    kind: str,
    openid: str | None,
    attempt: int,
    outcome: str,
    errcode: int | None,
    duration_ms: int,
) -> None:
    """Log one API call. The openid is stored only as a digest."""
    record_attempts(session, [dict(send_id=send_id, kind=kind, openid=openid, attempt=attempt, outcome=outcome,
                                   errcode=errcode, duration_ms=duration_ms)])


def record_attempts(session: Session, attempts: Sequence[Mapping[str, Any]]) -> None:
    """Log many API calls in one statement (the sender's group commit writes a round at once);
    each mapping has :func:`record_attempt`'s keywords. Openids are stored only as digests."""
    if not attempts:
        return
    now = utcnow()
    rows = [
        {
            "send_id": a["send_id"], "kind": a["kind"],
            "recipient_hash": digest(a["openid"]) if a.get("openid") else None,
            "attempt": a["attempt"], "outcome": a["outcome"], "errcode": a.get("errcode"),
            "duration_ms": a.get("duration_ms", 0), "created_at": now,
        }
        for a in attempts
    ]  # fmt: skip
    # Core executemany on the table: no unit-of-work bookkeeping for rows nobody reads back here.
    session.execute(insert(cast(Table, WeChatSendAttempt.__table__)), rows)


def list_attempts(session: Session, send_id: str | None = None) -> list[WeChatSendAttempt]:
    """Attempts in insertion order, optionally for one send."""
    query = select(WeChatSendAttempt).order_by(WeChatSendAttempt.id)
    if send_id is not None:
        query = query.where(WeChatSendAttempt.send_id == send_id)
    return list(session.scalars(query))
