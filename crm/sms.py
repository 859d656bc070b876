"""SMS sending, and the limits on one-time binding codes (#19).

Which sender carries a binding code is chosen in one place, :func:`outbound.sms.otp.make_otp_sender`
(``SMS_BACKEND``): ``sandbox`` gets :class:`SandboxSmsSender` below, which keeps messages readable
in ``sms_outbox`` so `bankcare sms-inbox` can show the demo's codes; ``tencent``/``aliyun`` get the
provider sender, which is told which part of a text is secret (``secret=``) and stores only
:func:`storable_text` of it. (This layer cannot reach the providers: crm sits below outbound.)

Binding codes are limited per phone, per chat identity and per client address (the gateway passes
the address it saw). Each request counts against all three in one savepoint, every counter moving
in one UPDATE whose WHERE clause holds the limit, so parallel requests cannot slip past it; a
refused request counts nowhere. Requests count whether or not the details matched a customer, so
a refusal never tells anyone whether a phone number is a customer's.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import Table, and_, case, delete, literal, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from core.metrics import get_metrics
from core.settings import Settings
from crm.models import OtpGuard, SmsOutbox, UTCDateTime

HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
HIDDEN_CODE = "******"


class SmsSender(Protocol):
    def send(self, session: Session, phone: str, text: str, idempotency_key: str, *, secret: str | None = None) -> None:
        """Queue ``text`` for ``phone``; the same key never sends twice. ``secret`` (a one-time
        code inside ``text``) must not be stored readable: keep :func:`storable_text`."""
        ...


def storable_text(text: str, secret: str | None) -> str:
    """What a real sender may keep of a message: the one-time code replaced by ******."""
    return text.replace(secret, HIDDEN_CODE) if secret else text


class SandboxSmsSender:
    """Stores messages in ``sms_outbox`` where developers and tests can read them (`bankcare sms-inbox`).

    The only sender that keeps codes readable: nothing leaves the machine, and the demo needs them."""

    def send(self, session: Session, phone: str, text: str, idempotency_key: str, *, secret: str | None = None) -> None:
        exists = session.scalar(select(SmsOutbox.id).where(SmsOutbox.idempotency_key == idempotency_key))
        if exists is None:
            session.add(SmsOutbox(phone=phone, text=text, idempotency_key=idempotency_key))
            session.flush()


def sandbox_inbox(session: Session, phone: str, limit: int = 5) -> list[str]:
    """Latest sandbox SMS texts for ``phone`` (newest first). Development only."""
    rows = session.scalars(
        select(SmsOutbox.text).where(SmsOutbox.phone == phone).order_by(SmsOutbox.id.desc()).limit(limit)
    )
    return list(rows)


# --- limits on binding codes -------------------------------------------------------------------


@dataclass(frozen=True)
class OtpLimit:
    """At most one code every ``gap_s`` seconds, ``per_hour`` an hour and ``per_day`` a day."""

    gap_s: int
    per_hour: int
    per_day: int

    @classmethod
    def parse(cls, text: str) -> OtpLimit:
        """'60/5/10' → one per 60 s, 5 an hour, 10 a day."""
        try:
            gap, hour, day = (int(part) for part in text.split("/"))
        except ValueError as exc:
            raise ValueError(f"OTP limit {text!r} should look like 60/5/10 (gap seconds/per hour/per day)") from exc
        if gap < 0 or hour < 1 or day < 1:
            raise ValueError(f"OTP limit {text!r}: the gap is >= 0 and the budgets >= 1")
        return cls(gap, hour, day)


@dataclass(frozen=True)
class OtpPolicy:
    """Limits and the key for the hashes kept of phones, addresses and codes."""

    phone: OtpLimit = OtpLimit(60, 5, 10)
    identity: OtpLimit = OtpLimit(60, 5, 10)
    # Many customers of one village may share a carrier's NAT address: a looser budget.
    address: OtpLimit = OtpLimit(10, 30, 100)
    max_failures: int = 5
    lock_for: dt.timedelta = dt.timedelta(minutes=30)
    key: bytes = field(default=b"bankcare-otp", repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> OtpPolicy:
        return cls(
            phone=OtpLimit.parse(settings.otp_limit_phone),
            identity=OtpLimit.parse(settings.otp_limit_identity),
            address=OtpLimit.parse(settings.otp_limit_address),
            key=hashlib.sha256(("otp:" + settings.session_secret).encode()).digest(),
        )

    def subject(self, kind: str, value: str) -> str:
        """A keyed hash standing for a phone number or an address in the counters."""
        return hmac.new(self.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()[:40]


@dataclass(frozen=True)
class OtpSent:
    """The request was accepted and counted; a code went out if the details matched a customer."""


@dataclass(frozen=True)
class OtpRefused:
    """A limit refused the request: ``scope`` (phone, identity, address, lock), ``limit`` (gap,
    hour, day, locked) and the seconds until a new request can pass."""

    scope: str
    limit: str
    retry_after_s: int

    @property
    def reason(self) -> str:
        return f"{self.scope}_{self.limit}"


_GUARDS = cast(Table, OtpGuard.__table__)


def _at(value: dt.datetime) -> Any:
    return literal(value, UTCDateTime())


def ensure_guard(session: Session, scope: str, subject: str, now: dt.datetime) -> None:
    """Create the counter row if missing (INSERT ... ON CONFLICT DO NOTHING: safe in parallel)."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(_GUARDS).values(scope=scope, subject=subject, hour_sent=0, day_sent=0, failures=0, updated_at=now)
    session.execute(stmt.on_conflict_do_nothing(index_elements=["scope", "subject"]))


