"""RM console accounts: password checks, DB-backed sessions (only token hashes), TOTP enrolment state.

Throttling of wrong guesses lives in ``crm.access.login_throttle`` (there is no account lockout:
it handed anyone a way to lock an RM out). The TOTP secret is stored as the gateway encrypted it;
this module never sees it in clear.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from crm.models import RelationshipManager
from crm.models.handoff import ConsoleSession

SESSION_TTL = dt.timedelta(hours=12)
# A password-only session waiting for its TOTP code, and a supervisor's enrolment-only session.
STAGE_TTL = {"full": SESSION_TTL, "code": dt.timedelta(minutes=5), "enrol": dt.timedelta(minutes=15)}
MAX_CODE_FAILURES = 5  # wrong codes one pending session may send before the password is needed again


def _rows(result: object) -> int:
    """Rows an UPDATE changed (``Session.execute`` is typed as a plain Result, which has no rowcount)."""
    return int(getattr(result, "rowcount", 0) or 0)


def check_password(
    session: Session, login: str, password: str, verify: Callable[[str | None, str], bool]
) -> RelationshipManager | None:
    """The RM for a correct login/password, None otherwise (unknown logins cost the same work).

    Args:
        verify: ``(hash, password) -> bool`` (argon2; injected so crm does not pick the algorithm);
            called with ``None`` for an unknown login so the time spent does not tell.
    """
    rm = session.scalar(select(RelationshipManager).where(RelationshipManager.login == login))
    if rm is None:
        verify(None, password)
        return None
    return rm if verify(rm.password_hash, password) else None


def totp_enabled(rm: RelationshipManager) -> bool:
    return rm.totp_enabled_at is not None and rm.totp_secret is not None


def totp_required(rm: RelationshipManager) -> bool:
    """Supervisors must have a second factor; RMs may choose one."""
    return rm.role == "supervisor"


def next_stage(rm: RelationshipManager) -> str:
    """The session stage a correct password leads to."""
    if totp_enabled(rm):
        return "code"
    return "enrol" if totp_required(rm) else "full"


def start_totp_enrolment(session: Session, rm_id: int, encrypted_secret: str) -> None:
    """Keep a new, not yet confirmed secret (refused once a second factor is in force)."""
    rm = session.get(RelationshipManager, rm_id)
    if rm is None or totp_enabled(rm):
        raise ValueError("second factor already enabled")
    rm.totp_secret, rm.totp_last_step = encrypted_secret, None


def enable_totp(session: Session, rm_id: int, step: int, now: dt.datetime) -> None:
    rm = session.get(RelationshipManager, rm_id)
    if rm is None:
        raise ValueError("no such RM")
    rm.totp_enabled_at, rm.totp_last_step = now, step


def use_totp_step(session: Session, rm_id: int, step: int) -> bool:
    """Record ``step`` as used; False when it (or a later one) was used already: a replayed code.

    One conditional UPDATE, so two parallel logins with the same code cannot both pass.
    """
    result = session.execute(
        update(RelationshipManager)
        .where(
            RelationshipManager.id == rm_id,
            or_(RelationshipManager.totp_last_step.is_(None), RelationshipManager.totp_last_step < step),
        )
        .values(totp_last_step=step)
    )
    return _rows(result) == 1


def reset_totp(session: Session, rm_id: int, keep: str | None = None) -> int:
    """Remove an RM's second factor (an administrator's action, e.g. a lost phone) and end every
    console session of theirs but ``keep`` (a token hash: the RM's own, when they turn it off):
    whoever holds the lost phone may also hold a logged-in browser. Returns how many ended."""
    rm = session.get(RelationshipManager, rm_id)
    if rm is not None:
        rm.totp_secret = rm.totp_enabled_at = rm.totp_last_step = None
    stmt = delete(ConsoleSession).where(ConsoleSession.rm_id == rm_id)
    if keep is not None:
        stmt = stmt.where(ConsoleSession.token_hash != keep)
    return _rows(session.execute(stmt))


def open_console_session(
    session: Session, rm_id: int, token_hash: str, csrf: str, now: dt.datetime, stage: str = "full"
) -> None:
    session.add(
        ConsoleSession(
            token_hash=token_hash,
            rm_id=rm_id,
            csrf_token=csrf,
            created_at=now,
            expires_at=now + STAGE_TTL[stage],
            stage=stage,
            code_failures=0,
        )
    )


def console_session(
    session: Session, token_hash: str, now: dt.datetime
) -> tuple[RelationshipManager, ConsoleSession] | None:
    """(RM, session row) for a live session of any stage."""
    row = session.get(ConsoleSession, token_hash)
    if row is None or row.expires_at <= now:
        return None
    rm = session.get(RelationshipManager, row.rm_id)
    return (rm, row) if rm is not None else None


def count_code_failure(session: Session, token_hash: str) -> bool:
    """One more wrong code on a pending session; False (and the session is gone) after the last allowed."""
    result = session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.token_hash == token_hash, ConsoleSession.code_failures < MAX_CODE_FAILURES - 1)
        .values(code_failures=ConsoleSession.code_failures + 1)
    )
    if _rows(result) == 1:
        return True
    close_console_session(session, token_hash)
    return False


def close_console_session(session: Session, token_hash: str) -> None:
    row = session.get(ConsoleSession, token_hash)
    if row is not None:
        session.delete(row)
