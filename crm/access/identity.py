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
from core.settings import Settings
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
class VerificationPolicy:
    """How long a verification lasts: ``idle`` after the last customer message, ``absolute`` at most."""

    idle: dt.timedelta
    absolute: dt.timedelta


@dataclass(frozen=True)
class VerificationPolicies:
    """The policy per channel. Defaults are the safe ones (core.settings has the same)."""

    web: VerificationPolicy = VerificationPolicy(dt.timedelta(minutes=15), dt.timedelta(hours=12))
    wechat: VerificationPolicy = VerificationPolicy(dt.timedelta(days=30), dt.timedelta(days=180))

    def of(self, channel: str) -> VerificationPolicy:
        """WeChat's for WeChat; every other channel gets the web chat's (the strictest)."""
        return self.wechat if channel == "wechat" else self.web

    @classmethod
    def from_settings(cls, settings: Settings) -> VerificationPolicies:
        minutes, hours, days = dt.timedelta(minutes=1), dt.timedelta(hours=1), dt.timedelta(days=1)
        return cls(
            web=VerificationPolicy(settings.web_verify_idle_minutes * minutes, settings.web_verify_max_hours * hours),
            wechat=VerificationPolicy(settings.wechat_verify_idle_days * days, settings.wechat_verify_max_days * days),
        )


DEFAULT_POLICIES = VerificationPolicies()


def verification_current(identity: ChannelIdentity, now: dt.datetime) -> bool:
    """THE rule every reader of account data obeys (action server, gateway, RM views alike).

    Bound, verified, and ``verified_until`` still ahead. ``verified_until`` is written only where
    the policy is known (``verify_binding``, ``note_activity``), so reading needs no settings and
    every process agrees on what the database says.
    """
    return (
        identity.customer_id is not None
        and identity.verified_at is not None
        and identity.verified_until is not None
        and now < identity.verified_until
    )


def _end_verification(session: Session, identity: ChannelIdentity, now: dt.datetime, reason: str) -> None:
    """End the verification. A WeChat openid stays bound (``customer_id``): it is the customer's own
    phone, and care messages (``care.compliance``) keep reaching it; a web chat id belongs to a device
    that may be shared, so it is unbound too (no care push lands in the next person's chat)."""
    customer_id = identity.customer_id
    if identity.channel != "wechat":
        identity.customer_id = None
    identity.verified_at = None
    identity.verified_until = None
    identity.active_at = None
    identity.session_since = now
    session.add(
        AuditEvent(
            actor="bot", action="verification_ended", customer_id=customer_id,
            detail={"identity_id": identity.id, "channel": identity.channel, "reason": reason},
        )
    )  # fmt: skip


def _past_maximum(identity: ChannelIdentity, now: dt.datetime, policy: VerificationPolicy) -> bool:
    return identity.verified_at is not None and now >= identity.verified_at + policy.absolute


def expire_session(
    session: Session,
    identity: ChannelIdentity,
    now: dt.datetime,
    policy: VerificationPolicy,
    *,
    with_rm: bool = False,
) -> bool:
    """Apply the expiry rule without counting activity (a page reading its history).

    A verification past ``verified_until`` ends (unbound, audited); a visit idle past ``policy.idle``
    ends too: ``session_since`` moves to now, so the web chat's history hides what came before.
    ``with_rm``: the conversation is waiting for or served by an RM. The customer is waiting on the
    bank, so idleness does not end the verification (only ``policy.absolute`` does): otherwise a
    customer who waited 20 minutes in the queue would reach an RM who can no longer see who they are.
    True when a verification ended just now.
    """
    if with_rm:
        lapsed = _past_maximum(identity, now, policy)
    else:
        lapsed = identity.verified_at is not None and not verification_current(identity, now)
    if lapsed:
        _end_verification(session, identity, now, "expired")
        identity.lapsed_at = now  # the next message hears why (``note_activity``), even after a page read
    elif not with_rm and identity.active_at is not None and now - identity.active_at >= policy.idle:
        identity.active_at = None
        identity.session_since = now
    return lapsed


