"""RM console accounts: password checks with lockout, and DB-backed sessions (only token hashes)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.models import RelationshipManager
from crm.models.handoff import ConsoleSession

SESSION_TTL = dt.timedelta(hours=12)
MAX_FAILURES = 5
LOCKOUT = dt.timedelta(minutes=15)


class LoginLocked(Exception):
    """Too many failed logins; ``until`` is when the lock ends."""

    def __init__(self, until: dt.datetime) -> None:
        super().__init__("login locked")
        self.until = until


def check_login(
    session: Session, login: str, password: str, verify: Any, now: dt.datetime
) -> RelationshipManager | None:
    """The RM for a correct login/password, None otherwise; counts failures and locks the account.

    Args:
        verify: ``(hash, password) -> bool`` (argon2; injected so crm does not pick the algorithm).

    Raises:
        LoginLocked: the account is locked (also when the password is right).
    """
    rm = session.scalar(select(RelationshipManager).where(RelationshipManager.login == login))
    if rm is None:
        verify(None, password)  # same work as for a real account: no timing hint that the login exists
        return None
    if rm.locked_until is not None and rm.locked_until > now:
        raise LoginLocked(rm.locked_until)
    if verify(rm.password_hash, password):
        rm.failed_logins, rm.locked_until = 0, None
        return rm
    rm.failed_logins += 1
    if rm.failed_logins >= MAX_FAILURES:
        rm.failed_logins, rm.locked_until = 0, now + LOCKOUT
    return None


def open_console_session(session: Session, rm_id: int, token_hash: str, csrf: str, now: dt.datetime) -> None:
    session.add(
        ConsoleSession(
            token_hash=token_hash, rm_id=rm_id, csrf_token=csrf, created_at=now, expires_at=now + SESSION_TTL
        )
    )


def console_session(
    session: Session, token_hash: str, now: dt.datetime
) -> tuple[RelationshipManager, str] | None:
    """(RM, CSRF token) for a live session."""
    row = session.get(ConsoleSession, token_hash)
    if row is None or row.expires_at <= now:
        return None
    rm = session.get(RelationshipManager, row.rm_id)
    return (rm, row.csrf_token) if rm is not None else None


def close_console_session(session: Session, token_hash: str) -> None:
    row = session.get(ConsoleSession, token_hash)
    if row is not None:
        session.delete(row)
