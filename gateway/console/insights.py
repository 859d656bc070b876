"""Voice of the customer in the RM console (#23).

``/console/insights`` (supervisors): knowledge gaps (topics of unanswered questions, turned into a
knowledge point with one button), trends, this branch's spike alerts, leads and utterances to
review. RMs get their own leads through ``/console/api/leads`` and record outcomes. The numbers
come from :mod:`insights`, the same code as ``bankcare insights …``. Every text here was masked
when it was stored.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from crm.access import insights as store
from crm.models.insights import LeadStatus
from gateway.console.auth import ConsoleUser, current_user, json_error, read_json, state_changing_user
from gateway.db import run_db
from gateway.keys import SESSION_FACTORY
from gateway.validation import is_clean_text, path_id
from insights.harvest import harvest
from insights.leads import PRODUCT_NAMES
from insights.resolve import ResolveError, resolve
from insights.topics import build_topics
from insights.trends import build_trends, detect_spikes

STATIC_PAGE = Path(__file__).parent / "static" / "insights.html"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "frame-ancestors 'none'"
)
PAGE_SEMANTIC_MAX = 1000
LEAD_STATUS_NAMES = {"open": "待跟进", "won": "已成交", "lost": "未成交", "not_interested": "无意向"}
SOURCE_NAMES = {
    "fallback": "没听懂", "faq_unsure": "知识库没把握", "faq_declined": "候选都不对",
    "not_understood": "没听懂转人工", "rm_answered": "客户经理人工答复",
}  # fmt: skip


async def _supervisor(request: web.Request, changing: bool = False) -> ConsoleUser:
    user = await (state_changing_user(request) if changing else current_user(request))
    if user.role != "supervisor":
        raise json_error(403, "forbidden", "只有主管可以查看客户之声。")
    return user


def _clean(value: object) -> str:
    """A text field as a string ("" when absent); a NUL or lone surrogate, which PostgreSQL cannot
    store (a 500), is a 400."""
    text = "" if value is None else str(value)
    if not is_clean_text(text):
        raise json_error(400, "bad_text", "内容无法识别，请重新输入。")
    return text


async def page(_request: web.Request) -> web.FileResponse:
    resp = web.FileResponse(STATIC_PAGE)
    resp.headers["Content-Security-Policy"] = CSP
    return resp


def lead_view(lead: Any) -> dict[str, Any]:
    return {
        "id": lead.id, "customer_id": lead.customer_id, "rm_id": lead.rm_id, "product": lead.product,
        "product_name": PRODUCT_NAMES.get(lead.product, lead.product), "trigger_words": lead.trigger_words,
        "text": lead.text, "status": lead.status, "status_name": LEAD_STATUS_NAMES.get(lead.status, lead.status),
        "created_at": lead.created_at.isoformat(),
    }  # fmt: skip


def overview(session: Session, branch_id: int, days: int) -> dict[str, Any]:
    """Everything the supervisor page shows, for the supervisor's branch where it is per branch."""
    harvest(session)
    # Sentence vectors for up to PAGE_SEMANTIC_MAX distinct questions (new ones embedded at ~5 ms
    # each, then remembered): larger pools are clustered lexically here, fully by the CLI.
    topics = [t.as_dict() for t in build_topics(session, days=days, semantic_max=PAGE_SEMANTIC_MAX)]
    for t in topics:
        t["sources"] = {SOURCE_NAMES.get(k, k): v for k, v in t["sources"].items()}
    detect_spikes(session)
    since = (dt.datetime.now(dt.UTC) - dt.timedelta(days=days)).date()
    alerts = [
        {"id": a.id, "topic": a.topic, "day": a.day.isoformat(), "count": a.count, "usual": a.usual}
        for a in store.alerts(session, branch_id=branch_id, since=since)
    ]
    reviews = [
        {"id": q.id, "text": q.text, "intent": q.intent, "confidence": q.confidence}
        for q in store.pending_reviews(session, limit=50)
    ]
    return {
        "days": days, "topics": topics, "trends": build_trends(session, days=days).as_dict(), "alerts": alerts,
        "leads": [lead_view(x) for x in store.leads(session, branch_id=branch_id)], "reviews": reviews,
    }  # fmt: skip


