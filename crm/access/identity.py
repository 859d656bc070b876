"""Channel identities and verified binding (phone + last 6 of ID + one-time code)."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.errors import BindingLocked, NotVerified
from crm.models import AuditEvent, BindingChallenge, BindingLock, ChannelIdentity, Conversation, Customer, utcnow
from crm.sms import SmsSender

CODE_TTL = dt.timedelta(minutes=5)
MAX_FAILURES = 5
LOCK_FOR = dt.timedelta(minutes=30)


@dataclass(frozen=True)
class VerifiedCustomer:
    """Proof that a channel identity is bound to this customer and verified."""

    customer_id: int
    identity_id: int
    channel: str


class VerifyOutcome(StrEnum):
    VERIFIED = "verified"
    WRONG_CODE = "wrong_code"
    EXPIRED = "expired"
    LOCKED = "locked"
    NO_CHALLENGE = "no_challenge"


def get_or_create_identity(session: Session, channel: str, external_id: str) -> ChannelIdentity:
    identity = session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )
    if identity is None:
        identity = ChannelIdentity(channel=channel, external_id=external_id)
        session.add(identity)
        session.flush()
    return identity


def find_verified(session: Session, channel: str, external_id: str) -> VerifiedCustomer | None:
    identity = session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )
    if identity is None or identity.customer_id is None or identity.verified_at is None:
        return None
    return VerifiedCustomer(customer_id=identity.customer_id, identity_id=identity.id, channel=channel)


def require_verified(session: Session, channel: str, external_id: str) -> VerifiedCustomer:
    found = find_verified(session, channel, external_id)
    if found is None:
        raise NotVerified()
    return found


def customer_of(session: Session, conv: Conversation) -> Customer | None:
    """The verified customer behind a conversation (None for visitors and unverified bindings)."""
    identity = session.get(ChannelIdentity, conv.identity_id)
    if identity is None or identity.customer_id is None or identity.verified_at is None:
        return None
    return session.get(Customer, identity.customer_id)


def _hash_code(code: str, salt: str) -> str:
    return salt + "$" + hashlib.sha256((salt + code).encode()).hexdigest()


def _check_code(code: str, stored: str) -> bool:
    salt = stored.split("$", 1)[0]
    return hmac.compare_digest(_hash_code(code, salt), stored)


def _lock_state(session: Session, identity_id: int, now: dt.datetime) -> BindingLock:
    lock = session.get(BindingLock, identity_id)
    if lock is None:
        lock = BindingLock(identity_id=identity_id, failures=0)
        session.add(lock)
        session.flush()
    if lock.locked_until is not None and lock.locked_until <= now:
        lock.locked_until = None
        lock.failures = 0
    return lock


def start_binding(
    session: Session,
    identity: ChannelIdentity,
    phone: str,
    id_last6: str,
    sms: SmsSender,
    now: dt.datetime | None = None,
) -> None:
    """Send a one-time code if phone and ID digits match a customer.

    The caller always tells the user the same thing ("if the details match, a code was sent"),
    so nobody learns whether a phone number is a customer's. A challenge row is created either way.
    """
    now = now or utcnow()
    lock = _lock_state(session, identity.id, now)
    if lock.locked_until is not None:
        raise BindingLocked(int((lock.locked_until - now).total_seconds() // 60) + 1)
    phone = "".join(ch for ch in phone if ch.isdigit())
    id_last6 = id_last6.strip().upper()
    customer = session.scalar(select(Customer).where(Customer.phone == phone).limit(1))
    matched = customer is not None and customer.id_number.upper().endswith(id_last6) and len(id_last6) == 6
    code = f"{secrets.randbelow(10**6):06d}"
    salt = secrets.token_hex(8)
    challenge = BindingChallenge(
        identity_id=identity.id,
        customer_id=customer.id if matched and customer else None,
        code_hash=_hash_code(code, salt),
        expires_at=now + CODE_TTL,
    )
    session.add(challenge)
    session.flush()
    if matched:
        sms.send(
            session,
            phone,
            f"【农商银行】您的绑定验证码为{code}，5分钟内有效。如非本人操作请忽略，切勿告诉他人。",
            idempotency_key=f"bind:{challenge.id}",
        )
    session.add(AuditEvent(actor="bot", action="binding_started", detail={"identity_id": identity.id}))


def verify_binding(
    session: Session, identity: ChannelIdentity, code: str, now: dt.datetime | None = None
) -> VerifyOutcome:
    """Check the latest code; bind and verify the identity on success.

    Five wrong codes in a row lock binding for this identity for 30 minutes.
    """
    now = now or utcnow()
    lock = _lock_state(session, identity.id, now)
    if lock.locked_until is not None:
        return VerifyOutcome.LOCKED
    challenge = session.scalar(
        select(BindingChallenge)
        .where(BindingChallenge.identity_id == identity.id, BindingChallenge.consumed_at.is_(None))
        .order_by(BindingChallenge.id.desc())
        .limit(1)
    )
    if challenge is None:
        return VerifyOutcome.NO_CHALLENGE
    if challenge.expires_at <= now:
        challenge.consumed_at = now
        return VerifyOutcome.EXPIRED
    code = "".join(ch for ch in code if ch.isdigit())
    if challenge.customer_id is None or not _check_code(code, challenge.code_hash):
        challenge.attempts += 1
        lock.failures += 1
        if lock.failures >= MAX_FAILURES:
            lock.locked_until = now + LOCK_FOR
            challenge.consumed_at = now
            session.add(AuditEvent(actor="bot", action="binding_locked", detail={"identity_id": identity.id}))
            return VerifyOutcome.LOCKED
        return VerifyOutcome.WRONG_CODE
    challenge.consumed_at = now
    identity.customer_id = challenge.customer_id
    identity.verified_at = now
    lock.failures = 0
    session.add(
        AuditEvent(
            actor="bot",
            action="binding_verified",
            customer_id=challenge.customer_id,
            detail={"identity_id": identity.id, "channel": identity.channel},
        )
    )
    return VerifyOutcome.VERIFIED


def unbind(session: Session, identity: ChannelIdentity, reason: str) -> None:
    identity.customer_id = None
    identity.verified_at = None
    session.add(AuditEvent(actor="bot", action="unbound", detail={"identity_id": identity.id, "reason": reason}))
