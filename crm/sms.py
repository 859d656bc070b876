"""Pluggable SMS sending. Development and tests use the sandbox, which keeps messages in a table."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import SmsOutbox


class SmsSender(Protocol):
    def send(self, session: Session, phone: str, text: str, idempotency_key: str) -> None:
        """Queue ``text`` for ``phone``; the same key never sends twice."""
        ...


class SandboxSmsSender:
    """Stores messages in ``sms_outbox`` where developers and tests can read them (`bankcare sms-inbox`)."""

    def send(self, session: Session, phone: str, text: str, idempotency_key: str) -> None:
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


def make_sms_sender(backend: str) -> SmsSender:
    if backend == "sandbox":
        return SandboxSmsSender()
    raise ValueError(f"unknown SMS_BACKEND {backend!r}; supported: sandbox")