def _take(session: Session, scope: str, subject: str, limit: OtpLimit, now: dt.datetime) -> bool:
    """Count one code against this row if its limits allow: one UPDATE, True if it passed."""
    g = _GUARDS.c
    new_hour = or_(g.hour_start.is_(None), g.hour_start <= _at(now - HOUR))
    new_day = or_(g.day_start.is_(None), g.day_start <= _at(now - DAY))
    stmt = (
        update(_GUARDS)
        .where(
            g.scope == scope,
            g.subject == subject,
            or_(g.last_sent_at.is_(None), g.last_sent_at <= _at(now - dt.timedelta(seconds=limit.gap_s))),
            or_(new_hour, g.hour_sent < limit.per_hour),
            or_(new_day, g.day_sent < limit.per_day),
        )
        .values(
            last_sent_at=_at(now),
            hour_start=case((new_hour, _at(now)), else_=g.hour_start),
            hour_sent=case((new_hour, 1), else_=g.hour_sent + 1),
            day_start=case((new_day, _at(now)), else_=g.day_start),
            day_sent=case((new_day, 1), else_=g.day_sent + 1),
            updated_at=_at(now),
        )
    )
    return bool(session.execute(stmt).rowcount)  # type: ignore[attr-defined]


def _why(session: Session, scope: str, subject: str, limit: OtpLimit, now: dt.datetime) -> OtpRefused:
    """Which limit refused, and until when (read after the refused UPDATE; for the reply only)."""
    row = session.get(OtpGuard, (scope, subject), populate_existing=True)
    waits: list[tuple[str, dt.datetime]] = []
    if row is not None:
        if row.day_start and row.day_sent >= limit.per_day and row.day_start > now - DAY:
            waits.append(("day", row.day_start + DAY))
        if row.hour_start and row.hour_sent >= limit.per_hour and row.hour_start > now - HOUR:
            waits.append(("hour", row.hour_start + HOUR))
        if row.last_sent_at and row.last_sent_at > now - dt.timedelta(seconds=limit.gap_s):
            waits.append(("gap", row.last_sent_at + dt.timedelta(seconds=limit.gap_s)))
    name, until = max(waits, key=lambda w: w[1]) if waits else ("gap", now + dt.timedelta(seconds=limit.gap_s))
    return OtpRefused(scope, name, max(1, int((until - now).total_seconds() + 0.999)))


def take_otp_slot(
    session: Session,
    policy: OtpPolicy,
    *,
    phone: str,
    identity_id: int,
    client_address: str | None,
    now: dt.datetime,
) -> OtpRefused | None:
    """Count one code request against the phone, the identity and the address, or refuse it.

    All or nothing: a request refused by one limit is counted by none (a savepoint)."""
    subjects = [
        ("phone", policy.subject("phone", phone), policy.phone),
        ("identity", str(identity_id), policy.identity),
    ]
    if client_address:
        subjects.append(("address", policy.subject("address", client_address), policy.address))
    for scope, subject, _limit in subjects:
        ensure_guard(session, scope, subject, now)
    savepoint = session.begin_nested()
    for scope, subject, limit in subjects:
        if not _take(session, scope, subject, limit, now):
            savepoint.rollback()
            return _why(session, scope, subject, limit, now)
    savepoint.commit()
    return None


def binding_code_text(code: str) -> str:
    return f"【农商银行】您的绑定验证码为{code}，5分钟内有效。如非本人操作请忽略，切勿告诉他人。"


