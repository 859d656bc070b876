"""Relationship managers and their presence: a live console is the heartbeat."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session

from crm.errors import NotFound
from crm.models import RelationshipManager


def rm_by_id(session: Session, rm_id: int) -> RelationshipManager:
    rm = session.get(RelationshipManager, rm_id)
    if rm is None:
        raise NotFound("rm")
    return rm


def branch_of_rm(session: Session, rm_id: int | None) -> int | None:
    rm = session.get(RelationshipManager, rm_id) if rm_id else None
    return rm.branch_id if rm else None


def is_online(rm: RelationshipManager, now: dt.datetime, presence_s: float) -> bool:
    return bool(rm.online and rm.last_seen_at and now - rm.last_seen_at <= dt.timedelta(seconds=presence_s))


def online_rms(
    session: Session, now: dt.datetime, presence_s: float, branch_id: int | None = None
) -> list[RelationshipManager]:
    """RMs and supervisors with a live console (``branch_id`` narrows to one branch)."""
    stmt = select(RelationshipManager).where(
        RelationshipManager.online.is_(True),
        RelationshipManager.last_seen_at >= now - dt.timedelta(seconds=presence_s),
    )
    if branch_id is not None:
        stmt = stmt.where(RelationshipManager.branch_id == branch_id)
    return list(session.scalars(stmt))


def touch_presence(session: Session, rm_id: int, now: dt.datetime) -> None:
    session.execute(
        update(RelationshipManager)
        .where(RelationshipManager.id == rm_id)
        .values(online=True, last_seen_at=now)
    )


def go_offline(session: Session, rm_id: int, *, stale_before: dt.datetime | None = None) -> bool:
    """Mark an RM offline; with ``stale_before`` only if their last heartbeat is older (race-safe)."""
    stmt = update(RelationshipManager).where(
        RelationshipManager.id == rm_id, RelationshipManager.online.is_(True)
    )
    if stale_before is not None:
        stmt = stmt.where(
            or_(RelationshipManager.last_seen_at.is_(None), RelationshipManager.last_seen_at < stale_before)
        )
    return bool(session.execute(stmt.values(online=False)).rowcount)  # type: ignore[attr-defined]
