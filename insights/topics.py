"""Knowledge gaps: the pool of unanswered questions clustered into topics, stored so a supervisor
can act on one by id (``bankcare insights gaps`` / ``resolve``, ``/console/insights``).

Each run clusters the open pool of the last ``days`` days together with the ``days`` before (for
the trend), then keeps topic ids stable: a new topic takes the id of the stored open topic most
of its members belonged to. Questions of resolved topics stay with them and are left out.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.access import insights as store
from crm.models import Branch
from crm.models.base import utcnow
from crm.models.insights import ClusterStatus, InsightCluster, UnansweredQuestion
from insights.clustering import _AUTO, SEMANTIC_MAX, cluster_texts, readable

SEGMENT_UNKNOWN = "未绑定客户"


@dataclass
class Topic:
    id: int
    size: int
    previous_size: int
    suggested_question: str
    examples: list[str]
    branches: dict[str, int]
    segments: dict[str, int]
    sources: dict[str, int]
    draft_answer: str | None = None  # an RM's own past reply to one of its questions
    status: str = ClusterStatus.OPEN
    question_ids: list[int] = field(default_factory=list)

    @property
    def trend(self) -> str:
        if self.previous_size == 0:
            return "新出现" if self.size else "—"
        change = (self.size - self.previous_size) / self.previous_size
        return f"{change:+.0%}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "size": self.size, "previous_size": self.previous_size, "trend": self.trend,
            "suggested_question": self.suggested_question, "examples": self.examples,
            "branches": self.branches, "segments": self.segments, "sources": self.sources,
            "draft_answer": self.draft_answer, "status": self.status,
        }  # fmt: skip


def _branch_names(session: Session) -> dict[int, str]:
    return {b.id: b.name for b in session.scalars(select(Branch))}


def build_topics(
    session: Session,
    days: int = 7,
    now: dt.datetime | None = None,
    encoder: Any = _AUTO,
    semantic_max: int = SEMANTIC_MAX,
) -> list[Topic]:
    """Cluster the open pool of the last ``days`` days into stored topics, largest first."""
    now = now or utcnow()
    since = now - dt.timedelta(days=days)
    before = since - dt.timedelta(days=days)
    clusters = select(InsightCluster)
    resolved = {c.id for c in session.scalars(clusters.where(InsightCluster.status == ClusterStatus.RESOLVED))}
    rows = [r for r in store.pool_since(session, before, now) if r.cluster_id not in resolved]
    if not rows:
        return []
    clustering = cluster_texts([r.text for r in rows], encoder=encoder, semantic_max=semantic_max)
    groups: dict[int, list[UnansweredQuestion]] = {}
    for row, label in zip(rows, clustering.labels.tolist(), strict=True):
        groups.setdefault(int(label), []).append(row)
    stale_open = {c.id: c for c in session.scalars(clusters.where(InsightCluster.status == ClusterStatus.OPEN))}
    claimed: set[int] = set()
    names = _branch_names(session)
    topics: list[Topic] = []
    for label, members in sorted(groups.items()):
        current = [m for m in members if m.created_at >= since]
        if not current:
            continue
        cluster = _claim(session, members, stale_open, claimed)
        central = rows[clustering.central[label]] if label in clustering.central else current[0]
        cluster.suggested_question = (readable(central.text) or central.text)[:500]
        cluster.size, cluster.previous_size = len(current), len(members) - len(current)
        cluster.branches = dict(Counter(names.get(m.branch_id, "未知网点") for m in current if m.branch_id))
        cluster.segments = dict(Counter(m.segment or SEGMENT_UNKNOWN for m in current))
        cluster.updated_at = now
        for m in members:
            m.cluster_id = cluster.id
        drafts = [m.rm_reply for m in current if m.rm_reply]
        topics.append(
            Topic(
                cluster.id, cluster.size, cluster.previous_size, cluster.suggested_question,
                [m.text for m in current], cluster.branches, cluster.segments,
                dict(Counter(m.source for m in current)), drafts[-1] if drafts else None,
                question_ids=[m.id for m in current],
            )
        )  # fmt: skip
    for cluster_id, cluster in stale_open.items():
        if cluster_id not in claimed:
            cluster.size, cluster.previous_size = 0, 0  # its questions went to other topics
    session.flush()
    topics.sort(key=lambda t: (-t.size, t.id))
    return topics


def _claim(
    session: Session, members: list[UnansweredQuestion], stale_open: dict[int, InsightCluster], claimed: set[int]
) -> InsightCluster:
    """The stored open topic most of these members belonged to, or a new one."""
    votes = Counter(m.cluster_id for m in members if m.cluster_id in stale_open and m.cluster_id not in claimed)
    if votes:
        cluster_id = votes.most_common(1)[0][0]
        assert cluster_id is not None
        claimed.add(cluster_id)
        return stale_open[cluster_id]
    cluster = InsightCluster(suggested_question="", status=ClusterStatus.OPEN, branches={}, segments={})
    session.add(cluster)
    session.flush()
    claimed.add(cluster.id)
    return cluster


def stored_topic(session: Session, cluster_id: int) -> Topic | None:
    """A stored topic as last built (its members as they are now)."""
    cluster = store.get_cluster(session, cluster_id)
    if cluster is None:
        return None
    members = store.cluster_members(session, cluster_id)
    drafts = [m.rm_reply for m in members if m.rm_reply]
    return Topic(
        cluster.id, cluster.size, cluster.previous_size, cluster.suggested_question, [m.text for m in members],
        dict(cluster.branches or {}), dict(cluster.segments or {}), dict(Counter(m.source for m in members)),
        drafts[-1] if drafts else None, cluster.status, [m.id for m in members],
    )  # fmt: skip