def note_activity(
    session: Session,
    identity: ChannelIdentity,
    now: dt.datetime,
    policy: VerificationPolicy,
    *,
    with_rm: bool = False,
) -> bool:
    """A customer message: first the expiry rule, then the idle timeout starts again from now.

    Returns True when the verification had lapsed, now or at a page read since the last message (the
    caller tells the customer, once, why the bot asks for the code again). ``with_rm``: as in
    :func:`expire_session`.
    """
    expire_session(session, identity, now, policy, with_rm=with_rm)
    lapsed = identity.lapsed_at is not None
    identity.lapsed_at = None
    identity.active_at = now
    if identity.customer_id is not None and identity.verified_at is not None:
        if with_rm or verification_current(identity, now):
            identity.verified_until = min(now + policy.idle, identity.verified_at + policy.absolute)
    return lapsed


def log_out(session: Session, identity: ChannelIdentity, now: dt.datetime) -> None:
    """The customer ended the visit (web chat 退出): verification and the visible history end."""
    if identity.verified_at is not None or identity.customer_id is not None:
        _end_verification(session, identity, now, "logged_out")
    else:
        identity.active_at = None
        identity.session_since = now


def renew_demo_verification(
    session: Session, identity: ChannelIdentity, customer_id: int, now: dt.datetime, policy: VerificationPolicy
) -> None:
    """Demo mode only: picking a bound demo persona verifies it again (the demo bank has no SMS)."""
    identity.customer_id = customer_id
    identity.verified_at = now
    identity.verified_until = now + min(policy.idle, policy.absolute)
    identity.active_at = now


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


def find_identity(session: Session, channel: str, external_id: str) -> ChannelIdentity | None:
    return session.scalar(
        select(ChannelIdentity).where(
            ChannelIdentity.channel == channel, ChannelIdentity.external_id == external_id
        )
    )


def find_verified(
    session: Session, channel: str, external_id: str, now: dt.datetime | None = None
) -> VerifiedCustomer | None:
    """The verified customer behind this chat identity, None when unverified or lapsed."""
    identity = find_identity(session, channel, external_id)
    if identity is None or not verification_current(identity, now or utcnow()):
        return None
    assert identity.customer_id is not None
    return VerifiedCustomer(customer_id=identity.customer_id, identity_id=identity.id, channel=channel)


def require_verified(
    session: Session, channel: str, external_id: str, now: dt.datetime | None = None
) -> VerifiedCustomer:
    found = find_verified(session, channel, external_id, now)
    if found is None:
        raise NotVerified()
    return found


def customer_of(session: Session, conv: Conversation, now: dt.datetime | None = None) -> Customer | None:
    """The verified customer behind a conversation, for the bank's side (RM panel, routing, tickets,
    insights): None for visitors, unverified and ended verifications.

    Bank staff see who was verified in this visit until the verification is *ended* (the gateway
    ends it at the customer's next message or page read once it lapsed; ``with_rm`` keeps it while
    the customer waits for an RM). The idle clock alone does not hide the customer from the RM:
    nobody new has spoken, and the one who waits in the queue is still the verified customer. What
    the customer is shown in chat obeys :func:`verification_current`.
    """
    identity = session.get(ChannelIdentity, conv.identity_id)
    if identity is None or identity.customer_id is None or identity.verified_at is None:
        return None
    if identity.verified_until is None:
        return None  # a verification with no end recorded (before migration 0011) counts as lapsed
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
    lasts: VerificationPolicies = DEFAULT_POLICIES,
) -> VerifyOutcome:
    """Check the latest code; bind and verify the identity on success (for as long as ``lasts`` says).

    Five wrong codes in a row lock binding for 30 minutes, both for this identity and for the
    phone the code was asked for (whichever identities the guesses came from).
    """
    outcome = _verify(session, identity, code, now or utcnow(), policy or OtpPolicy(), lasts.of(identity.channel))
    get_metrics().otp_verifications.labels(outcome=outcome.value).inc()
    return outcome


def _verify(
    session: Session, identity: ChannelIdentity, code: str, now: dt.datetime, policy: OtpPolicy,
    lasts: VerificationPolicy,
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
    identity.verified_until = now + min(lasts.idle, lasts.absolute)
    identity.lapsed_at = None
    identity.active_at = now
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
    identity.verified_until = None
    session.add(AuditEvent(actor="bot", action="unbound", detail={"identity_id": identity.id, "reason": reason}))
