"""Channel identities and verified binding (phone + last 6 of ID + one-time code)."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import select
from sqlalchemy.orm import Session

from core.masking import ascii_digits
from core.metrics import get_metrics
from crm.errors import BindingLocked, NotVerified
from crm.models import AuditEvent, BindingChallenge, ChannelIdentity, Conversation, Customer, utcnow
from crm.sms import (
    OtpPolicy,
    OtpRefused,
    OtpSent,
    SmsSender,
    clear_failures,
    code_matches,
    count_failure,
    hash_code,
    locked_until,
    send_binding_code,
)

CODE_TTL = dt.timedelta(minutes=5)


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


def _guard_keys(identity_id: int, phone_key: str | None) -> list[tuple[str, str]]:
    keys = [("identity", str(identity_id))]
    if phone_key:
        keys.append(("phone", phone_key))
    return keys


def _minutes_left(until: dt.datetime, now: dt.datetime) -> int:
    return int((until - now).total_seconds() // 60) + 1


def start_binding(
    session: Session,
    identity: ChannelIdentity,
    phone: str,
    id_last6: str,
    sms: SmsSender,
    now: dt.datetime | None = None,
    *,
    client_address: str | None = None,
    policy: OtpPolicy | None = None,
) -> OtpSent | OtpRefused:
    """Send a one-time code if phone and ID digits match a customer, within the OTP limits.

    ``OtpSent`` whether or not the details matched: the caller tells the user the same thing ("if
    the details match, a code was sent"), so nobody learns whether a phone number is a customer's;
    a challenge row is created either way and the request counts against the limits either way.
    ``OtpRefused`` says which limit and when to retry. Raises ``BindingLocked`` while too many
    wrong codes lock this identity or this phone.
    """
    now = now or utcnow()
    policy = policy or OtpPolicy()
    phone = ascii_digits(phone)
    phone_key = policy.subject("phone", phone)
    until = locked_until(session, _guard_keys(identity.id, phone_key), now)
    if until is not None:
        get_metrics().otp_requests.labels(outcome="refused").inc()
        get_metrics().otp_refusals.labels(scope="lock", limit="locked").inc()
        raise BindingLocked(_minutes_left(until, now))
    id_last6 = id_last6.strip().upper()
    customer = session.scalar(select(Customer).where(Customer.phone == phone).limit(1))
    matched = customer is not None and customer.id_number.upper().endswith(id_last6) and len(id_last6) == 6
    code = f"{secrets.randbelow(10**6):06d}"
    outcome = send_binding_code(
        session, sms, policy, phone=phone, identity_id=identity.id, client_address=client_address,
        code=code if matched else None, now=now,
    )  # fmt: skip
    if isinstance(outcome, OtpRefused):
        session.add(
            AuditEvent(
                actor="bot", action="binding_code_refused",
                detail={"identity_id": identity.id, "limit": outcome.reason},
            )
        )  # fmt: skip
        return outcome
    session.add(
        BindingChallenge(
            identity_id=identity.id,
            customer_id=customer.id if matched and customer else None,
            code_hash=hash_code(code, policy),
            phone_key=phone_key,
            expires_at=now + CODE_TTL,
        )
    )
    session.flush()
    session.add(AuditEvent(actor="bot", action="binding_started", detail={"identity_id": identity.id}))
    return outcome


def verify_binding(
    session: Session,
    identity: ChannelIdentity,
    code: str,
    now: dt.datetime | None = None,
    *,
    policy: OtpPolicy | None = None,
) -> VerifyOutcome:
    """Check the latest code; bind and verify the identity on success.

    Five wrong codes in a row lock binding for 30 minutes, both for this identity and for the
    phone the code was asked for (whichever identities the guesses came from).
    """
    outcome = _verify(session, identity, code, now or utcnow(), policy or OtpPolicy())
    get_metrics().otp_verifications.labels(outcome=outcome.value).inc()
    return outcome


def _verify(
    session: Session, identity: ChannelIdentity, code: str, now: dt.datetime, policy: OtpPolicy
) -> VerifyOutcome:
    challenge = session.scalar(
        select(BindingChallenge)
        .where(BindingChallenge.identity_id == identity.id, BindingChallenge.consumed_at.is_(None))
        .order_by(BindingChallenge.id.desc())
        .limit(1)
    )
    keys = _guard_keys(identity.id, challenge.phone_key if challenge else None)
    if locked_until(session, keys, now) is not None:
        return VerifyOutcome.LOCKED
    if challenge is None:
        return VerifyOutcome.NO_CHALLENGE
    if challenge.expires_at <= now:
        challenge.consumed_at = now
        return VerifyOutcome.EXPIRED
    code = ascii_digits(code)
    if challenge.customer_id is None or not code_matches(code, challenge.code_hash, policy):
        challenge.attempts += 1
        # Every row counts the failure (one UPDATE each), then any that reached the limit locks.
        locked = [count_failure(session, policy, scope, subject, now) for scope, subject in keys]
        if any(locked):
            challenge.consumed_at = now
            session.add(AuditEvent(actor="bot", action="binding_locked", detail={"identity_id": identity.id}))
            return VerifyOutcome.LOCKED
        return VerifyOutcome.WRONG_CODE
    challenge.consumed_at = now
    identity.customer_id = challenge.customer_id
    identity.verified_at = now
    clear_failures(session, keys, now)
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
