"""Trends and alerts: topic and intent volumes by day, week, branch and segment; why customers
went to a person; complaint reasons; conversation sentiment; and spikes (a topic at several
times its usual daily volume at one branch today), stored as alerts for that branch's supervisor.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from crm.access import insights as store
from crm.models import Branch
from crm.models.base import utcnow
from crm.models.insights import InsightCluster
from insights import sentiment

SHANGHAI = ZoneInfo("Asia/Shanghai")
SPIKE_FACTOR = 3.0  # today at least this many times the usual daily count
SPIKE_MIN_COUNT = 5  # and at least this many questions (3 vs 1 is not a spike)
BASELINE_DAYS = 14
HANDOFF_REASONS = {
    "fallback": "没听懂", "request_human": "要求人工", "negative_sentiment": "情绪激动", "complaint": "投诉",
}  # fmt: skip


def local_day(at: dt.datetime) -> dt.date:
    return at.astimezone(SHANGHAI).date()


def week_of(day: dt.date) -> str:
    year, week, _ = day.isocalendar()
    return f"{year}-W{week:02d}"


@dataclass
class Trends:
    days: int
    topics_by_day: dict[str, dict[str, int]] = field(default_factory=dict)  # topic -> day -> n
    topics_by_week: dict[str, dict[str, int]] = field(default_factory=dict)
    topics_by_branch: dict[str, dict[str, int]] = field(default_factory=dict)
    topics_by_segment: dict[str, dict[str, int]] = field(default_factory=dict)
    intents_by_day: dict[str, dict[str, int]] = field(default_factory=dict)
    intents_by_branch: dict[str, dict[str, int]] = field(default_factory=dict)
    handoff_reasons: dict[str, int] = field(default_factory=dict)
    complaint_reasons: dict[str, int] = field(default_factory=dict)
    sentiment_by_day: dict[str, dict[str, int]] = field(default_factory=dict)  # day -> label -> n

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _nested(pairs: list[tuple[str, str]]) -> dict[str, dict[str, int]]:
    out: dict[str, Counter[str]] = defaultdict(Counter)
    for key, sub in pairs:
        out[key][sub] += 1
    return {k: dict(sorted(v.items())) for k, v in out.items()}


def build_trends(session: Session, days: int = 14, now: dt.datetime | None = None) -> Trends:
    now = now or utcnow()
    since = now - dt.timedelta(days=days)
    names = {b.id: b.name for b in session.scalars(select(Branch))}
    topics = {c.id: c.suggested_question for c in session.scalars(select(InsightCluster))}
    rows = store.pool_since(session, since, now)
    trends = Trends(days)
    topical = [(topics.get(r.cluster_id or -1, "未归类"), r) for r in rows]
    trends.topics_by_day = _nested([(t, local_day(r.created_at).isoformat()) for t, r in topical])
    trends.topics_by_week = _nested([(t, week_of(local_day(r.created_at))) for t, r in topical])
    trends.topics_by_branch = _nested([(t, names.get(r.branch_id or -1, "未绑定客户")) for t, r in topical])
    trends.topics_by_segment = _nested([(t, r.segment or "未绑定客户") for t, r in topical])
    intents = [(r.reviewed_intent or r.intent or "未识别", r) for r in rows]
    trends.intents_by_day = _nested([(i, local_day(r.created_at).isoformat()) for i, r in intents])
    trends.intents_by_branch = _nested([(i, names.get(r.branch_id or -1, "未绑定客户")) for i, r in intents])
    trends.handoff_reasons = {
        HANDOFF_REASONS.get(k, k): v for k, v in sorted(store.handoff_reasons(session, since).items())
    }
    trends.complaint_reasons = store.complaint_categories(session, since)
    trends.sentiment_by_day = _nested(
        [(local_day(at).isoformat(), sentiment.label(text)) for at, text in store.customer_texts_since(session, since)]
    )
    return trends


@dataclass(frozen=True)
class Spike:
    branch_id: int
    branch: str
    topic: str
    cluster_id: int | None
    count: int
    usual: float


def detect_spikes(session: Session, now: dt.datetime | None = None) -> list[Spike]:
    """Topics at ≥ :data:`SPIKE_FACTOR` × their usual daily count at one branch today (local day),
    with at least :data:`SPIKE_MIN_COUNT` questions; each is stored as an alert (once a day)."""
    now = now or utcnow()
    today = local_day(now)
    start = now - dt.timedelta(days=BASELINE_DAYS + 1)
    names = {b.id: b.name for b in session.scalars(select(Branch))}
    topics = {c.id: c.suggested_question for c in session.scalars(select(InsightCluster))}
    today_counts: Counter[tuple[int, int]] = Counter()
    before_counts: Counter[tuple[int, int]] = Counter()
    for r in store.pool_since(session, start, now):
        if r.branch_id is None or r.cluster_id is None:
            continue
        key = (r.branch_id, r.cluster_id)
        day = local_day(r.created_at)
        if day == today:
            today_counts[key] += 1
        elif (today - day).days <= BASELINE_DAYS:
            before_counts[key] += 1
    spikes: list[Spike] = []
    for (branch_id, cluster_id), count in today_counts.items():
        usual = before_counts[(branch_id, cluster_id)] / BASELINE_DAYS
        if count >= SPIKE_MIN_COUNT and count >= SPIKE_FACTOR * max(usual, 1.0 / BASELINE_DAYS):
            topic = topics.get(cluster_id, "")
            store.raise_alert(session, branch_id, topic, today, count, round(usual, 2), cluster_id)
            spikes.append(Spike(branch_id, names.get(branch_id, ""), topic, cluster_id, count, usual))
    return spikes