def _days(request: web.Request) -> int:
    try:
        return max(1, min(90, int(request.query.get("days", "7"))))
    except ValueError:
        return 7


async def insights_overview(request: web.Request) -> web.Response:
    user = await _supervisor(request)
    days = _days(request)
    return web.json_response(await run_db(request, lambda s: overview(s, user.branch_id, days)))


async def resolve_topic(request: web.Request) -> web.Response:
    user = await _supervisor(request, changing=True)
    cluster_id = path_id(request, "cluster_id")  # 1..2⁶³-1: a larger one overflowed the query (500)
    if cluster_id is None:
        raise json_error(404, "not_found", "没有这个问题主题。")
    body = await read_json(request)
    answer = _clean(body.get("answer")).strip()[:2000]
    question = _clean(body.get("question")).strip()[:200] or None
    factory = request.app[SESSION_FACTORY]
    try:
        done = await asyncio.to_thread(resolve, factory, cluster_id, answer, f"rm:{user.code}", question)
    except ResolveError as exc:
        raise json_error(400, "cannot_resolve", str(exc)) from None
    return web.json_response({"ok": True, "knowledge_point_id": done.point_id,
                              "standard_question": done.standard_question})


async def review_utterance(request: web.Request) -> web.Response:
    user = await _supervisor(request, changing=True)
    body = await read_json(request)
    intent = None if body.get("out_of_scope") else _clean(body.get("intent")).strip()[:48] or None
    if intent is None and not body.get("out_of_scope"):
        raise json_error(400, "intent_required", "请选择意图，或标记为超出范围。")
    question_id = path_id(request, "question_id")
    if question_id is None:
        raise json_error(404, "not_found", "没有这条说法。")
    try:
        await run_db(request, lambda s: store.review(s, question_id, intent, f"rm:{user.code}"))
    except (ValueError, LookupError):
        raise json_error(404, "not_found", "没有这条说法。") from None
    return web.json_response({"ok": True})


async def my_leads(request: web.Request) -> web.Response:
    """The logged-in RM's leads (for the RM's work queue)."""
    user = await current_user(request)

    def work(session: Session) -> list[dict[str, Any]]:
        harvest(session)
        return [lead_view(x) for x in store.leads(session, rm_id=user.rm_id)]

    return web.json_response({"leads": await run_db(request, work)})


async def lead_outcome(request: web.Request) -> web.Response:
    user = await state_changing_user(request)
    body = await read_json(request)
    status = str(body.get("status") or "")
    if status not in {s.value for s in LeadStatus} - {"open"}:
        raise json_error(400, "bad_status", "请选择：已成交、未成交或无意向。")
    note = _clean(body.get("note"))[:500] or None
    # An RM closes their own leads, a supervisor those of their branch (others are "not found").
    own = None if user.role == "supervisor" else user.rm_id
    branch = user.branch_id if user.role == "supervisor" else None
    lead_id = path_id(request, "lead_id")
    if lead_id is None:
        raise json_error(404, "not_found", "没有这条线索。")
    try:
        await run_db(
            request, lambda s: store.set_lead_outcome(s, lead_id, status, f"rm:{user.code}", note, own, branch)
        )
    except (ValueError, store.UnknownLead):
        raise json_error(404, "not_found", "没有这条线索。") from None
    return web.json_response({"ok": True})


def setup_insights(app: web.Application) -> None:
    """Add the voice-of-the-customer page and its JSON API (after the console)."""
    app.router.add_get("/console/insights", page)
    app.router.add_get("/console/api/insights", insights_overview)
    app.router.add_post("/console/api/insights/topics/{cluster_id}/resolve", resolve_topic)
    app.router.add_post("/console/api/insights/reviews/{question_id}", review_utterance)
    app.router.add_get("/console/api/leads", my_leads)
    app.router.add_post("/console/api/leads/{lead_id}/outcome", lead_outcome)
