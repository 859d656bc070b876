"""Turn a topic of unanswered questions into a knowledge point in one step.

The topic's suggested question becomes the standard question and its other questions the similar
ones; staff write the answer. It goes through :func:`faq.service.import_knowledge`, the same path
as ``bankcare faq import``: thresholds are recalibrated and every ``FaqService`` (action servers,
CLI) notices the new knowledge version and reloads within seconds, without retraining Rasa.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from core.db import session_scope
from crm.access import insights as store
from crm.knowledge import KnowledgeDraft
from crm.models import AuditEvent
from crm.models.base import utcnow
from crm.models.insights import ClusterStatus
from crm.models.knowledge import KnowledgePoint
from faq.service import import_knowledge
from insights.clustering import readable

CATEGORY = "客户之声"
MAX_SIMILAR = 200


class ResolveError(ValueError):
    """The topic cannot be resolved (unknown, already resolved, empty answer, clashing question)."""


@dataclass(frozen=True)
class Resolved:
    cluster_id: int
    point_id: int
    standard_question: str
    similar_questions: int


def _usable(text: str) -> bool:
    # Masked identifiers (138****5678, ******) would only teach the matcher noise.
    return "*" not in text and len(text) >= 2


def resolve(
    factory: sessionmaker[Session],
    cluster_id: int,
    answer: str,
    by: str,
    standard_question: str | None = None,
    category: str = CATEGORY,
) -> Resolved:
    """Create the knowledge point for a topic and mark the topic resolved."""
    answer = answer.strip()
    if not answer:
        raise ResolveError("答案不能为空。")
    with session_scope(factory) as session:
        cluster = store.get_cluster(session, cluster_id)
        if cluster is None:
            raise ResolveError(f"没有编号为 {cluster_id} 的问题主题。")
        if cluster.status == ClusterStatus.RESOLVED:
            raise ResolveError(f"主题 {cluster_id} 已经处理过了（知识点 {cluster.knowledge_point_id}）。")
        members = store.cluster_members(session, cluster_id)
        standard = readable(standard_question or cluster.suggested_question).strip()
        if not standard:
            raise ResolveError("标准问题不能为空。")
        if session.scalars(select(KnowledgePoint).where(KnowledgePoint.standard_question == standard)).first():
            raise ResolveError(f"知识库里已有标准问题“{standard}”，请换一个标准问题。")
        similar = [t for t in dict.fromkeys(m.text.strip() for m in members) if _usable(t) and t != standard]
    draft = KnowledgeDraft(standard, answer, tuple(similar[:MAX_SIMILAR]), category)
    outcome = import_knowledge(factory, [draft])
    point_id = outcome.result.ids[0]
    with session_scope(factory) as session:
        cluster = store.get_cluster(session, cluster_id)
        assert cluster is not None
        cluster.status, cluster.knowledge_point_id = ClusterStatus.RESOLVED, point_id
        cluster.resolved_by, cluster.resolved_at = by[:64], utcnow()
        session.add(AuditEvent(actor=by[:64], action="insights.resolve",
                               detail={"cluster_id": cluster_id, "knowledge_point_id": point_id}))
    return Resolved(cluster_id, point_id, standard, len(draft.similar_questions))
