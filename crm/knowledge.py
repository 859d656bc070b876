"""Access functions for the FAQ knowledge base. Callers pass a Session; nothing commits here.

The FAQ holds no customer data, so there is no identity check; what matters is that a
bulk import is all-or-nothing (the caller's ``session_scope`` commits or rolls back once).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from crm.models.base import utcnow
from crm.models.knowledge import FaqVector, KnowledgeCalibration, KnowledgePoint

SHANGHAI = ZoneInfo("Asia/Shanghai")


class KnowledgePointNotFound(LookupError):
    """No knowledge point with that id (or it is inactive / out of its validity window)."""

    code = "faq.not_found"


@dataclass(frozen=True)
class KnowledgeDraft:
    """A knowledge point as read from a file, before it touches the database."""

    standard_question: str
    answer: str
    similar_questions: tuple[str, ...] = ()
    category: str = ""
    valid_from: dt.date | None = None
    valid_to: dt.date | None = None
    active: bool = True


@dataclass
class UpsertResult:
    """Counts of what an import did, for the CLI to print."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deactivated: int = 0
    ids: list[int] = field(default_factory=list)


def today_shanghai(now: dt.datetime | None = None) -> dt.date:
    """The bank's calendar day; validity dates are local dates."""
    return (now or dt.datetime.now(dt.UTC)).astimezone(SHANGHAI).date()


def _valid_on(day: dt.date):  # type: ignore[no-untyped-def]
    return (
        KnowledgePoint.active.is_(True),
        or_(KnowledgePoint.valid_from.is_(None), KnowledgePoint.valid_from <= day),
        or_(KnowledgePoint.valid_to.is_(None), KnowledgePoint.valid_to >= day),
    )


def list_valid_points(session: Session, day: dt.date | None = None) -> list[KnowledgePoint]:
    """Active points whose validity window contains ``day`` (default: today in Shanghai)."""
    day = day or today_shanghai()
    stmt = select(KnowledgePoint).where(*_valid_on(day)).order_by(KnowledgePoint.id)
    return list(session.scalars(stmt))


def get_valid_point(session: Session, point_id: int, day: dt.date | None = None) -> KnowledgePoint:
    """One answerable point, or :class:`KnowledgePointNotFound`."""
    day = day or today_shanghai()
    stmt = select(KnowledgePoint).where(KnowledgePoint.id == point_id, *_valid_on(day))
    point = session.scalars(stmt).first()
    if point is None:
        raise KnowledgePointNotFound(point_id)
    return point


def export_points(session: Session, include_inactive: bool = True) -> list[KnowledgePoint]:
    """All points in id order, for ``bankcare faq export``."""
    stmt = select(KnowledgePoint).order_by(KnowledgePoint.id)
    if not include_inactive:
        stmt = stmt.where(KnowledgePoint.active.is_(True))
    return list(session.scalars(stmt))


def knowledge_version(session: Session) -> str:
    """A cheap fingerprint that changes whenever any point is added, edited or removed.

    count + max(id) + max(updated_at): an edit bumps updated_at, an insert bumps count,
    a delete lowers count or max(id). One indexed aggregate query, fine to poll every few seconds.
    """
    count, max_id, max_updated = session.execute(
        select(
            func.count(KnowledgePoint.id),
            func.max(KnowledgePoint.id),
            func.max(KnowledgePoint.updated_at),
        )
    ).one()
    stamp = max_updated.isoformat() if isinstance(max_updated, dt.datetime) else str(max_updated)
    return f"{count}:{max_id}:{stamp}"


def _clean_similar(draft: KnowledgeDraft) -> list[str]:
    seen = {draft.standard_question}
    out: list[str] = []
    for q in draft.similar_questions:
        q = q.strip()
        if q and q not in seen:
            seen.add(q)
            out.append(q)
    return out


