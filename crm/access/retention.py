"""Retention: delete what has been kept long enough (``bankcare retention run``, daily in the scheduler).

Three kinds of data, each with its own limit in days (``RETENTION_*_DAYS``, 0 keeps forever):

* conversation texts (``messages``): what customers, the bot and RMs wrote;
* SMS records, all holding phone numbers (``RETENTION_SMS_DAYS``): the outbox (``sms_outbox``, texts
  with verification codes), what went to the provider (``sms_messages``), customers' replies
  (``sms_inbound``) and each number's reachability (``sms_reach``, by its last change);
* audit events (``audit_events``): who did what to whose data.

The binding-code counters (``otp_guards``: phones, chat identities, addresses) go two days after
their last use, when no limit window can still need them (``crm.sms.purge_otp_guards``).

Rows go in batches, one short transaction each, so a first run on a large database never holds
locks for long and an interrupted run simply continues next time. Conversations themselves (state,
times, assignment, no text) stay, so statistics and handoff history still add up.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from core.db import session_scope
from core.settings import Settings
from crm.models import AuditEvent, Message, SmsOutbox
from crm.models.base import utcnow
from crm.models.insights import Lead, UnansweredQuestion
from crm.models.outbound import OutboundSend
from crm.models.sms import SmsInbound, SmsMessage, SmsReach
from crm.sms import purge_otp_guards

BATCH = 5000


@dataclass(frozen=True)
class RetentionPolicy:
    """Days each kind of data is kept; 0 keeps it forever."""

    messages_days: int = 365
    sms_days: int = 30
    audit_days: int = 1095

    @classmethod
    def from_settings(cls, settings: Settings) -> RetentionPolicy:
        return cls(settings.retention_messages_days, settings.retention_sms_days, settings.retention_audit_days)


@dataclass(frozen=True)
class RetentionResult:
    """Rows deleted (or, for a dry run, that would be deleted) per kind."""

    messages: int = 0
    sms: int = 0  # sms_outbox
    audit: int = 0
    sms_messages: int = 0
    sms_inbound: int = 0
    sms_reach: int = 0
    otp_guards: int = 0


def _cutoff(now: dt.datetime, days: int) -> dt.datetime | None:
    return now - dt.timedelta(days=days) if days > 0 else None


def _targets(policy: RetentionPolicy, now: dt.datetime) -> dict[str, tuple[Any, InstrumentedAttribute[Any], Any]]:
    """kind -> (model, its time column, cutoff or None)."""
    return {
        "messages": (Message, Message.created_at, _cutoff(now, policy.messages_days)),
        "sms": (SmsOutbox, SmsOutbox.created_at, _cutoff(now, policy.sms_days)),
        "audit": (AuditEvent, AuditEvent.at, _cutoff(now, policy.audit_days)),
        "sms_messages": (SmsMessage, SmsMessage.created_at, _cutoff(now, policy.sms_days)),
        "sms_inbound": (SmsInbound, SmsInbound.received_at, _cutoff(now, policy.sms_days)),
        "sms_reach": (SmsReach, SmsReach.updated_at, _cutoff(now, policy.sms_days)),
    }


def _delete_batch(session: Session, model: Any, column: InstrumentedAttribute[Any], cutoff: dt.datetime) -> int:
    key = model.__mapper__.primary_key[0]  # sms_reach is keyed by phone, the rest by id
    ids = list(session.scalars(select(key).where(column < cutoff).order_by(key).limit(BATCH)))
    if not ids:
        return 0
    if model is Message:
        # Records about a deleted text keep their own data (status, masked wording) without the link.
        for holder in (OutboundSend, UnansweredQuestion, Lead):
            session.execute(update(holder).where(holder.message_id.in_(ids)).values(message_id=None))
    session.execute(delete(model).where(key.in_(ids)))
    return len(ids)


def run_retention(
    factory: sessionmaker[Session], policy: RetentionPolicy, *, now: dt.datetime | None = None, dry_run: bool = False
) -> RetentionResult:
    """Delete every row older than its kind's limit; returns the counts.

    Args:
        factory: crm sessionmaker.
        policy: days to keep each kind.
        now: the current time (tests).
        dry_run: only count what would be deleted.
    """
    now = now or utcnow()
    counts: dict[str, int] = {}
    for kind, (model, column, cutoff) in _targets(policy, now).items():
        counts[kind] = 0
        if cutoff is None:
            continue
        if dry_run:
            with factory() as session:
                counts[kind] = session.scalar(select(func.count()).select_from(model).where(column < cutoff)) or 0
            continue
        while True:
            with session_scope(factory) as session:
                deleted = _delete_batch(session, model, column, cutoff)
            counts[kind] += deleted
            if deleted < BATCH:
                break
    counts["otp_guards"] = 0 if dry_run else _purge_otp_guards(factory, now)
    return RetentionResult(**counts)


def _purge_otp_guards(factory: sessionmaker[Session], now: dt.datetime) -> int:
    with session_scope(factory) as session:
        return purge_otp_guards(session, now)