def send_binding_code(
    session: Session,
    sender: SmsSender,
    policy: OtpPolicy,
    *,
    phone: str,
    identity_id: int,
    client_address: str | None,
    code: str | None,
    now: dt.datetime,
) -> OtpSent | OtpRefused:
    """Send a binding code to ``phone`` for this chat identity, asked from ``client_address``.

    ``code=None`` when the details matched no customer: nothing is sent, but the request counts
    exactly as a real one, so the caller's reply (and any later refusal) is the same either way.
    """
    metrics = get_metrics()
    refused = take_otp_slot(
        session, policy, phone=phone, identity_id=identity_id, client_address=client_address, now=now
    )
    if refused is not None:
        metrics.otp_requests.labels(outcome="refused").inc()
        metrics.otp_refusals.labels(scope=refused.scope, limit=refused.limit).inc()
        return refused
    if code is None:
        metrics.otp_requests.labels(outcome="unmatched").inc()
        return OtpSent()
    key = f"bind:{identity_id}:{secrets.token_hex(12)}"
    sender.send(session, phone, binding_code_text(code), idempotency_key=key, secret=code)
    metrics.otp_requests.labels(outcome="sent").inc()
    return OtpSent()


def hash_code(code: str, policy: OtpPolicy) -> str:
    """'h1$<salt>$<HMAC-SHA256 under the policy key>': a database dump alone cannot test codes."""
    salt = secrets.token_hex(8)
    return f"h1${salt}$" + hmac.new(policy.key, (salt + code).encode(), hashlib.sha256).hexdigest()


def code_matches(code: str, stored: str, policy: OtpPolicy) -> bool:
    parts = stored.split("$")
    if len(parts) == 3 and parts[0] == "h1":
        expected = hmac.new(policy.key, (parts[1] + code).encode(), hashlib.sha256).hexdigest()
        return hmac.compare_digest(expected, parts[2])
    if len(parts) == 2:  # codes issued before #19 (salted SHA-256), valid for five minutes at most
        return hmac.compare_digest(hashlib.sha256((parts[0] + code).encode()).hexdigest(), parts[1])
    return False


# --- wrong codes: a lock per phone and per identity ---------------------------------------------


def locked_until(session: Session, keys: list[tuple[str, str]], now: dt.datetime) -> dt.datetime | None:
    """The latest lock still running on any of these (scope, subject) rows, if any."""
    if not keys:
        return None
    g = _GUARDS.c
    rows = session.execute(
        select(g.locked_until).where(
            or_(*(and_(g.scope == s, g.subject == k) for s, k in keys)), g.locked_until > _at(now)
        )
    ).scalars()
    found = [r for r in rows if r is not None]
    return max(found) if found else None


def count_failure(session: Session, policy: OtpPolicy, scope: str, subject: str, now: dt.datetime) -> bool:
    """One wrong code against this row, in one UPDATE; True if the row is (now) locked."""
    ensure_guard(session, scope, subject, now)
    g = _GUARDS.c
    expired = and_(g.locked_until.is_not(None), g.locked_until <= _at(now))
    failures = case((expired, 1), else_=g.failures + 1)
    stmt = (
        update(_GUARDS)
        .where(g.scope == scope, g.subject == subject, or_(g.locked_until.is_(None), expired))
        .values(
            failures=failures,
            locked_until=case((failures >= policy.max_failures, _at(now + policy.lock_for)), else_=None),
            updated_at=_at(now),
        )
        .returning(g.failures)
    )
    counted = session.execute(stmt).scalar()
    return counted is None or counted >= policy.max_failures  # None: a parallel attempt locked it


def clear_failures(session: Session, keys: list[tuple[str, str]], now: dt.datetime) -> None:
    g = _GUARDS.c
    for scope, subject in keys:
        session.execute(
            update(_GUARDS)
            .where(g.scope == scope, g.subject == subject, g.locked_until.is_(None))
            .values(failures=0, updated_at=_at(now))
        )


def purge_otp_guards(session: Session, now: dt.datetime, keep: dt.timedelta = 2 * DAY) -> int:
    """Delete counter rows nothing has touched for ``keep`` (past every window) and not locked.

    For the daily retention job: a row per phone, identity and address would otherwise stay forever."""
    g = _GUARDS.c
    stmt = delete(_GUARDS).where(
        g.updated_at < _at(now - keep), or_(g.locked_until.is_(None), g.locked_until <= _at(now))
    )
    return int(session.execute(stmt).rowcount)  # type: ignore[attr-defined]