def upsert_points(
    session: Session, drafts: Iterable[KnowledgeDraft], replace: bool = False
) -> UpsertResult:
    """Insert or update points keyed by standard question; optionally deactivate the rest.

    Args:
        session: Open session; the caller commits (one transaction for the whole file).
        drafts: Points to write. Duplicated standard questions must be merged beforehand.
        replace: When True, points not in ``drafts`` are deactivated (kept for audit, not deleted).

    Returns:
        Counts and the ids of the written points, in input order.
    """
    result = UpsertResult()
    existing = {p.standard_question: p for p in session.scalars(select(KnowledgePoint))}
    touched: dict[str, None] = {}  # ordered set: ids come back in input order
    for draft in drafts:
        similar = _clean_similar(draft)
        point = existing.get(draft.standard_question)
        if point is None:
            point = KnowledgePoint(
                standard_question=draft.standard_question,
                similar_questions=similar,
                answer=draft.answer,
                category=draft.category,
                valid_from=draft.valid_from,
                valid_to=draft.valid_to,
                active=draft.active,
            )
            session.add(point)
            existing[draft.standard_question] = point
            result.created += 1
        else:
            new_values = {
                "similar_questions": similar,
                "answer": draft.answer,
                "category": draft.category,
                "valid_from": draft.valid_from,
                "valid_to": draft.valid_to,
                "active": draft.active,
            }
            if all(getattr(point, k) == v for k, v in new_values.items()):
                result.unchanged += 1
            else:
                for k, v in new_values.items():
                    setattr(point, k, v)
                result.updated += 1
        touched[draft.standard_question] = None
    if replace:
        for question, point in existing.items():
            if question not in touched and point.active:
                point.active = False
                result.deactivated += 1
    session.flush()
    result.ids = [existing[q].id for q in touched]
    return result


def save_calibration(
    session: Session, kb_version: str, high: float, low: float, method: dict[str, Any]
) -> KnowledgeCalibration:
    """Record thresholds computed for ``kb_version``."""
    row = KnowledgeCalibration(kb_version=kb_version, high=high, low=low, method=method)
    session.add(row)
    session.flush()
    return row


def latest_calibration(session: Session) -> KnowledgeCalibration | None:
    """The most recently computed thresholds, whatever KB version they were made for."""
    stmt = select(KnowledgeCalibration).order_by(KnowledgeCalibration.id.desc()).limit(1)
    return session.scalars(stmt).first()


_VECTOR_CHUNK = 500  # keys per IN (...): well under SQLite's and PostgreSQL's parameter limits


def load_vectors(session: Session, keys: Sequence[str]) -> dict[str, bytes]:
    """Stored sentence vectors by content key (see :class:`FaqVector`); absent keys are left out."""
    found: dict[str, bytes] = {}
    unique = list(dict.fromkeys(keys))
    for start in range(0, len(unique), _VECTOR_CHUNK):
        chunk = unique[start : start + _VECTOR_CHUNK]
        rows = session.execute(select(FaqVector.key, FaqVector.vector).where(FaqVector.key.in_(chunk)))
        found.update({key: bytes(vector) for key, vector in rows})
    return found


def save_vectors(session: Session, model: str, vectors: dict[str, bytes]) -> int:
    """Store sentence vectors by content key; a key already stored (by another process meanwhile)
    is left as it is. Returns how many rows were offered."""
    if not vectors:
        return 0
    dialect: Any = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    table = FaqVector.__table__
    now = utcnow()
    items = list(vectors.items())
    for start in range(0, len(items), _VECTOR_CHUNK):
        chunk = items[start : start + _VECTOR_CHUNK]
        rows = [{"key": k, "model": model, "vector": v, "created_at": now} for k, v in chunk]
        session.execute(dialect.insert(table).values(rows).on_conflict_do_nothing(index_elements=["key"]))
    return len(items)


def prune_vectors(session: Session, keep: Iterable[str]) -> int:
    """Delete the stored sentence vectors whose key is not in ``keep`` (questions since edited or
    removed, or another model's); returns how many. Derived data: a vector dropped by mistake is
    only computed again."""
    wanted = set(keep)
    stale = [key for key in session.scalars(select(FaqVector.key)) if key not in wanted]
    for start in range(0, len(stale), _VECTOR_CHUNK):
        session.execute(delete(FaqVector).where(FaqVector.key.in_(stale[start : start + _VECTOR_CHUNK])))
    return len(stale)
